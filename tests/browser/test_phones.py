"""Phones first: every email and page fits 320, 375 and 414 px wide in Chromium, with no horizontal scroll.

"Fits" is what a reader feels: the document is no wider than the viewport (``scrollWidth <= innerWidth``), so no
title or abstract is cut off at the right edge. The content is made to be hard to fit: long titles, an unbroken
45-character word, a long URL in an abstract, many authors, a curator's intro and a reader's keyword matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from digest.models import Edition
from subscribers.delivery.body import clear_body_cache
from subscribers.delivery.operator import edition_send_now
from subscribers.transactional import transactional_send
from tests.factories import make_edition, make_paper
from tests.subscribers.factories import make_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (320, 375, 414)
DAY = date(2025, 3, 21)
LONG_WORD = "Hyperparameteroptimisationwithoutbackpropagation"  # 48 characters, no break opportunity


def _papers() -> list[Any]:
    return [
        make_paper(
            title=f"{LONG_WORD}: Scaling Retrieval-Augmented Humanoid Agents to a Thousand Simultaneous Tasks",
            abstract=(
                "We study agents that plan. Code and data: https://example.org/a/very/long/path/to/the/artifact/"
                "repository/with/no/break/opportunities/anywhere/in/it/at/all.zip " + "Agents plan well. " * 40
            ),
            authors=[f"Author Withaverylongsurname{n}" for n in range(12)],
            upvotes=120,
            pinned=True,
            links={"code": "https://github.com/example-organisation/an-extremely-long-repository-name-for-tests"},
        ),
        *(make_paper(title=f"A robot learns to plan, paper {n}", abstract="Robots plan. " * 30) for n in range(4)),
    ]


@pytest.fixture
def edition() -> Edition:
    return make_edition(
        date=DAY,
        papers=_papers(),
        status=Edition.Status.APPROVED,
        intro=f"Today: {LONG_WORD} and robots, see https://example.org/{'x' * 60}.",
    )


def overflow(page: Any) -> tuple[int, int]:
    """(document scrollWidth, viewport width) once the page has laid out."""
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def phone(request, browser, site_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=site_url, viewport={"width": request.param, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def assert_fits(page: Any, what: str) -> None:
    scroll_width, viewport = overflow(page)
    assert scroll_width <= viewport, f"{what} is {scroll_width} px wide in a {viewport} px viewport"


def test_the_edition_email_as_sent_fits(phone, edition: Edition) -> None:
    clear_body_cache()
    reader = make_subscriber(keywords=["robot", LONG_WORD.lower()[:30]])
    edition_send_now(edition=edition, now=timezone.now())
    (message,) = [m for m in mail.outbox if m.to == [reader.email]]
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html" and LONG_WORD in html
    phone.set_content(html)
    assert_fits(phone, "the edition email")


def test_the_confirmation_email_fits(phone) -> None:
    subscriber = make_subscriber(status="pending", email=f"{'a' * 40}.{'b' * 30}@an-unusually-long-domain.example.org")
    transactional_send(subscriber_id=subscriber.pk, kind="confirmation")
    (message,) = mail.outbox
    ((html, _),) = message.alternatives
    phone.set_content(html)
    assert_fits(phone, "the confirmation email")


@pytest.mark.parametrize(
    ("path", "what"),
    [("/", "the landing page"), ("/editions/", "the archive"), ("/editions/2025-03-21/", "an edition page")],
)
def test_the_site_pages_fit(phone, edition: Edition, path: str, what: str) -> None:
    make_edition(date=date(2025, 3, 20), papers=[make_paper()], status=Edition.Status.SENT, subject=LONG_WORD * 2)
    response = phone.goto(path)
    assert response is not None and response.status == 200
    assert_fits(phone, what)


def test_the_check_fails_on_a_page_that_overflows(phone) -> None:
    # The issue's own finding, reproduced: a 640 px table with no mobile rule.
    phone.set_content('<table width="640"><tr><td>wide</td></tr></table>')
    with pytest.raises(AssertionError, match="is 648 px wide"):
        assert_fits(phone, "a fixed-width email")  # 640 px and the body's default 8 px margins
