"""Choosing each reader's "For you" papers for a whole chunk at once: a pure function over arrays.

The sender gives it the edition's candidate papers as unit vectors (P x d) and the chunk's profiles (R x d); one
matrix product scores every candidate for every reader, and a stable sort picks each reader's best, ties going to
the better trending position (candidates come in edition order). No query and no model fitting per recipient:
everything here is numpy over the whole chunk, including the reasons.

Each pick carries one reason: "because you liked <title>" naming the liked paper most similar to it, or
"matches '<keyword>'" when the paper's text contains one of the reader's keywords and no liked paper is close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_PICKS = 5
# Below this cosine a candidate is not "for" the reader at all, whatever the rest of the list looks like.
MIN_SCORE = 0.08
# A liked paper at least this similar is the better explanation than a keyword.
LIKED_REASON_MIN = 0.3


@dataclass(frozen=True)
class ForYouInput:
    papers: np.ndarray  # (P, d) unit rows, the candidates in edition order
    profiles: np.ndarray  # (R, d) unit rows; an all-zero row is a reader without a profile
    excluded: np.ndarray  # (R, P) bool: already received, or already voted on
    liked: np.ndarray  # (L, d) vectors of papers the readers liked
    liked_rows: np.ndarray  # (R, M) int: each reader's rows in ``liked``, -1 padding
    keyword_hits: np.ndarray  # (R, P) int: which of the reader's keywords the paper contains, -1 none


@dataclass(frozen=True)
class ForYouPicks:
    papers: np.ndarray  # (R, k) int: candidate index, -1 where there is no pick
    scores: np.ndarray  # (R, k) float32
    because: np.ndarray  # (R, k) int: row in ``liked`` the pick is explained by, -1 when not a liked paper
    keyword: np.ndarray  # (R, k) int: keyword index the pick is explained by, -1 when not a keyword

    def for_reader(self, row: int) -> list[tuple[int, float, int, int]]:
        """(candidate, score, liked row, keyword index) of each pick of one reader, best first."""
        return [
            (int(p), float(s), int(b), int(k))
            for p, s, b, k in zip(self.papers[row], self.scores[row], self.because[row], self.keyword[row], strict=True)
            if p >= 0
        ]


def empty_input(*, readers: int, papers: np.ndarray) -> ForYouInput:
    """No profiles, no exclusions, no likes: what a chunk passes when nobody in it has a profile."""
    count, dims = papers.shape
    return ForYouInput(
        papers=papers,
        profiles=np.zeros((readers, dims), dtype=np.float32),
        excluded=np.zeros((readers, count), dtype=bool),
        liked=np.zeros((0, dims), dtype=np.float32),
        liked_rows=np.full((readers, 1), -1, dtype=np.int64),
        keyword_hits=np.full((readers, count), -1, dtype=np.int64),
    )


def for_you(data: ForYouInput, *, k: int = MAX_PICKS, min_score: float = MIN_SCORE) -> ForYouPicks:
    """Up to ``k`` picks per reader with their reasons, for all readers in one step."""
    readers, count = data.profiles.shape[0], data.papers.shape[0]
    k = max(0, min(k, count))
    if readers == 0 or k == 0:
        shape = (readers, k)
        none = np.full(shape, -1, dtype=np.int64)
        return ForYouPicks(papers=none, scores=np.zeros(shape, np.float32), because=none.copy(), keyword=none.copy())
    scores = data.profiles @ data.papers.T  # (R, P)
    scores = np.where(data.excluded | (scores < min_score), -np.inf, scores)
    # Stable, so equal scores keep edition order: the better trending position wins a tie.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(scores, order, axis=1)
    picked = np.isfinite(top)
    papers = np.where(picked, order, -1)

    # The most similar liked paper of each reader, for each pick: (R, M, k) similarities, M = most likes kept.
    liked_scores = np.vstack([data.liked @ data.papers.T, np.full((1, count), -np.inf, dtype=np.float32)])
    rows = np.where(data.liked_rows >= 0, data.liked_rows, len(data.liked))  # padding -> the -inf row
    per_pick = liked_scores[rows]  # (R, M, P)
    per_pick = np.take_along_axis(per_pick, np.broadcast_to(order[:, None, :], (readers, rows.shape[1], k)), axis=2)
    best_row = per_pick.argmax(axis=1)  # (R, k) index into M
    best_sim = np.take_along_axis(per_pick, best_row[:, None, :], axis=1)[:, 0, :]
    because = np.take_along_axis(rows, best_row, axis=1)
    because = np.where(np.isfinite(best_sim) & picked, because, -1)

    keyword = np.take_along_axis(data.keyword_hits, order, axis=1)
    keyword = np.where(picked, keyword, -1)
    # A close liked paper explains best; a literal keyword next; a distant liked paper only when nothing else does.
    use_liked = (because >= 0) & ((best_sim >= LIKED_REASON_MIN) | (keyword < 0))
    because = np.where(use_liked, because, -1)
    keyword = np.where(use_liked, -1, keyword)
    return ForYouPicks(
        papers=papers.astype(np.int64),
        scores=np.where(picked, top, 0.0).astype(np.float32),
        because=because.astype(np.int64),
        keyword=keyword.astype(np.int64),
    )


def pad_rows(groups: list[list[int]]) -> np.ndarray:
    """Ragged lists of row numbers as an (R, M) int array padded with -1 (M >= 1)."""
    width = max([1, *(len(group) for group in groups)])
    out = np.full((len(groups), width), -1, dtype=np.int64)
    for row, group in enumerate(groups):
        out[row, : len(group)] = group
    return out
