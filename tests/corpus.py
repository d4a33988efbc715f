"""A small corpus of papers on four distinct topics, written for these tests, so similarity has something to find."""

from __future__ import annotations

import itertools
from datetime import date

from digest.models import Paper
from tests.factories import make_seen_paper

TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "diffusion": (
        ["diffusion", "denoising", "image", "generation", "sampler", "latent", "noise schedule", "pixels"],
        ["score matching", "guidance", "text-to-image", "U-Net", "inpainting", "super-resolution"],
    ),
    "protein": (
        ["protein", "folding", "structure", "residues", "amino acid", "binding", "molecular"],
        ["docking", "enzyme", "sequence design", "contact map", "antibody", "ligand"],
    ),
    "robots": (
        ["robot", "manipulation", "grasping", "policy", "reward", "reinforcement", "control"],
        ["sim-to-real", "locomotion", "teleoperation", "trajectory", "actuator", "dexterous hand"],
    ),
    "language": (
        ["language", "tokens", "reasoning", "prompting", "transformer", "chain of thought", "instruction"],
        ["tokenizer", "decoding", "in-context learning", "question answering", "dialogue", "summarization"],
    ),
}

_SENTENCES = (
    "We study {a} and {b} with a new method for {c}.",
    "Our approach improves {a} by modelling {d} and {b}.",
    "Experiments on {c} show that {a} benefits from {e}.",
    "We release code for {b}, {d} and {f}.",
)
_counter = itertools.count(1)


def topic_text(topic: str, n: int) -> tuple[str, str]:
    core, extra = TOPICS[topic]
    pick = [core[(n + i) % len(core)] for i in range(4)] + [extra[(n + i) % len(extra)] for i in range(2)]
    a, b, c, d, e, f = pick
    title = f"{a.capitalize()} {b} for {c}: {e}"
    abstract = " ".join(s.format(a=a, b=b, c=c, d=d, e=e, f=f) for s in _SENTENCES)
    return title, abstract


def make_topic_paper(topic: str, *, listed_date: date, upvotes: int = 10, index: int = 0) -> Paper:
    """A paper on ``topic``; its words depend on ``index`` only, so a test sees the same texts whatever ran before."""
    n = next(_counter)  # only keeps titles distinct
    title, abstract = topic_text(topic, index)
    return make_seen_paper(listed_date=listed_date, upvotes=upvotes, title=f"{title} ({n})", abstract=abstract)


def make_corpus(*, listed_date: date, per_topic: int = 6) -> dict[str, list[Paper]]:
    return {
        topic: [make_topic_paper(topic, listed_date=listed_date, index=i) for i in range(per_topic)] for topic in TOPICS
    }
