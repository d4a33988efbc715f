"""The archive in Chromium, in the visitor's light and dark schemes: readable (axe), one scheme throughout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from digest.models import Edition
from tests.factories import make_edition, make_paper

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(params=["light", "dark"])
def scheme_page(request, browser, site_url: str) -> Iterator[Any]:
    context = browser.new_context(base_url=site_url, viewport={"width": 375, "height": 800}, color_scheme=request.param)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def background(page: Any, selector: str) -> str:
    return page.eval_on_selector(selector, "element => getComputedStyle(element).backgroundColor")


@pytest.mark.parametrize("path", ["/editions/", "/editions/2025-03-21/"])
def test_archive_pages_pass_axe_and_the_edition_card_follows_the_page(scheme_page, axe_check, path: str) -> None:
    papers = [make_paper(title="Agents that plan"), make_paper(title="Robots that learn")]
    make_edition(date=date(2025, 3, 21), papers=papers, status=Edition.Status.SENT, intro="Two for today.")
    scheme_page.goto(path)
    axe_check(scheme_page)
    page_background = background(scheme_page, "body")
    dark = scheme_page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert (page_background == "rgb(17, 20, 24)") is dark  # the site's own dark background, or its light one
    if path != "/editions/":
        # The edition sits on a card of the site's scheme: dark in a dark page, light in a light one.
        assert background(scheme_page, "article.edition") == ("rgb(26, 30, 36)" if dark else "rgb(255, 255, 255)")
        assert scheme_page.get_by_role("heading", level=1).inner_text() == "Friday 21 March 2025"
        assert scheme_page.get_by_role("link", name="Subscribe").get_attribute("href") == "/"
