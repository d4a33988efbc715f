"""A reader's profile: one unit vector in the paper representation's space, learnt from their votes.

Rocchio's rule, as relevance feedback has used it for decades: the mean of the papers the reader asked more of,
minus half the mean of those they asked less of, plus their keywords (each embedded through the same
representation) as a prior that fades as votes accumulate. It costs no model fitting: a profile is a few vector
sums, recomputed from all of the reader's votes whenever one arrives, is undone, or the keywords change, so a
replaced or undone vote leaves no trace. Stored as float32 bytes: ``dims`` x 4 bytes, 1 KiB at 256 dimensions.

A reader with nothing to lean toward (no "more like this", no keyword) has no profile, and gets no "For you".
Profiles are tied to the representation version they were computed under; after a refit they are recomputed in
bulk (``profiles_refresh``), and the sender recomputes any it still finds stale for its chunk in one batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction

from digest.representation import pack, unit_rows, unpack
from digest.vectors import current_model, paper_vectors
from subscribers.models import Profile, Subscriber, Vote

LIKE_WEIGHT = 1.0
DISLIKE_WEIGHT = 0.5
# The keywords' weight with no votes; it halves by the time the reader has cast KEYWORD_HALF_VOTES votes.
KEYWORD_WEIGHT = 0.6
KEYWORD_HALF_VOTES = 5
# Enough history to learn from; older votes beyond it no longer move the profile (nor cost memory at send time).
MAX_VOTES = 200
REFRESH_BATCH = 500


def profile_vector(*, liked: np.ndarray, disliked: np.ndarray, keywords: np.ndarray | None) -> np.ndarray | None:
    """The unit profile from the reader's liked (n, d) and disliked (m, d) paper vectors and keyword vector (d,).

    None when nothing leans toward anything: no likes and no keywords (dislikes alone say what not to show, not
    what to show), or everything cancels out.
    """
    dims = liked.shape[1] if liked.ndim == 2 else disliked.shape[1]
    has_keywords = keywords is not None and float(np.linalg.norm(keywords)) > 1e-6
    if len(liked) == 0 and not has_keywords:
        return None
    vector = np.zeros(dims, dtype=np.float32)
    if len(liked):
        vector += LIKE_WEIGHT * liked.mean(axis=0)
    if len(disliked):
        vector -= DISLIKE_WEIGHT * disliked.mean(axis=0)
    if keywords is not None and has_keywords:
        votes = len(liked) + len(disliked)
        vector += KEYWORD_WEIGHT / (1.0 + votes / KEYWORD_HALF_VOTES) * keywords
    norm = float(np.linalg.norm(vector))
    if norm < 1e-6:
        return None
    return (vector / norm).astype(np.float32)


def keyword_vectors(
    *, keywords_by_reader: dict[int, Sequence[str]], embed: Callable[[Sequence[str]], np.ndarray]
) -> dict[int, np.ndarray]:
    """Each reader's keywords embedded one by one in a single transform, averaged per reader, unit length."""
    owners: list[int] = []
    texts: list[str] = []
    for reader, keywords in keywords_by_reader.items():
        for keyword in keywords:
            if isinstance(keyword, str) and keyword.strip():
                owners.append(reader)
                texts.append(keyword)
    if not texts:
        return {}
    vectors = embed(texts)
    sums: dict[int, np.ndarray] = {}
    for owner, vector in zip(owners, vectors, strict=True):
        if owner in sums:
            sums[owner] = sums[owner] + vector
        else:
            sums[owner] = vector.copy()
    return {owner: unit_rows(vector[np.newaxis, :])[0] for owner, vector in sums.items()}


# --- Reading the database in bulk ------------------------------------------------------------------------------


@dataclass
class ReaderVotes:
    """The recent votes of a set of readers: ``(paper_id, value, title)`` per reader, newest first."""

    by_reader: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)

    @property
    def paper_ids(self) -> set[int]:
        return {paper_id for votes in self.by_reader.values() for paper_id, _, _ in votes}


def votes_of(*, subscriber_ids: Iterable[int]) -> ReaderVotes:
    """One query for the votes of all these readers (at most ``MAX_VOTES`` each are kept, the newest)."""
    by_reader: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    rows = (
        Vote.objects.filter(subscriber_id__in=list(subscriber_ids))
        .order_by("subscriber_id", "-updated_at", "-pk")
        .values_list("subscriber_id", "paper_id", "value", "paper__title")
    )
    for subscriber_id, paper_id, value, title in rows:
        votes = by_reader[subscriber_id]
        if len(votes) < MAX_VOTES:
            votes.append((paper_id, value, " ".join(title.split())))
    return ReaderVotes(by_reader=dict(by_reader))


