"""The edition's HTML against caniemail.com's client support data (the npm package ``caniemail``, run by node)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date

import pytest

from digest.rendering import edition_body
from subscribers.emails import render_email
from subscribers.messages import edition_message
from subscribers.models import Subscriber
from tests.factories import make_edition, make_paper
from tests.support.services import ROOT, unavailable

MAJOR_CLIENTS = ["gmail.*", "outlook.*", "apple-mail.*", "yahoo.*"]
CHECKER = ROOT / "tests" / "support" / "caniemail_check.mjs"
# The client families with caniemail data for <body> and for every feature these emails use (caniemail raises on a
# client without data for a feature: free-fr, laposte, rainloop, t-online-de, thunderbird and wp-pl lack <body>,
# gmx, ionos-1and1 and web-de lack overflow-wrap).
BODY_CLIENTS = [
    f"{family}.*"
    for family in (
        "aol", "apple-mail", "fastmail", "gmail", "hey", "mail-ru", "orange", "outlook", "protonmail",
        "samsung-email", "sfr", "yahoo",
    )
]  # fmt: skip
# Features some major client ignores entirely, each used only as an enhancement that degrades to the same email.
TOLERATED = {
    "@media": "only the dark-mode rules; every other style is inlined",
    "<style> element": "kept only for the dark-mode rules; every other style is inlined",
    "color-scheme meta tag": "a hint for the clients that honour it, ignored elsewhere",
    "<body> element": "the element itself, which every document has; it carries no style (test below)",
    "display:none": "only the hidden preheader; where ignored it is a 1 px line in the background colour",
    "word-break": "break-word lets long words wrap on narrow screens where supported; elsewhere they run on",
    "overflow-wrap": "as word-break, for the clients that read this one (Apple Mail)",
    "border-radius": "the transactional emails' button corners: square where unsupported",
    "overflow": "caniemail's reading of overflow-wrap (nothing sets overflow itself)",
    "role attribute": "role=presentation keeps screen readers from announcing layout tables; ignored elsewhere",
}


def caniemail(html: str, clients: list[str]) -> dict[str, dict[str, list[dict]]]:
    """caniemail's report: {"errors"|"warnings": {client: [{title, support, notes, line, column}]}}."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "caniemail").is_dir():
        unavailable("node and node_modules/caniemail are needed: run `npm ci` at the top level (make test does)")
    result = subprocess.run([node, str(CHECKER), *clients], input=html, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def unsupported(html: str) -> dict[str, set[str]]:
    """Feature title -> the major clients that do not support it at all."""
    found: dict[str, set[str]] = {}
    for client, issues in caniemail(html, MAJOR_CLIENTS)["errors"].items():
        for issue in issues:
            if issue["support"] == "none":
                found.setdefault(issue["title"], set()).add(client)
    return found


def body_findings(html: str) -> dict[str, set[str]]:
    """What caniemail flags on the <body> tag itself, in any of its clients: feature title -> clients."""
    start = html.index("<body")
    line, column = html.count("\n", 0, start) + 1, start - (html.rfind("\n", 0, start) + 1) + 1
    found: dict[str, set[str]] = {}
    for level in ("errors", "warnings"):
        for client, issues in caniemail(html, BODY_CLIENTS)[level].items():
            for issue in issues:
                if (issue["line"], issue["column"]) == (line, column):
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


@pytest.fixture
def transactional_html(db: None) -> dict[str, str]:
    subscriber = Subscriber.objects.create(email="new.reader@example.com", keywords=["agents"])
    context = {
        "subscriber": subscriber,
        "confirm_url": "https://x.test/confirm/t/",
        "preferences_url": "https://x.test/preferences/t/",
        "unsubscribe_url": "https://x.test/unsubscribe/t/",
        "archive_url": "https://x.test/editions/",
        "confirm_days": 7,
    }
    return {kind: render_email(kind, context).html for kind in ("confirmation", "welcome", "already-subscribed")}


def test_transactional_emails_use_no_feature_a_major_client_lacks(transactional_html: dict[str, str]) -> None:
    for kind, html in transactional_html.items():
        problems = {title: clients for title, clients in unsupported(html).items() if title not in TOLERATED}
        assert problems == {}, kind


def _body_carries_nothing(html: str) -> None:
    # caniemail: 9 of 23 clients replace <body> or drop its styles, so background and fonts live on the wrapper.
    assert re.search(r"<body>", html), "the <body> tag carries attributes or styles"
    assert not re.search(r"(^|[},\s])body\s*[{,]", " ".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)))
    wrapper = re.search(r'<table class="(tp-wrapper|wrap)"[^>]*style="([^"]*)"', html)
    assert wrapper and "font-family" in wrapper.group(2) and "background-color" in wrapper.group(2)


def test_no_style_sits_on_body_fonts_sit_on_the_wrapper(edition_html: str, transactional_html: dict[str, str]) -> None:
    for html in (edition_html, *transactional_html.values()):
        _body_carries_nothing(html)
    with pytest.raises(AssertionError):  # the check fails on what caniemail flags
        _body_carries_nothing(edition_html.replace("<body>", '<body style="font-family:Arial">'))


def test_the_check_catches_an_unsupported_feature(edition_html: str) -> None:
    # Proof the check can fail: flexbox is ignored by Outlook for Windows.
    broken = re.sub(r"(<body[^>]*>)", r'\1<div style="display:flex">x</div>', edition_html, count=1)
    assert broken != edition_html
    assert any("flex" in title.lower() for title in unsupported(broken))


def test_caniemail_flags_no_style_on_body_only_the_element(
    edition_html: str, transactional_html: dict[str, str]
) -> None:
    """caniemail flags <body> itself in every document (9 of its clients replace or drop it); what it must not
    find is a style there, which those clients would lose: the fonts and colours sit on the inner wrapper."""
    for kind, html in {"edition": edition_html, **transactional_html}.items():
        assert set(body_findings(html)) == {"<body> element"}, kind
    # The check fails on what it is for: a style that only <body> carries.
    styled = edition_html.replace("<body>", '<body style="background-color:#f4f4f5; font-family:Arial">', 1)
    assert set(body_findings(styled)) - {"<body> element"}
