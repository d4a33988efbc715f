"""The sign-up path through the real parts: PostgreSQL, Redis as broker and cache, a celery worker, moto SES."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from config.celery import app as celery_app
from subscribers.models import Subscriber


def _wait_for(predicate, *, timeout: float, what: str, worker) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{worker.log()[-3000:]}")


@pytest.mark.realparts
@pytest.mark.django_db(transaction=True)
def test_signup_confirmation_arrives_in_moto_exactly_once(postgres, redis_url, ses, celery_process):
    celery_app.control.purge()  # nothing left over from an earlier run may reach this worker
    worker = celery_process("worker", "-Q", "transactional", "--pool", "solo", "-l", "info", env=ses.env())
    client = Client()
    form = {"email": "Real.Parts@Example.com", "keywords": "LLM", "frequency": "daily", "website": ""}

    assert client.post("/subscribe/", form).status_code == 200
    _wait_for(lambda: len(ses.messages()) >= 1, timeout=60, what="the confirmation in moto", worker=worker)
    # A second sign-up within the hour, and a pause long enough for any duplicate to arrive.
    assert client.post("/subscribe/", form).status_code == 200
    time.sleep(3)

    messages = ses.messages()
    assert len(messages) == 1, [m["Subject"] for m in messages]
    confirmation = messages[0]
    assert confirmation["To"] == "real.parts@example.com"
    assert confirmation["Subject"] == "Confirm your subscription to Trending Papers"
    assert confirmation.is_multipart()
    text = next(p for p in confirmation.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    link = re.search(rb"http://testserver(/confirm/\S+/)", text).group(1).decode()

    assert client.get(link).status_code == 200
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE
    _wait_for(lambda: len(ses.messages()) >= 2, timeout=60, what="the welcome email in moto", worker=worker)
    welcome = ses.messages()[1]
    assert welcome["Subject"] == "Welcome to Trending Papers"
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(
        r"<http://testserver/unsubscribe/\S+/>, <mailto:unsubscribe@example\.com\?subject=\S+>",
        " ".join(welcome["List-Unsubscribe"].split()),
    )
