"""Where namespaces cannot be made, the scale-out test learns why (and skips locally, fails under CI)."""

from __future__ import annotations

import pytest

from tests.support import netns


def test_missing_iproute2_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    with pytest.raises(netns.NamespacesUnavailable, match="`ip` command is not installed"), netns.hosts(1):
        pass


def test_not_root_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.shutil, "which", lambda name: "/usr/sbin/ip")
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(netns.NamespacesUnavailable, match="needs root"), netns.hosts(1):
        pass
