"""The registry of environment variables, the code that reads them, and the generated reference agree.

A variable read in the code but missing from the registry, a registered one nothing reads, or a README /
.env.example / deploy/env.example that differs from what ``make docs`` generates each fail here.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.esp import ESPS, all_variables
from config.variables import REGISTRY, Group, read_bool, read_int, read_str, variable
from config.variables.docs import README_BEGIN, README_END, stale_files
from tests.ops.conftest import PRODUCTION_ENV, manage
from tests.support.services import ROOT

# Python: the typed readers and os.environ look-ups (setdefault / update / assignment are writes, not reads).
PY_READ = re.compile(
    r"""(?:read_(?:str|bool|int|float|list)|env_(?:str|bool|int|float|list)|os\.environ\.get|os\.getenv)"""
    r"""\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)
PY_SUBSCRIPT_READ = re.compile(r"""os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])""")
# Shell, as in the Procfile, systemd units and .ci scripts (``$${NAME}`` inside the Makefile).
SHELL_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::-([^}]*))?\}")
SHELL_BARE_READ = re.compile(r"\$([A-Z][A-Z0-9_]*)\b")
MAKE_DEFAULT = re.compile(r"^([A-Z][A-Z0-9_]*) \?= *(.*)$", flags=re.MULTILINE)
SYSTEMD_DEFAULT = re.compile(r"^Environment=([A-Z][A-Z0-9_]*)=(.*)$", flags=re.MULTILINE)
# The operating system's and systemd's own, not the service's.
SYSTEM_VARIABLES = {"PATH", "MAINPID"}
# Tests of the reading machinery itself use made-up and deliberately unregistered names.
READER_TESTS = {ROOT / "tests" / "config" / "test_env.py", Path(__file__).resolve()}
REGISTRY_CODE = {ROOT / "config" / "env.py", *(ROOT / "config" / "variables").glob("*.py")}


def python_sources() -> list[Path]:
    paths = [ROOT / "manage.py"]
    for folder in ("config", "digest", "subscribers", "bench", "tests"):
        paths += (ROOT / folder).rglob("*.py")
    return [p for p in paths if "migrations" not in p.parts and p not in READER_TESTS | REGISTRY_CODE]


def shell_sources() -> list[Path]:
    return [
        ROOT / "Makefile",
        *ROOT.glob("Procfile*"),
        *(ROOT / "deploy" / "systemd").glob("*.service"),
        *(p for p in (ROOT / ".ci").iterdir() if p.is_file()),
    ]


def read_in_code() -> dict[str, set[str]]:
    """Every variable the code reads, with the files reading it."""
    found: dict[str, set[str]] = {}
    for path in python_sources():
        text = path.read_text()
        for name in {*PY_READ.findall(text), *PY_SUBSCRIPT_READ.findall(text)}:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for path in shell_sources():
        text = path.read_text().replace("$$", "$")
        names = {m[0] for m in SHELL_READ.findall(text)} | set(SHELL_BARE_READ.findall(text))
        names |= {m[0] for m in MAKE_DEFAULT.findall(text)} if path.name == "Makefile" else set()
        for name in names - SYSTEM_VARIABLES:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for name in all_variables():  # config/esp.py reads each ESP's keys from its specs
        found.setdefault(name, set()).add("config/esp.py")
    return found


def test_the_generated_reference_is_what_make_docs_writes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.count(README_BEGIN) == 1 and readme.count(README_END) == 1
    stale = [str(path.relative_to(ROOT)) for path in stale_files(REGISTRY)]
    assert stale == [], f"run `make docs`: {stale} differ from config/variables/"


def test_every_variable_the_code_reads_is_in_the_registry() -> None:
    registered = {entry.name for entry in REGISTRY}
    unregistered = {name: sorted(files) for name, files in read_in_code().items() if name not in registered}
    assert unregistered == {}, "add these to config/variables/ and run `make docs`"


def test_every_registered_variable_is_read_somewhere() -> None:
    read = set(read_in_code())
    unread = []
    for entry in REGISTRY:
        if entry.external:
            # Read by a third-party program itself (gunicorn reads WEB_CONCURRENCY): look in its source.
            spec = importlib.util.find_spec(entry.external)
            assert spec is not None and spec.origin is not None, entry.external
            if entry.name not in Path(spec.origin).read_text():
                unread.append(entry.name)
        elif entry.name not in read:
            unread.append(entry.name)
    assert unread == []


