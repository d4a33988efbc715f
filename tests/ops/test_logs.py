"""JSON log lines: one object per line, extra= context as top-level keys, the Celery task's id when in a task."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from celery import Celery

from config.logs import logging_config


@pytest.fixture
def capture_json() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    config = logging_config(fmt="json", level="INFO")
    handler = logging.StreamHandler(stream)
    formatter_config = dict(config["formatters"]["main"])
    factory = formatter_config.pop("()")
    from django.utils.module_loading import import_string

    handler.setFormatter(import_string(factory)(**formatter_config))
    handler.addFilter(import_string(config["filters"]["celery_task"]["()"])())
    logger = logging.getLogger("tests.ops.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)


def test_send_context_becomes_top_level_keys(capture_json: io.StringIO) -> None:
    logging.getLogger("tests.ops.json").info(
        "sent edition %s", 7, extra={"edition_id": 7, "subscriber_id": 42, "esp_message_id": "0100-abc"}
    )
    line = json.loads(capture_json.getvalue())
    assert line["message"] == "sent edition 7"
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.ops.json"
    assert (line["edition_id"], line["subscriber_id"], line["esp_message_id"]) == (7, 42, "0100-abc")
    assert "timestamp" in line
    assert "task_id" not in line


def test_lines_inside_a_task_carry_its_id_and_name(capture_json: io.StringIO) -> None:
    scratch = Celery("logs-test", set_as_current=False)

    @scratch.task(name="ops.test.logs")
    def logs_something() -> None:
        logging.getLogger("tests.ops.json").info("inside", extra={"edition_id": 1})

    logs_something.apply(task_id="task-123")
    line = json.loads(capture_json.getvalue())
    assert (line["task_id"], line["task_name"], line["edition_id"]) == ("task-123", "ops.test.logs", 1)


def test_plain_format_appends_the_context() -> None:
    from config.logs import PlainFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent", (), None)
    record.edition_id, record.subscriber_id = 3, 9
    assert PlainFormatter("%(message)s").format(record) == "sent [edition_id=3 subscriber_id=9]"


def test_every_process_logs_to_the_real_stderr() -> None:
    # Celery swaps sys.stderr for a logging proxy; a handler bound to it would lose every line (see config/logs.py).
    assert logging_config(fmt="plain", level="INFO")["handlers"]["console"]["stream"] == "ext://sys.__stderr__"
