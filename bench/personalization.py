"""Does "For you" learn? Simulated readers with hidden interests vote on what they are shown, day after day.

    .venv/bin/python bench/personalization.py [--readers 300] [--topics 24] [--history-days 40] [--seed 7]

A generated corpus: topics, each with its own words, grouped in families that share words (so neighbouring topics
are easy to confuse), plus general academic words; each paper is mostly about one topic and a little about another.
Popularity (upvotes) is drawn independently of topic, except that some topics trend more. The representation is
fitted on the papers of the first ``--history-days`` days with the project's own code (``digest.representation``);
the following days' papers are new to it, as in production.

Each reader secretly likes 1-3 topics, and most state one or two keywords, not always well chosen. Every day they
get the day's pool of candidates (the best of the trending list) and are shown "For you" plus the list; they vote
"more" on a shown paper in their interests and "less" on one outside (with a little noise). Before voting each day
we measure precision@5 (the share of the first five papers shown that are in their interests) of:

- trending: the day's list alone;
- keywords: papers containing one of the reader's keywords first, then the list;
- learned: "For you" from the reader's profile (``subscribers.profiles`` + ``subscribers.foryou``), then the list.

Printed after 0, 5, 10 and 20 votes. Nothing here touches a database.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from digest.representation import fit_texts, paper_text  # noqa: E402
from subscribers.foryou import ForYouInput, for_you, pad_rows  # noqa: E402
from subscribers.profiles import keyword_vectors, profile_vector  # noqa: E402

CHECKPOINTS = (0, 5, 10, 20)
K = 5
SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "ar", "en", "is", "on")]


def _words(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        word = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4))))
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


@dataclass
class Corpus:
    texts: list[str]
    titles: list[str]
    topics: np.ndarray  # main topic per paper
    upvotes: np.ndarray
    day: np.ndarray
    topic_names: list[str]
    topic_words: list[list[str]]


def make_corpus(*, rng: np.random.Generator, topics: int, days: int, per_day: int) -> Corpus:
    taken: set[str] = set()
    general = _words(rng, 500, taken)
    families = [_words(rng, 20, taken) for _ in range((topics + 2) // 3)]
    topic_words = [_words(rng, 40, taken) for _ in range(topics)]
    topic_pop = rng.lognormal(0.0, 0.6, size=topics)  # some topics trend more than others
    zipf = 1.0 / np.arange(1, 41) ** 0.8
    zipf /= zipf.sum()

    def draw(vocab: list[str], n: int, weights: np.ndarray | None = None) -> list[str]:
        p = weights[: len(vocab)] / weights[: len(vocab)].sum() if weights is not None else None
        return list(rng.choice(vocab, size=n, p=p))

    texts, titles, main, votes, day = [], [], [], [], []
    for d in range(days):
        for _ in range(per_day):
            t = int(rng.integers(topics))
            other = int(rng.integers(topics))
            family = families[t // 3]
            title_words = draw(topic_words[t], 4, zipf) + draw(family, 1) + draw(general, 3)
            rng.shuffle(title_words)
            abstract = (
                draw(topic_words[t], 32, zipf)
                + draw(topic_words[other], 10, zipf)
                + draw(family, 14)
                + draw(general, 44)
            )
            rng.shuffle(abstract)
            title = " ".join(title_words).capitalize()
            titles.append(title)
            texts.append(paper_text(title, " ".join(abstract)))
            main.append(t)
            votes.append(rng.lognormal(3.0, 1.0) * topic_pop[t])
            day.append(d)
    return Corpus(
        texts=texts,
        titles=titles,
        topics=np.array(main),
        upvotes=np.array(votes),
        day=np.array(day),
        topic_names=[words[0] for words in topic_words],
        topic_words=topic_words,
    )


@dataclass
class Reader:
    interests: set[int]
    keywords: list[str]
    votes: list[tuple[int, int]] = field(default_factory=list)  # (paper index, +1/-1)


def make_readers(*, rng: np.random.Generator, corpus: Corpus, count: int, topics: int) -> list[Reader]:
    readers = []
    for _ in range(count):
        interests = {int(t) for t in rng.choice(topics, size=int(rng.integers(1, 4)), replace=False)}
        keywords: list[str] = []
        if rng.random() < 0.75:  # a quarter state no keyword at all
            for _ in range(int(rng.integers(1, 3))):
                if rng.random() < 0.7:  # a word of one of their topics, often not its most telling one
                    topic = int(rng.choice(sorted(interests)))
                    keywords.append(str(rng.choice(corpus.topic_words[topic][:12])))
                else:  # a keyword that sounded right but belongs elsewhere
                    keywords.append(str(rng.choice(corpus.topic_words[int(rng.integers(topics))][:12])))
        readers.append(Reader(interests=interests, keywords=keywords))
    return readers


def precision(shown: list[int], relevant: np.ndarray) -> float:
    return float(np.mean([relevant[p] for p in shown[:K]]))


def fill(first: list[int], pool: list[int]) -> list[int]:
    return (first + [p for p in pool if p not in first])[:K]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=300)
    parser.add_argument("--topics", type=int, default=24)
    parser.add_argument("--history-days", type=int, default=40)
    parser.add_argument("--per-day", type=int, default=50, help="papers published per day")
    parser.add_argument("--pool", type=int, default=30, help="candidates per day: the best of the trending list")
    parser.add_argument("--votes-per-day", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.05, help="share of votes cast the wrong way")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    sim_days = max(CHECKPOINTS) // args.votes_per_day + 1
    corpus = make_corpus(rng=rng, topics=args.topics, days=args.history_days + sim_days, per_day=args.per_day)
    history = corpus.day < args.history_days
    started = time.monotonic()
    model, explained = fit_texts([t for t, h in zip(corpus.texts, history, strict=True) if h])
    fit_seconds = time.monotonic() - started
    vectors = model.transform(corpus.texts)
    readers = make_readers(rng=rng, corpus=corpus, count=args.readers, topics=args.topics)
    keyword_vecs = keyword_vectors(
        keywords_by_reader={i: r.keywords for i, r in enumerate(readers)}, embed=model.transform
    )
    print(
        f"corpus: {len(corpus.texts)} papers, {args.topics} topics; representation fitted on {int(history.sum())} "
        f"papers in {fit_seconds:.1f}s: {model.dims} dims, {len(model.terms)} terms, {explained:.0%} of variance"
    )

    results: dict[int, dict[str, list[float]]] = {
        n: {"trending": [], "keywords": [], "learned": [], "best possible": []} for n in CHECKPOINTS
    }
    empty = np.zeros((0, model.dims), dtype=np.float32)
    for step in range(sim_days):
        day = args.history_days + step
        today = np.flatnonzero(corpus.day == day)
        pool = [int(p) for p in today[np.argsort(-corpus.upvotes[today], kind="stable")][: args.pool]]
        papers = vectors[pool]
        # Profiles and the liked papers behind the reasons, for all readers, then one scoring step.
        profiles = np.zeros((len(readers), model.dims), dtype=np.float32)
        liked_rows: list[list[int]] = []
        liked_vectors: list[np.ndarray] = []
        excluded = np.zeros((len(readers), len(pool)), dtype=bool)
        for i, reader in enumerate(readers):
            liked = [p for p, v in reader.votes if v > 0]
            disliked = [p for p, v in reader.votes if v < 0]
            profile = profile_vector(
                liked=vectors[liked] if liked else empty,
                disliked=vectors[disliked] if disliked else empty,
                keywords=keyword_vecs.get(i),
            )
            if profile is not None:
                profiles[i] = profile
            liked_rows.append(list(range(len(liked_vectors), len(liked_vectors) + len(liked))))
            liked_vectors.extend(vectors[liked])
        picks = for_you(
            ForYouInput(
                papers=papers,
                profiles=profiles,
                excluded=excluded,
                liked=np.array(liked_vectors, dtype=np.float32).reshape(-1, model.dims),
                liked_rows=pad_rows(liked_rows),
                keyword_hits=np.full((len(readers), len(pool)), -1, dtype=np.int64),
            )
        )
        for i, reader in enumerate(readers):
            relevant = np.isin(corpus.topics, list(reader.interests))
            learned = fill([pool[c] for c, _, _, _ in picks.for_reader(i)], pool)
            n = len(reader.votes)
            if n in results:
                words = "|".join(map(re.escape, reader.keywords))
                pattern = re.compile(rf"\b({words})\b") if reader.keywords else None
                matched = [p for p in pool if pattern and pattern.search(corpus.texts[p])]
                results[n]["trending"].append(precision(pool, relevant))
                results[n]["keywords"].append(precision(fill(matched, pool), relevant))
                results[n]["learned"].append(precision(learned, relevant))
                results[n]["best possible"].append(precision(sorted(pool, key=lambda p: not relevant[p]), relevant))
            # The reader votes on what they were shown: "For you" and the top of the list.
            voted = {p for p, _ in reader.votes}
            shown = [p for p in dict.fromkeys(learned + pool[:10]) if p not in voted]
            for paper in rng.permutation(shown)[: args.votes_per_day]:
                value = 1 if relevant[paper] else -1
                if rng.random() < args.noise:
                    value = -value
                reader.votes.append((int(paper), value))

    print(f"{args.readers} readers, pool of {args.pool} candidates a day, precision@{K} (mean over readers):")
    names = ("trending", "keywords", "learned", "best possible")
    print(f"{'votes':>6}  " + "  ".join(f"{name:>13}" for name in names))
    for n in CHECKPOINTS:
        print(f"{n:>6}  " + "  ".join(f"{np.mean(results[n][name]):>13.3f}" for name in names))


if __name__ == "__main__":
    main()
