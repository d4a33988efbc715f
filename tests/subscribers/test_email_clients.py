"""The edition's HTML against caniemail.com's client support data (the npm package ``caniemail``, run by node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date

import pytest

from digest.rendering import edition_body
from subscribers.messages import edition_message
from subscribers.models import Subscriber
from tests.factories import make_edition, make_paper
from tests.support.services import ROOT, unavailable

MAJOR_CLIENTS = ["gmail.*", "outlook.*", "apple-mail.*", "yahoo.*"]
CHECKER = ROOT / "tests" / "support" / "caniemail_check.mjs"
# Features some major client ignores entirely, each used only as an enhancement that degrades to the same email.
TOLERATED = {
    "@media": "only the dark-mode rules; every other style is inlined",
    "<style> element": "kept only for the dark-mode rules; every other style is inlined",
    "color-scheme meta tag": "a hint for the clients that honour it, ignored elsewhere",
    "<body> element": "the wrapper table carries the same background and font",
    "role attribute": "role=presentation keeps screen readers from announcing layout tables; ignored elsewhere",
}


def unsupported(html: str) -> dict[str, set[str]]:
    """Feature title -> the major clients that do not support it at all."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "caniemail").is_dir():
        unavailable("node and node_modules/caniemail are needed: run `npm ci` at the top level (make test does)")
    result = subprocess.run(
        [node, str(CHECKER), *MAJOR_CLIENTS], input=html, capture_output=True, text=True, timeout=60, check=True
    )
    found: dict[str, set[str]] = {}
    for client, issues in json.loads(result.stdout)["errors"].items():
        for issue in issues:
            if issue["support"] == "none":
                found.setdefault(issue["title"], set()).add(client)
    return found


@pytest.fixture
def edition_html(db: None) -> str:
    papers = [
        make_paper(title="Agents that plan", abstract="Agents plan. " * 60, upvotes=12, pinned=True),
        make_paper(title="Diffusion for proteins", links={"code": "https://github.com/example/x"}),
    ]
    edition = make_edition(date=date(2025, 3, 14), papers=papers, intro="This week: agents.")
    reader = Subscriber.objects.create(email="reader@example.com", keywords=["agents"])
    ((html, _),) = edition_message(edition_body(edition), reader).alternatives
    return html


def test_edition_uses_no_feature_a_major_client_lacks(edition_html: str) -> None:
    problems = {title: clients for title, clients in unsupported(edition_html).items() if title not in TOLERATED}
    assert problems == {}


def test_the_check_catches_an_unsupported_feature(edition_html: str) -> None:
    # Proof the check can fail: flexbox is ignored by Outlook for Windows.
    broken = re.sub(r"(<body[^>]*>)", r'\1<div style="display:flex">x</div>', edition_html, count=1)
    assert broken != edition_html
    assert any("flex" in title.lower() for title in unsupported(broken))
