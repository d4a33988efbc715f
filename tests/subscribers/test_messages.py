"""The edition for one reader: the shared body with their keyword section and their own links filled in."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.core import mail

from digest.models import Edition, Frequency
from digest.rendering import edition_body, normalize_keywords
from subscribers.messages import edition_message
from subscribers.models import Subscriber
from tests.factories import make_edition, make_paper

pytestmark = pytest.mark.django_db

DAY = date(2025, 3, 14)


def html_of(message) -> str:
    ((content, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    return content


@pytest.fixture
def edition() -> Edition:
    papers = [
        make_paper(
            title="Scaling laws for retrieval-augmented agents",
            abstract="Agents that retrieve documents before answering scale differently. " * 8,
            authors=[f"Author {i}" for i in range(9)],
            upvotes=120,
            links={"code": "https://github.com/example/agents", "evil": "javascript:alert(1)"},
        ),
        make_paper(title="Diffusion models for proteins", abstract="We design proteins with diffusion.", upvotes=40),
        make_paper(title="A survey of graph neural networks", abstract="Graphs everywhere.", upvotes=3),
    ]
    return make_edition(date=DAY, papers=papers, status=Edition.Status.APPROVED, subject="")


def subscriber(email: str = "reader@example.com", keywords: list[str] | None = None) -> Subscriber:
    return Subscriber.objects.create(email=email, status=Subscriber.Status.ACTIVE, keywords=keywords or [])


def test_message_has_subject_with_date_both_parts_headers_tags_and_metadata(edition: Edition) -> None:
    reader = subscriber()
    message = edition_message(edition_body(edition), reader)

    assert "14 March 2025" in message.subject
    assert message.to == ["reader@example.com"]
    assert "Scaling laws for retrieval-augmented agents" in message.body
    assert "Scaling laws for retrieval-augmented agents" in html_of(message)
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert re.fullmatch(r"<https?://[^>]+/unsubscribe/[^>]+/>, <mailto:[^>]+>", unsubscribe)
    assert set(message.tags) >= {"edition", "edition-daily"}
    assert message.metadata == {"edition_id": str(edition.pk), "subscriber_id": str(reader.pk)}


def test_each_recipient_gets_their_own_links_in_both_parts(edition: Edition) -> None:
    body = edition_body(edition)
    first, second = subscriber("one@example.com"), subscriber("two@example.com")
    one, two = edition_message(body, first), edition_message(body, second)

    one_unsubscribe = re.search(r"<(https?://[^>]+)>", one.extra_headers["List-Unsubscribe"]).group(1)
    assert one_unsubscribe in one.body and one_unsubscribe in html_of(one)
    assert one_unsubscribe not in two.body and one_unsubscribe not in html_of(two)
    for message in (one, two):
        assert "/preferences/" in message.body and "/preferences/" in html_of(message)


def test_view_in_browser_link_points_at_the_archive(edition: Edition) -> None:
    message = edition_message(edition_body(edition), subscriber())
    url = "http://testserver/editions/2025-03-14/"
    assert url in message.body
    assert f'href="{url}"' in html_of(message)


def test_papers_show_title_authors_trimmed_abstract_and_safe_links(edition: Edition) -> None:
    html = html_of(edition_message(edition_body(edition), subscriber()))
    assert "Author 0, Author 1, Author 2, Author 3, Author 4, Author 5 et al." in html
    assert "Author 6" not in html
    assert "…" in html  # the long abstract is trimmed
    assert 'href="https://github.com/example/agents"' in html
    assert "javascript:" not in html


def test_html_is_inlined_dark_mode_aware_and_has_no_scripts(edition: Edition) -> None:
    html = html_of(edition_message(edition_body(edition), subscriber()))
    assert re.search(r'<td class="tp-pad tp-card" style="[^"]*border-top:', html)
    assert "prefers-color-scheme: dark" in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()


def test_keyword_section_lists_matches_first_and_highlights_them(edition: Edition) -> None:
    message = edition_message(edition_body(edition), subscriber(keywords=["Diffusion"]))
    html = html_of(message)

    section = html[html.index("Matching your keywords") : html.index("s trending papers")]
    assert "proteins" in section
    assert "Scaling laws" not in section
    assert '<mark class="tp-hl"' in section and ">Diffusion</mark>" in section
    # The full list still follows, unhighlighted (the hidden preheader names the #1 paper too).
    assert html[html.index('class="tp-wrapper"') :].count("Scaling laws for retrieval-augmented agents") == 1
    text = message.body
    assert text.index("MATCHING YOUR KEYWORDS: diffusion") < text.index("*Diffusion* models for proteins")
    assert text.index("*Diffusion* models for proteins") < text.index("TODAY'S TRENDING PAPERS")


def test_keywords_match_at_word_starts_in_title_or_abstract(edition: Edition) -> None:
    body = edition_body(edition)
    html = html_of(edition_message(body, subscriber(keywords=["retriev"])))
    assert html.count("<mark") >= 2  # title and abstract of the agents paper
    assert "No paper in this edition matches" not in html
    # "raph" is inside "graph", not at a word start: no match.
    html = html_of(edition_message(body, subscriber("b@example.com", keywords=["raph"])))
    assert "No paper in this edition matches your keywords (raph)" in html
    assert "<mark" not in html


def test_no_keywords_no_section(edition: Edition) -> None:
    message = edition_message(edition_body(edition), subscriber())
    assert "Matching your keywords" not in html_of(message)
    assert "MATCHING YOUR KEYWORDS" not in message.body


def test_keyword_sections_are_cached_per_distinct_keyword_set(edition: Edition) -> None:
    body = edition_body(edition)
    a = edition_message(body, subscriber("a@example.com", keywords=["Agents", "proteins"]))
    b = edition_message(body, subscriber("b@example.com", keywords=[" proteins", "agents", "AGENTS"]))
    edition_message(body, subscriber("c@example.com", keywords=["graph"]))

    assert len(body.keyword_cache) == 2
    section = re.compile(r"Matching your keywords.*?Today", re.DOTALL)
    assert section.search(html_of(a)).group(0) == section.search(html_of(b)).group(0)
    assert normalize_keywords(["B", "a", "b ", 3, ""]) == ("a", "b")


def test_user_text_is_escaped_in_titles_abstracts_and_keywords() -> None:
    nasty = make_paper(
        title='<script>alert("t")</script> R&D agents',
        abstract='<img src=x onerror=alert("a")> agents & more',
    )
    edition = make_edition(date=DAY, papers=[nasty])
    keywords = ['<img src=x onerror=alert("k")>', "<img src=x", "agents", "amp", "lt"]
    message = edition_message(edition_body(edition), subscriber(keywords=keywords))
    html = html_of(message)

    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    # The heading names the keywords that matched, escaped; the one that matched nothing is not named.
    assert "Matching your keywords: &lt;img src=x, agents</p>" in html
    assert ">&lt;img src=x</mark>" in html
    # Keywords that look like entity names match text, never the escaped markup.
    assert "&amp;" in html and "&<mark" not in html and "&amp<" not in html
    assert "<mark" in html  # "agents" matched
    # The plain-text part is not HTML: the text appears as it is.
    assert '<script>alert("t")</script> R&D *agents*' in message.body


def test_curator_intro_is_escaped_and_shown(edition: Edition) -> None:
    edition.intro = "A <b>big</b> week.\nEnjoy."
    html = html_of(edition_message(edition_body(edition), subscriber()))
    assert "A &lt;b&gt;big&lt;/b&gt; week.<br>Enjoy." in html


def test_lines_stay_under_the_rfc_limit_and_mime_needs_no_quoted_printable() -> None:
    long_title = " ".join(["transformers"] * 120)
    paper = make_paper(title=long_title, abstract=" ".join(["attention"] * 2000), authors=["X"] * 500)
    edition = make_edition(date=DAY, papers=[paper])
    message = edition_message(edition_body(edition), subscriber(keywords=["transformers", "attention"]))

    for part in (message.body, html_of(message)):
        assert max(len(line.encode()) for line in part.split("\n")) < 998
    raw = message.message().as_bytes()
    assert b"quoted-printable" not in raw.lower()


def test_building_a_message_makes_no_query(edition: Edition, django_assert_num_queries) -> None:
    body = edition_body(edition)
    reader = subscriber(keywords=["agents"])
    with django_assert_num_queries(0):
        edition_message(body, reader)


def test_messages_go_through_anymail(edition: Edition, settings) -> None:
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"  # pytest-django swaps in locmem otherwise
    edition_message(edition_body(edition), subscriber()).send()
    (sent,) = mail.outbox
    assert sent.anymail_status.status == {"sent"}


def test_weekly_subject_and_archive_link() -> None:
    edition = make_edition(date=DAY, papers=[make_paper()], frequency=Frequency.WEEKLY)
    message = edition_message(edition_body(edition), subscriber())
    assert "weekly" in message.subject and "14 March 2025" in message.subject
    assert "http://testserver/editions/weekly/2025-03-14/" in message.body
    assert "edition-weekly" in message.tags


def test_curator_subject_wins_and_stays_one_line(edition: Edition) -> None:
    edition.subject = "Special\r\nissue"
    assert edition_message(edition_body(edition), subscriber()).subject == "Special issue"


def test_preheader_says_what_is_inside_before_anything_else(edition: Edition) -> None:
    html = html_of(edition_message(edition_body(edition), subscriber()))
    body = html[html.index("<body>") :]
    hidden = re.search(r'<div class="tp-preheader" style="([^"]*)">([^<]*)</div>', body)
    assert hidden is not None and body.index(hidden.group(0)) < body.index("View this edition in your browser")
    assert "display:none" in hidden.group(1).replace(" ", "")
    assert hidden.group(2).split("\n")[0] == "#1 Scaling laws for retrieval-augmented agents, and 2 more papers"
    only = make_edition(date=date(2025, 3, 15), papers=[make_paper(title="Only <one> paper")])
    html = html_of(edition_message(edition_body(only), subscriber("other@example.com")))
    assert "#1 Only &lt;one&gt; paper\n" in html  # escaped, and no "and 0 more"


def test_edition_carries_list_id_feedback_id_and_a_message_id_on_the_sending_domain(edition: Edition, settings) -> None:
    settings.DEFAULT_FROM_EMAIL = "Trending Papers <papers@news.example.org>"
    settings.NEWSLETTER_NAME = "Trending Papers"
    body = edition_body(edition)
    first, second = edition_message(body, subscriber()), edition_message(body, subscriber("b@example.com"))
    headers = first.extra_headers
    assert headers["List-Id"] == "Trending Papers <trending-papers.news.example.org>"
    assert headers["Feedback-ID"] == f"{edition.pk}:daily:newsletter:trending-papers"
    assert re.fullmatch(r"<[^<>@\s]+@news\.example\.org>", headers["Message-ID"])
    assert second.extra_headers["Message-ID"] != headers["Message-ID"]  # one per message
    raw = first.message()
    assert raw["List-Id"] == headers["List-Id"] and raw["Message-ID"] == headers["Message-ID"]


def test_list_id_quotes_a_name_with_specials(edition: Edition, settings) -> None:
    settings.DEFAULT_FROM_EMAIL = "papers@example.org"
    settings.NEWSLETTER_NAME = "Papers, daily: the best"
    message = edition_message(edition_body(edition), subscriber())
    assert message.extra_headers["List-Id"] == '"Papers, daily: the best" <papers-daily-the-best.example.org>'
    assert message.extra_headers["Feedback-ID"].endswith(":newsletter:papers-daily-the-best")


def test_keyword_cards_highlight_the_tldr_and_show_a_late_match_only_when_nothing_else_shows_it() -> None:
    late = "Plans are drawn by hand and scanned at low resolution. " * 28 + "A wheeled robot then reads them."
    told = make_paper(title="Reading plans", abstract=late, ai_summary="A small robot reads plans.")
    untold = make_paper(title="Scanning plans", abstract=late)
    edition = make_edition(date=DAY, papers=[told, untold])
    message = edition_message(edition_body(edition), subscriber(keywords=["robot"]))
    html = html_of(message)
    section = html[html.index("Matching your keywords") : html.index("s trending papers")]

    first, second = section.split("Scanning plans")
    assert "A small <mark" in first and ">robot</mark> reads plans." in first
    assert "Matched in the abstract" not in first  # the TL;DR shows the match already
    assert "Matched in the abstract" in second and ">robot</mark> then reads them.”" in second
    text = message.body
    assert "TL;DR: A small *robot* reads plans." in text
    assert text.count("Matched in the abstract: “A wheeled *robot* then reads them.”") == 1
