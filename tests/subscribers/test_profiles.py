"""Profiles from votes and keywords, the vectorised "For you" choice, and the no-repeat query."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from digest.representation import unpack
from digest.vectors import paper_vectors, representation_fit
from subscribers.feedback import Choice, vote_record
from subscribers.foryou import ForYouInput, empty_input, for_you, pad_rows
from subscribers.models import Delivery, Profile
from subscribers.profiles import profile_vector, profiles_load, profiles_rebuild
from subscribers.repeats import received_before, still_trending, upvote_history
from subscribers.services import subscriber_update_preferences
from tests.corpus import make_corpus, make_topic_paper
from tests.factories import make_appearance, make_edition
from tests.subscribers.factories import make_subscriber

DAY = date(2025, 3, 14)


def _unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_no_likes_and_no_keywords_means_no_profile():
    empty = np.zeros((0, 3), dtype=np.float32)
    assert profile_vector(liked=empty, disliked=empty, keywords=None) is None
    assert profile_vector(liked=empty, disliked=np.eye(3, dtype=np.float32)[:1], keywords=None) is None


def test_likes_pull_the_profile_and_dislikes_push_it_away():
    liked = np.stack([_unit(1, 0.2, 0), _unit(1, -0.2, 0)])
    disliked = np.stack([_unit(0, 1, 0)])
    profile = profile_vector(liked=liked, disliked=disliked, keywords=_unit(0, 0, 1))
    assert abs(np.linalg.norm(profile) - 1) < 1e-5
    assert profile[0] > 0.8 and profile[1] < 0
    # The keyword prior fades as votes accumulate.
    few = profile_vector(liked=liked[:1], disliked=np.zeros((0, 3), np.float32), keywords=_unit(0, 0, 1))
    many = profile_vector(
        liked=np.repeat(liked[:1], 20, axis=0), disliked=np.zeros((0, 3), np.float32), keywords=_unit(0, 0, 1)
    )
    assert many[2] < few[2]


def test_for_you_scores_every_reader_at_once_with_reasons():
    papers = np.stack([_unit(1, 0, 0), _unit(0, 1, 0), _unit(0.9, 0.1, 0), _unit(0, 0, 1), _unit(1, 0, 0.05)])
    liked = np.stack([_unit(1, 0, 0.1), _unit(0, 0.2, 1)])
    profiles = np.stack([_unit(1, 0, 0), _unit(0, 0, 1), np.zeros(3, np.float32)])
    excluded = np.zeros((3, 5), dtype=bool)
    excluded[0, 0] = True  # reader 0 already got paper 0
    keyword_hits = np.full((3, 5), -1)
    keyword_hits[1, 3] = 0
    picks = for_you(
        ForYouInput(
            papers=papers,
            profiles=profiles,
            excluded=excluded,
            liked=liked,
            liked_rows=pad_rows([[0], [], []]),
            keyword_hits=keyword_hits,
        ),
        k=3,
    )
    first = picks.for_reader(0)
    assert [p for p, _, _, _ in first] == [4, 2]  # 0 is excluded, 1 and 3 are unrelated (below the threshold)
    assert all(because == 0 for _, _, because, _ in first)  # "because you liked" liked row 0
    assert picks.for_reader(1) == [(3, pytest.approx(1.0), -1, 0)]  # "matches" keyword 0: reader 1 liked nothing
    assert picks.for_reader(2) == []  # no profile, no picks
    assert for_you(empty_input(readers=2, papers=papers)).for_reader(1) == []


def test_ties_go_to_the_better_trending_position():
    papers = np.stack([_unit(1, 0), _unit(1, 0), _unit(1, 0)])
    data = empty_input(readers=1, papers=papers)
    data = ForYouInput(**{**data.__dict__, "profiles": np.stack([_unit(1, 0)])})
    assert [p for p, _, _, _ in for_you(data, k=2).for_reader(0)] == [0, 1]


@pytest.mark.django_db
def test_a_vote_updates_the_stored_profile_and_a_refit_makes_it_stale_then_rebuilt(django_assert_max_num_queries):
    corpus = make_corpus(listed_date=DAY)
    representation_fit(today=DAY)
    reader, silent = make_subscriber(), make_subscriber()
    for paper in corpus["protein"][:3]:
        vote_record(subscriber=reader, paper=paper, choice=Choice.MORE)
    profile = Profile.objects.get(subscriber=reader)
    assert profile.likes == 3 and len(bytes(profile.vector)) == 4 * paper_vectors(paper_ids=[]).dims
    assert not Profile.objects.filter(subscriber=silent).exists()
    vectors = paper_vectors(paper_ids=[p.pk for topic in corpus.values() for p in topic])
    mine = unpack(profile.vector)
    protein = [mine @ vectors.by_paper[p.pk] for p in corpus["protein"][3:]]
    others = [mine @ vectors.by_paper[p.pk] for t in ("robots", "diffusion", "language") for p in corpus[t]]
    assert min(protein) > max(others)
    make_topic_paper("robots", listed_date=DAY)
    new = representation_fit(today=DAY)
    assert Profile.objects.get(subscriber=reader).representation_version == 1
    with django_assert_max_num_queries(12):
        loaded = profiles_load(subscriber_ids=[reader.pk, silent.pk], version=new.version, dims=new.dims)
    assert set(loaded) == {reader.pk}
    assert Profile.objects.get(subscriber=reader).representation_version == new.version


@pytest.mark.django_db
def test_keywords_alone_make_a_weak_profile():
    make_corpus(listed_date=DAY)
    representation_fit(today=DAY)
    reader = make_subscriber(keywords=["protein folding"])
    built = profiles_rebuild(subscriber_ids=[reader.pk])
    assert set(built.vectors) == {reader.pk} and Profile.objects.get(subscriber=reader).keywords == 1


@pytest.mark.django_db
def test_received_before_is_one_query_over_accepted_deliveries_of_other_editions(django_assert_num_queries):
    first, second, fresh = (make_topic_paper(t, listed_date=DAY, upvotes=10) for t in ("protein", "robots", "language"))
    yesterday = make_edition(date=DAY - timedelta(days=2), papers=[first, second])
    today = make_edition(date=DAY, papers=[first, second, fresh])
    got_it, failed, new = make_subscriber(), make_subscriber(), make_subscriber()
    Delivery.objects.create(edition=yesterday, subscriber=got_it, status=Delivery.Status.SENT)
    Delivery.objects.create(edition=yesterday, subscriber=failed, status=Delivery.Status.FAILED)
    Delivery.objects.create(edition=today, subscriber=new, status=Delivery.Status.SENT)
    with django_assert_num_queries(1):
        received = received_before(
            edition=today, subscriber_ids=[got_it.pk, failed.pk, new.pk], paper_ids=[first.pk, second.pk, fresh.pk]
        )
    assert received == {got_it.pk: {first.pk: yesterday.date, second.pk: yesterday.date}}
    make_appearance(paper=first, listed_date=yesterday.date, upvotes=10)
    make_appearance(paper=first, listed_date=DAY, upvotes=52)
    history = upvote_history(paper_ids=[first.pk, second.pk], current={first.pk: 52, second.pk: 10})
    lines = still_trending(
        received=received[got_it.pk], edition_date=DAY, titles={first.pk: "First", fresh.pk: "Fresh"}, history=history
    )
    assert [line.line() for line in lines] == ["First (day 3, +42 upvotes since you first saw it)"]


@pytest.mark.django_db
def test_the_nightly_refresh_recomputes_stale_profiles_and_gives_keyword_readers_one():
    from subscribers.tasks.profiles import refresh_profiles

    corpus = make_corpus(listed_date=DAY)
    representation_fit(today=DAY)
    voter = make_subscriber()
    vote_record(subscriber=voter, paper=corpus["robots"][0], choice=Choice.MORE)
    keyworded, nothing = make_subscriber(keywords=["grasping"]), make_subscriber()
    Profile.objects.filter(subscriber=keyworded).delete()  # signed up before any representation existed
    make_topic_paper("robots", listed_date=DAY)
    new = representation_fit(today=DAY)
    assert refresh_profiles() == 2
    assert dict(Profile.objects.values_list("subscriber_id", "representation_version")) == {
        voter.pk: new.version,
        keyworded.pk: new.version,
    }
    assert not Profile.objects.filter(subscriber=nothing).exists()


@pytest.mark.django_db
def test_a_chunk_is_personalised_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    from subscribers.personalize import Candidate, Reader, chunk_personal, clear_cache

    clear_cache()
    corpus = make_corpus(listed_date=DAY - timedelta(days=1))
    representation_fit(today=DAY)
    todays = [make_topic_paper(t, listed_date=DAY, index=9) for t in ("language", "protein", "robots", "diffusion")]
    yesterday = make_edition(date=DAY - timedelta(days=1), papers=[todays[2]])
    edition = make_edition(date=DAY, papers=todays)
    candidates = [Candidate(p.pk, p.title, f"{p.title}\n{p.abstract}", p.upvotes) for p in todays]

    def readers(count: int) -> list[Reader]:
        out = []
        for i in range(count):
            reader = make_subscriber(keywords=["grasping"] if i % 2 else [])
            for paper in corpus["protein"][:3]:
                vote_record(subscriber=reader, paper=paper, choice=Choice.MORE)
            Delivery.objects.create(edition=yesterday, subscriber=reader, status=Delivery.Status.SENT)
            out.append(Reader(pk=reader.pk, keywords=reader.keywords))
        return out

    few, many = readers(2), readers(20)
    chunk_personal(edition=edition, candidates=candidates, readers=few)  # warms the per-edition cache
    with django_assert_max_num_queries(6) as few_queries:
        chunk_personal(edition=edition, candidates=candidates, readers=few)
    with django_assert_max_num_queries(len(few_queries.captured_queries)):
        personal = chunk_personal(edition=edition, candidates=candidates, readers=many)
    first = personal[many[0].pk]
    # Three protein likes: the protein paper comes first, explained by the closest liked paper.
    assert first.for_you[0].paper_id == todays[1].pk
    assert first.for_you[0].reason.startswith("because you liked “")
    # Yesterday's robots paper is only a "Still trending" line, never a pick.
    assert set(first.still_trending) == {todays[2].pk}
    assert todays[2].pk not in {pick.paper_id for pick in first.for_you}


@pytest.mark.django_db
def test_changing_keywords_on_the_preferences_page_updates_the_profile():
    make_corpus(listed_date=DAY)
    representation_fit(today=DAY)
    reader = make_subscriber(keywords=[])
    subscriber_update_preferences(subscriber=reader, keywords=["protein folding"], frequency="daily", time_zone="UTC")
    first = bytes(Profile.objects.get(subscriber=reader).vector)
    subscriber_update_preferences(subscriber=reader, keywords=["robot grasping"], frequency="daily", time_zone="UTC")
    assert bytes(Profile.objects.get(subscriber=reader).vector) != first
    subscriber_update_preferences(subscriber=reader, keywords=[], frequency="daily", time_zone="UTC")
    assert not Profile.objects.filter(subscriber=reader).exists()


@pytest.mark.django_db
def test_a_weekly_edition_leaves_out_what_the_reader_saw_in_their_dailies():
    seen, unseen = (make_topic_paper(t, listed_date=DAY - timedelta(days=3)) for t in ("protein", "robots"))
    daily = make_edition(date=DAY - timedelta(days=3), papers=[seen])
    weekly = make_edition(date=DAY, papers=[unseen, seen], frequency="weekly")
    switched = make_subscriber(frequency="weekly")  # was daily earlier this week: has deliveries of both kinds
    Delivery.objects.create(edition=daily, subscriber=switched, status=Delivery.Status.DELIVERED)
    received = received_before(edition=weekly, subscriber_ids=[switched.pk], paper_ids=[seen.pk, unseen.pk])
    assert received == {switched.pk: {seen.pk: daily.date}}