def test_shell_defaults_agree_with_the_registry() -> None:
    """The Procfile's ``${NAME:-default}``, the Makefile's ``NAME ?= default`` and the units' ``Environment=``."""
    seen = 0
    for path in shell_sources():
        if path.parent.name == ".ci":
            continue  # .ci/run turns CI on for its own run; .ci/test-env only asks whether a variable is set
        text = path.read_text().replace("$$", "$")
        pairs = [*SHELL_READ.findall(text), *MAKE_DEFAULT.findall(text), *SYSTEMD_DEFAULT.findall(text)]
        for name, default in pairs:
            if not default or "$" in default or name in SYSTEM_VARIABLES:
                continue  # no default, or one built from another variable (Makefile's SITE_URL from PORT)
            assert default == variable(name).default_env_text(), f"{path.name}: {name} defaults to {default}"
            seen += 1
    assert seen >= 5  # PORT (twice), FORWARDED_ALLOW_IPS, SENDING_CONCURRENCY, WORKER_CONCURRENCY, PYTHON


def test_esp_keys_are_those_config_esp_reads_for_their_esp() -> None:
    keys = {entry.name: entry.esp for entry in REGISTRY if entry.group is Group.ESP_KEYS}
    assert set(keys) == all_variables() - {"ESP"}
    for name, esp in keys.items():
        assert name in (*ESPS[esp].required, *ESPS[esp].optional, *ESPS[esp].fallbacks.values())


def test_the_readme_marks_only_what_config_esp_requires_as_required() -> None:
    rows = re.findall(
        r"^\| `([A-Z0-9_]+)` \| `([a-z_]+)` \| (required|optional) \|", (ROOT / "README.md").read_text(), re.M
    )
    assert len(rows) == len(all_variables()) - 1
    for name, esp, needed in rows:
        assert (needed == "required") == (name in ESPS[esp].required), name
    # The example: SES's endpoint and configuration set are optional, only three keys are required.
    assert {name for name, esp, needed in rows if esp == "amazon_ses" and needed == "required"} == {
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }


def test_settings_take_the_registry_default_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEND_HOUR", raising=False)
    assert read_int("SEND_HOUR") == variable("SEND_HOUR").default == 7
    monkeypatch.setenv("SEND_HOUR", "24")
    with pytest.raises(ImproperlyConfigured, match="SEND_HOUR=24 is above the maximum 23"):
        read_int("SEND_HOUR")
    monkeypatch.delenv("DEBUG", raising=False)
    assert read_bool("DEBUG") is True and variable("DEBUG").shown_default() == "`1` (on)"


def test_a_default_other_than_the_registry_s_is_refused() -> None:
    with pytest.raises(TypeError, match="default is the registry's"):
        read_int("SEND_HOUR", default=8)
    with pytest.raises(TypeError, match="default is computed"):
        read_bool("SECURE_SSL_REDIRECT")
    with pytest.raises(LookupError, match="NOT_A_VARIABLE is not in the registry"):
        read_str("NOT_A_VARIABLE")
    with pytest.raises(TypeError, match="registered as INT"):
        read_str("SEND_HOUR")


def test_a_value_outside_the_choices_stops_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT='xml' must be one of: plain, json"):
        read_str("LOG_FORMAT", default="plain")


def test_the_stall_rule_the_meaning_states_is_the_one_settings_enforce(tmp_path: Path) -> None:
    """SEND_STALL_SECONDS (not RESEND_AMBIGUOUS, not SEND_MAX_RETRIES) must exceed twice ESP_TIMEOUT."""
    holders = [entry.name for entry in REGISTRY if "twice ESP_TIMEOUT" in entry.meaning]
    assert holders == ["SEND_STALL_SECONDS"]
    env = {**PRODUCTION_ENV, "VAR_DIR": str(tmp_path), "SEND_STALL_SECONDS": "40", "ESP_TIMEOUT": "20"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SEND_STALL_SECONDS=40 must exceed twice ESP_TIMEOUT=20" in result.stderr
