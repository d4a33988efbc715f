"""What each reader of a chunk gets beyond the shared list: their "For you" picks and their "Still trending" lines.

``chunk_personal(edition=..., candidates=..., readers=...)`` loads everything for the whole chunk in a fixed
handful of queries (profiles, votes, earlier deliveries; the candidates' vectors and upvote history once per
edition per process), scores every candidate for every reader in one step (``subscribers.foryou``) and hands back a
small ``Personal`` per reader. Nothing here runs per recipient against the database, and no model is fitted.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digest.models import Edition
from digest.rendering.keywords import keyword_pattern, normalize_keywords
from digest.rendering.slots import trim_text
from digest.representation import FittedModel
from digest.vectors import current_model, paper_vectors
from subscribers.foryou import MAX_PICKS, ForYouInput, for_you, pad_rows
from subscribers.profiles import profiles_load, votes_of
from subscribers.repeats import StillTrending, UpvoteHistory, received_before, still_trending, upvote_history

# Liked papers kept per reader for the "because you liked" reasons (the newest).
REASON_LIKES = 20
# A reason is one line.
REASON_TITLE_CHARS = 80


@dataclass(frozen=True, slots=True)
class Candidate:
    """A paper of the edition as the chunk sees it, in edition order."""

    paper_id: int
    title: str
    search_text: str
    upvotes: int


@dataclass(frozen=True, slots=True)
class Pick:
    paper_id: int
    reason: str  # one line: "because you liked <title>" or "matches 'diffusion'"


@dataclass(frozen=True, slots=True)
class Personal:
    for_you: tuple[Pick, ...] = ()
    # Papers this reader already received in an earlier edition, shown only as a line (by paper id).
    still_trending: dict[int, StillTrending] = field(default_factory=dict)


NOBODY = Personal()


@dataclass
class _EditionData:
    """Per edition and per process: the candidates' vectors and upvote history, and keyword matches seen so far."""

    model: FittedModel
    version: int
    vectors: np.ndarray  # (P, d)
    history: UpvoteHistory
    keyword_hits: dict[str, np.ndarray] = field(default_factory=dict)  # keyword -> (P,) bool


_EDITIONS: OrderedDict[tuple[Any, ...], _EditionData] = OrderedDict()


def clear_cache() -> None:
    _EDITIONS.clear()


def _edition_data(edition: Edition, candidates: Sequence[Candidate]) -> _EditionData | None:
    model = current_model()
    if model is None:
        return None
    key = (edition.pk, edition.built_at, model.version, tuple(c.paper_id for c in candidates))
    data = _EDITIONS.get(key)
    if data is None:
        ids = [c.paper_id for c in candidates]
        vectors = paper_vectors(paper_ids=ids, model=model)
        if vectors is None:
            return None
        history = upvote_history(paper_ids=ids, current={c.paper_id: c.upvotes for c in candidates})
        data = _EDITIONS[key] = _EditionData(
            model=model, version=model.version, vectors=vectors.matrix(ids), history=history
        )
        while len(_EDITIONS) > 4:
            _EDITIONS.popitem(last=False)
    return data


def _keyword_matches(data: _EditionData, candidates: Sequence[Candidate], keyword: str) -> np.ndarray:
    hits = data.keyword_hits.get(keyword)
    if hits is None:
        pattern: re.Pattern[str] = keyword_pattern((keyword,))
        hits = data.keyword_hits[keyword] = np.array([bool(pattern.search(c.search_text)) for c in candidates])
    return hits


@dataclass(frozen=True, slots=True)
class Reader:
    pk: int
    keywords: Sequence[str]


def chunk_personal(
    *, edition: Edition, candidates: Sequence[Candidate], readers: Sequence[Reader], picks: int = MAX_PICKS
) -> dict[int, Personal]:
    """Each reader's ``Personal`` (readers with nothing personal are left out): a fixed number of queries."""
    if not candidates or not readers:
        return {}
    ids = [reader.pk for reader in readers]
    paper_ids = [c.paper_id for c in candidates]
    position = {pk: i for i, pk in enumerate(paper_ids)}
    data = _edition_data(edition, candidates)
    received = received_before(edition=edition, subscriber_ids=ids, paper_ids=paper_ids)
    history = data.history if data is not None else upvote_history(paper_ids=[], current={})
    titles = {c.paper_id: c.title for c in candidates}
    out: dict[int, Personal] = {}
    for reader in readers:
        mine = received.get(reader.pk)
        if mine:
            lines = still_trending(received=mine, edition_date=edition.date, titles=titles, history=history)
            out[reader.pk] = Personal(still_trending={line.paper_id: line for line in lines})
    if data is None:  # no representation yet: no "For you", only the no-repeat lines
        return out

    dims = data.vectors.shape[1]
    profiles = profiles_load(subscriber_ids=ids, version=data.version, dims=dims)
    with_profile = [reader for reader in readers if reader.pk in profiles]
    if not with_profile:
        return out
    votes = votes_of(subscriber_ids=[reader.pk for reader in with_profile])
    liked_ids: list[int] = []
    liked_titles: list[str] = []
    liked_rows: list[list[int]] = []
    excluded = np.zeros((len(with_profile), len(candidates)), dtype=bool)
    keyword_hits = np.full((len(with_profile), len(candidates)), -1, dtype=np.int64)
    keywords_of: list[tuple[str, ...]] = []
    for row, reader in enumerate(with_profile):
        rows: list[int] = []
        for paper_id, value, title in votes.by_reader.get(reader.pk, []):
            if paper_id in position:
                excluded[row, position[paper_id]] = True  # voted on already: not news to them
            if value > 0 and len(rows) < REASON_LIKES:
                rows.append(len(liked_ids))
                liked_ids.append(paper_id)
                liked_titles.append(title)
        liked_rows.append(rows)
        for paper_id in received.get(reader.pk, {}):
            excluded[row, position[paper_id]] = True
        keywords = normalize_keywords(reader.keywords)
        keywords_of.append(keywords)
        # Reverse order, so the first keyword that matches is the one kept.
        for index in range(len(keywords) - 1, -1, -1):
            hits = _keyword_matches(data, candidates, keywords[index])
            keyword_hits[row, hits] = index
    liked_vectors = paper_vectors(paper_ids=liked_ids, model=data.model) if liked_ids else None
    liked = (
        liked_vectors.matrix(liked_ids)
        if liked_vectors is not None and liked_vectors.version == data.version
        else np.zeros((len(liked_ids), dims), dtype=np.float32)
    )
    chosen = for_you(
        ForYouInput(
            papers=data.vectors,
            profiles=np.stack([profiles[reader.pk] for reader in with_profile]),
            excluded=excluded,
            liked=liked,
            liked_rows=pad_rows(liked_rows),
            keyword_hits=keyword_hits,
        ),
        k=picks,
    )
    for row, reader in enumerate(with_profile):
        items = []
        for candidate, _score, because, keyword in chosen.for_reader(row):
            if because >= 0:
                reason = f"because you liked “{trim_text(liked_titles[because], REASON_TITLE_CHARS)}”"
            elif keyword >= 0:
                reason = f"matches “{keywords_of[row][keyword]}”"
            else:
                reason = "close to your keywords"
            items.append(Pick(paper_id=paper_ids[candidate], reason=reason))
        if items:
            previous = out.get(reader.pk, NOBODY)
            out[reader.pk] = Personal(for_you=tuple(items), still_trending=previous.still_trending)
    return out
