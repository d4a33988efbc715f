from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str


def test_env_int_rejects_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST_INT", "seven")
    with pytest.raises(ImproperlyConfigured, match="X_TEST_INT='seven' is not an integer"):
        env_int("X_TEST_INT", 1)


def test_env_int_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST_INT", "25")
    with pytest.raises(ImproperlyConfigured, match="above the maximum 23"):
        env_int("X_TEST_INT", 7, minimum=0, maximum=23)
    monkeypatch.setenv("X_TEST_INT", "5")
    assert env_int("X_TEST_INT", 7, minimum=0, maximum=23) == 5


def test_env_bool(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_bool("X_TEST_BOOL", default=True) is True
    monkeypatch.setenv("X_TEST_BOOL", "off")
    assert env_bool("X_TEST_BOOL", default=True) is False
    monkeypatch.setenv("X_TEST_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env_bool("X_TEST_BOOL", default=True)


def test_env_str_required_and_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_TEST_STR", raising=False)
    with pytest.raises(ImproperlyConfigured, match="Set the environment variable X_TEST_STR"):
        env_str("X_TEST_STR")
    monkeypatch.setenv("X_TEST_LIST", " a.example, b.example ,,")
    assert env_list("X_TEST_LIST", []) == ["a.example", "b.example"]
