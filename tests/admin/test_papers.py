from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from digest.models import Paper
from tests.factories import make_paper, make_seen_paper

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:digest_paper_changelist")


def listed(response) -> list[str]:
    return [paper.title for paper in response.context["cl"].result_list]


def test_search_finds_title_abstract_and_arxiv_id(root_client: Client) -> None:
    make_paper(title="Diffusion transformers at scale", arxiv_id="2503.11111")
    make_paper(title="Something else", abstract="We revisit sparse attention.", arxiv_id="2503.22222")
    make_paper(title="Unrelated", arxiv_id=None)

    assert listed(root_client.get(CHANGELIST, {"q": "diffusion"})) == ["Diffusion transformers at scale"]
    assert listed(root_client.get(CHANGELIST, {"q": "sparse attention"})) == ["Something else"]
    assert listed(root_client.get(CHANGELIST, {"q": "2503.22222"})) == ["Something else"]


def test_search_ignores_case_and_follows_edits(root_client: Client) -> None:
    paper = make_paper(title="Schrödinger bridges for DIFFUSION", abstract="Optimal transport.", arxiv_id=None)

    assert listed(root_client.get(CHANGELIST, {"q": "diffusion"})) == [paper.title]
    assert listed(root_client.get(CHANGELIST, {"q": "OPTIMAL Transport"})) == [paper.title]
    if connection.vendor == "postgresql":  # SQLite's UPPER and LIKE fold ASCII letters only
        assert listed(root_client.get(CHANGELIST, {"q": "SCHRÖDINGER"})) == [paper.title]
    # The stored search text is the database's: an edited title (a bulk update too) is found at once.
    Paper.objects.filter(pk=paper.pk).update(title="Flow matching")
    assert listed(root_client.get(CHANGELIST, {"q": "flow match"})) == ["Flow matching"]
    assert listed(root_client.get(CHANGELIST, {"q": "bridges"})) == []


def test_filters_hidden_pinned_boosted_has_id_and_seen_within(root_client: Client) -> None:
    today = timezone.localdate()
    old = make_seen_paper(listed_date=today - timedelta(days=20), title="Old one")
    fresh = make_seen_paper(listed_date=today, title="Fresh one", pinned=True, boost=2.0)
    hidden = make_paper(title="Hidden one", hidden=True, arxiv_id=None, boost=-1.0)

    assert listed(root_client.get(CHANGELIST, {"hidden__exact": "1"})) == [hidden.title]
    assert listed(root_client.get(CHANGELIST, {"pinned__exact": "1"})) == [fresh.title]
    assert listed(root_client.get(CHANGELIST, {"boosted": "up"})) == [fresh.title]
    assert listed(root_client.get(CHANGELIST, {"boosted": "down"})) == [hidden.title]
    assert listed(root_client.get(CHANGELIST, {"has_id": "no"})) == [hidden.title]
    assert set(listed(root_client.get(CHANGELIST, {"has_id": "yes"}))) == {old.title, fresh.title}
    assert listed(root_client.get(CHANGELIST, {"seen_within": "7"})) == [fresh.title]
    assert set(listed(root_client.get(CHANGELIST, {"seen_within": "30"}))) == {old.title, fresh.title}


def test_changelist_shows_appearance_count_and_last_seen(root_client: Client) -> None:
    day = timezone.localdate() - timedelta(days=2)
    make_seen_paper(listed_date=day, times=3, title="Thrice seen")
    content = root_client.get(CHANGELIST).content.decode()
    assert "Thrice seen" in content
    row = content[content.index("Thrice seen") :]
    assert '<td class="field-appearance_count">3</td>' in row
    assert f'<td class="field-last_seen nowrap">{dateformat.format(day, "N j, Y")}</td>' in row


def test_bulk_actions_pin_hide_unhide_are_logged_per_paper(root_client: Client, superuser) -> None:
    a, b, c = make_paper(), make_paper(), make_paper(hidden=True)

    root_client.post(CHANGELIST, {"action": "pin", "_selected_action": [a.pk, b.pk]})
    root_client.post(CHANGELIST, {"action": "hide", "_selected_action": [a.pk]})
    root_client.post(CHANGELIST, {"action": "unhide", "_selected_action": [a.pk, c.pk]})

    a.refresh_from_db(), b.refresh_from_db(), c.refresh_from_db()
    assert (a.pinned, a.hidden, b.pinned, b.hidden, c.hidden) == (True, False, True, False, False)
    log = LogEntry.objects.filter(user=superuser, action_flag=CHANGE)
    # One entry per paper that changed: b was not hidden, so "unhide" logs only a and c.
    assert sorted((entry.change_message, int(entry.object_id)) for entry in log) == sorted(
        [("Pinned", a.pk), ("Pinned", b.pk), ("Hidden", a.pk), ("Unhidden", a.pk), ("Unhidden", c.pk)]
    )


def test_list_editing_pinned_hidden_boost_is_saved_and_logged(root_client: Client, superuser) -> None:
    paper = make_paper()
    response = root_client.post(
        CHANGELIST,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(paper.pk),
            "form-0-pinned": "on",
            "form-0-boost": "1.5",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    paper.refresh_from_db()
    assert (paper.pinned, paper.hidden, paper.boost) == (True, False, 1.5)
    assert LogEntry.objects.filter(user=superuser, object_id=str(paper.pk), action_flag=CHANGE).exists()


def test_editing_title_marks_it_so_ingestion_keeps_it(root_client: Client) -> None:
    paper = make_paper(title="Orignal titel", abstract="Abstract.")
    url = reverse("admin:digest_paper_change", args=[paper.pk])
    data = {
        "title": "Original title",
        "abstract": "Abstract.",
        "boost": "0",
        "note": "",
        "appearances-TOTAL_FORMS": "0",
        "appearances-INITIAL_FORMS": "0",
    }
    response = root_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    paper.refresh_from_db()
    assert (paper.title, paper.title_edited, paper.abstract_edited) == ("Original title", True, False)


def test_change_page_shows_trending_score_parts_and_appearances(root_client: Client) -> None:
    today = timezone.localdate()
    paper = make_seen_paper(listed_date=today, upvotes=31, times=2, title="Hot paper", boost=1.0)
    content = root_client.get(reverse("admin:digest_paper_change", args=[paper.pk])).content.decode()
    # Two listings today (1 + 1), each first on a page with upvotes (1 + 1), log2(1 + 31) = 5 upvote points,
    # full recency 2, boost 1: 12 in all.
    assert "<strong>12</strong> = appearances 2, position 2, upvotes 5, recency 2, boost 1" in content
    assert "rank 1 of 1" in content
    assert content.count('class="field-position"') >= 2  # the appearances inline, one row per listing


def test_hidden_paper_has_no_score(root_client: Client) -> None:
    paper = make_seen_paper(listed_date=timezone.localdate(), hidden=True)
    content = root_client.get(reverse("admin:digest_paper_change", args=[paper.pk])).content.decode()
    assert "Hidden: never in an edition." in content


def test_papers_flags_service_reports_only_real_changes() -> None:
    from digest.curation import papers_set_flags

    a, b = make_paper(pinned=True), make_paper()
    changed = papers_set_flags(queryset=Paper.objects.all(), pinned=True)
    assert [p.pk for p in changed] == [b.pk]
    with pytest.raises(ValueError):
        papers_set_flags(queryset=Paper.objects.all(), boost=3)
    assert a.pk