@dataclass(frozen=True)
class BuiltProfiles:
    version: int
    vectors: dict[int, np.ndarray]  # reader -> unit profile; readers without one are absent


def profiles_compute(*, keywords_by_reader: dict[int, Sequence[str]], votes: ReaderVotes) -> BuiltProfiles | None:
    """Profiles of these readers under the current representation; None before any representation was fitted."""
    model = current_model()
    if model is None:
        return None
    vectors = paper_vectors(paper_ids=votes.paper_ids)
    if vectors is None or vectors.version != model.version:  # refitted between the two reads: next call gets it
        return None
    keyword_vecs = keyword_vectors(keywords_by_reader=keywords_by_reader, embed=model.transform)
    empty = np.zeros((0, model.dims), dtype=np.float32)
    out: dict[int, np.ndarray] = {}
    for reader in keywords_by_reader:
        votes_here = votes.by_reader.get(reader, [])
        liked = [pk for pk, value, _ in votes_here if value > 0]
        disliked = [pk for pk, value, _ in votes_here if value < 0]
        profile = profile_vector(
            liked=vectors.matrix(liked) if liked else empty,
            disliked=vectors.matrix(disliked) if disliked else empty,
            keywords=keyword_vecs.get(reader),
        )
        if profile is not None:
            out[reader] = profile
    return BuiltProfiles(version=model.version, vectors=out)


def profiles_rebuild(*, subscriber_ids: Iterable[int]) -> BuiltProfiles | None:
    """Recompute and store these readers' profiles (and drop those that no longer have any); a fixed handful of
    queries however many readers."""
    keywords_by_reader = dict(
        Subscriber.objects.filter(pk__in=list(subscriber_ids)).values_list("pk", "keywords").order_by("pk")
    )
    if not keywords_by_reader:
        return None
    votes = votes_of(subscriber_ids=keywords_by_reader)
    built = profiles_compute(keywords_by_reader=keywords_by_reader, votes=votes)
    if built is None:
        return None
    rows = []
    for reader, vector in built.vectors.items():
        values = [value for _, value, _ in votes.by_reader.get(reader, [])]
        rows.append(
            Profile(
                subscriber_id=reader,
                representation_version=built.version,
                vector=pack(vector),
                likes=sum(1 for value in values if value > 0),
                dislikes=sum(1 for value in values if value < 0),
                keywords=len(keywords_by_reader[reader] or []),
            )
        )
    with transaction.atomic():
        Profile.objects.filter(pk__in=[r for r in keywords_by_reader if r not in built.vectors]).delete()
        Profile.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["subscriber"],
            update_fields=["representation_version", "vector", "likes", "dislikes", "keywords", "updated_at"],
        )
    return built


def profiles_load(*, subscriber_ids: Sequence[int], version: int, dims: int) -> dict[int, np.ndarray]:
    """The stored profiles of these readers under ``version``, one query; stale ones are recomputed in one batch."""
    found: dict[int, np.ndarray] = {}
    stale: list[int] = []
    rows = Profile.objects.filter(subscriber_id__in=list(subscriber_ids)).values_list(
        "subscriber_id", "representation_version", "vector"
    )
    for reader, row_version, data in rows:
        if row_version == version:
            found[reader] = unpack(data, shape=(dims,))
        else:
            stale.append(reader)
    if stale:
        built = profiles_rebuild(subscriber_ids=stale)
        if built is not None and built.version == version:
            found.update(built.vectors)
    return found


def profiles_refresh(*, batch: int = REFRESH_BATCH) -> int:
    """Recompute every profile made under an older representation, and give one to readers with keywords and no
    profile yet (a representation appeared since they signed up). Returns how many readers were looked at."""
    model = current_model()
    if model is None:
        return 0
    stale = Profile.objects.exclude(representation_version=model.version).values_list("subscriber_id", flat=True)
    without = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE, profile__isnull=True).values_list(
        "pk", "keywords"
    )
    ids = sorted(set(stale) | {pk for pk, keywords in without.iterator(chunk_size=5000) if keywords})
    for start in range(0, len(ids), batch):
        profiles_rebuild(subscriber_ids=ids[start : start + batch])
    return len(ids)
