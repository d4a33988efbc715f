"""The stored paper representation: fit it from the stored papers, keep vectors of recent papers, serve them.

``representation_fit`` runs offline (a beat task and ``manage.py fit_representation``): it fits on the stored
papers, saves the arrays as a new ``Representation`` version, gives every recent paper a vector under it and drops
versions older than the previous one. Papers ingested later get vectors from the current version after their
fetch, and ``paper_vectors`` fills in any that are still missing when asked (an old paper a reader voted on), so
callers never see a paper without one while a representation exists. No network, no model download: it works on
the embedded SQLite default as on PostgreSQL.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from digest.models import Paper, PaperVector, Representation
from digest.representation import (
    MAX_DIMS,
    FittedModel,
    RepresentationError,
    fit_texts,
    pack,
    paper_text,
    unpack,
)

logger = logging.getLogger(__name__)

# The newest papers are fitted on: enough for a stable vocabulary, bounded so a fit stays within minutes.
FIT_MAX_PAPERS = 50_000
# Papers listed (or in an edition) this recently get a vector at fit time; older ones only when asked for.
VECTOR_WINDOW_DAYS = 90
# The current version and the one before it: a send that started before a refit finishes under the old one.
KEEP_VERSIONS = 2
EMBED_BATCH = 1000
_MODEL_CACHE_SIZE = 2


@dataclass(frozen=True)
class FitOutcome:
    fitted: bool
    version: int | None = None
    dims: int = 0
    terms: int = 0
    papers: int = 0
    vectors: int = 0
    explained_variance: float = 0.0
    seconds: float = 0.0
    reason: str = ""

    def describe(self) -> str:
        if not self.fitted:
            return f"not fitted: {self.reason}"
        return (
            f"representation v{self.version}: {self.dims} dims over {self.terms} terms from {self.papers} papers "
            f"({self.explained_variance:.0%} of the tf-idf variance) in {self.seconds:.1f}s; {self.vectors} vectors"
        )


# --- Loading ----------------------------------------------------------------------------------------------------

# Keyed by version and fitting time: a database rebuilt from scratch (tests, a restored backup) reuses numbers.
_MODELS: OrderedDict[tuple[int, datetime], FittedModel] = OrderedDict()


def _load(key: tuple[int, datetime]) -> FittedModel | None:
    """The model of ``key``, read once per process (its arrays are megabytes); None if it was dropped."""
    model = _MODELS.get(key)
    if model is not None:
        _MODELS.move_to_end(key)
        return model
    row = Representation.objects.filter(version=key[0], fitted_at=key[1]).first()
    if row is None:
        return None
    terms = tuple(row.terms)
    model = FittedModel(
        terms=terms,
        idf=unpack(row.idf, shape=(len(terms),)),
        components=unpack(row.components, shape=(row.dims, len(terms))),
        analyzer=dict(row.analyzer),
        version=row.version,
    )
    _remember(key, model)
    return model


def _remember(key: tuple[int, datetime], model: FittedModel) -> None:
    _MODELS[key] = model
    while len(_MODELS) > _MODEL_CACHE_SIZE:
        _MODELS.popitem(last=False)


def current_model() -> FittedModel | None:
    """The newest representation: one small query, and the arrays once per process per version."""
    key = Representation.objects.order_by("-version").values_list("version", "fitted_at").first()
    return None if key is None else _load(key)


def embed_texts(texts: Sequence[str]) -> tuple[int, np.ndarray] | None:
    """(version, unit vectors) of free texts (keywords) under the current representation; None before any fit."""
    model = current_model()
    if model is None:
        return None
    return model.version, model.transform(texts)


# --- Fitting ----------------------------------------------------------------------------------------------------


def representation_fit(*, force: bool = False, max_dims: int = MAX_DIMS, today: date | None = None) -> FitOutcome:
    """Fit a new version from the stored papers, unless no paper was added since the current one (or ``force``)."""
    papers = Paper.objects.all()
    count = papers.count()
    newest = papers.aggregate(newest=Max("created_at"))["newest"]
    latest = Representation.objects.order_by("-version").first()
    if latest is not None and not force and latest.paper_count == count and latest.newest_paper_at == newest:
        return FitOutcome(fitted=False, version=latest.version, reason=f"no new paper since v{latest.version}")
    started = time.monotonic()
    rows = list(
        papers.order_by("-last_seen", "-pk").values_list("title", "abstract")[:FIT_MAX_PAPERS].iterator(chunk_size=2000)
    )
    try:
        model, explained = fit_texts([paper_text(title, abstract) for title, abstract in rows], max_dims=max_dims)
    except RepresentationError as exc:
        return FitOutcome(fitted=False, reason=str(exc))
    seconds = time.monotonic() - started
    with transaction.atomic():
        top = Representation.objects.select_for_update().aggregate(top=Max("version"))["top"] or 0
        try:
            row = Representation.objects.create(
                version=top + 1,
                dims=model.dims,
                paper_count=count,
                newest_paper_at=newest,
                terms=list(model.terms),
                idf=pack(model.idf),
                components=pack(model.components),
                analyzer=model.analyzer,
                explained_variance=explained,
                fit_seconds=seconds,
            )
        except IntegrityError:  # a concurrent fit took this version number: its result serves as well as ours
            return FitOutcome(fitted=False, reason="another fit finished at the same time")
    model = FittedModel(
        terms=model.terms, idf=model.idf, components=model.components, analyzer=model.analyzer, version=row.version
    )
    _remember((row.version, row.fitted_at), model)
    vectors = vectors_refresh(model=model, today=today)
    dropped = _drop_old_versions()
    logger.info("fitted representation v%s (%d dims, %d papers), dropped %d", row.version, model.dims, count, dropped)
    return FitOutcome(
        fitted=True,
        version=row.version,
        dims=model.dims,
        terms=len(model.terms),
        papers=len(rows),
        vectors=vectors,
        explained_variance=explained,
        seconds=time.monotonic() - started,
    )


def _drop_old_versions() -> int:
    keep = list(Representation.objects.order_by("-version").values_list("pk", flat=True)[:KEEP_VERSIONS])
    deleted, _ = Representation.objects.exclude(pk__in=keep).delete()
    return deleted


# --- Vectors ----------------------------------------------------------------------------------------------------


def _store(model: FittedModel, paper_ids: Sequence[int], texts: Sequence[str]) -> dict[int, np.ndarray]:
    representation_id = Representation.objects.filter(version=model.version).values_list("pk", flat=True).first()
    if representation_id is None:  # dropped by a newer fit meanwhile: nothing to attach the vectors to
        return {}
    matrix = model.transform(texts)
    PaperVector.objects.bulk_create(
        [
            PaperVector(paper_id=pk, representation_id=representation_id, vector=pack(vector))
            for pk, vector in zip(paper_ids, matrix, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["paper"],
        update_fields=["representation", "vector"],
    )
    return dict(zip(paper_ids, matrix, strict=True))


def _embed(model: FittedModel, papers: Iterable[tuple[int, str, str]]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    batch: list[tuple[int, str, str]] = []
    for row in [*papers, None]:
        if row is not None:
            batch.append(row)
        if batch and (row is None or len(batch) >= EMBED_BATCH):
            ids = [pk for pk, _, _ in batch]
            out.update(_store(model, ids, [paper_text(title, abstract) for _, title, abstract in batch]))
            batch = []
    return out


def vectors_refresh(*, model: FittedModel | None = None, today: date | None = None) -> int:
    """Give every recent paper (listed, or in an edition, in the last ``VECTOR_WINDOW_DAYS``) a current vector."""
    model = model or current_model()
    if model is None:
        return 0
    since = (today or timezone.now().date()) - timedelta(days=VECTOR_WINDOW_DAYS)
    recent = Paper.objects.filter(Q(last_seen__gte=since) | Q(edition_entries__edition__date__gte=since))
    missing = recent.exclude(vector__representation__version=model.version).distinct().order_by("pk")
    return len(_embed(model, missing.values_list("pk", "title", "abstract").iterator(chunk_size=EMBED_BATCH)))


@dataclass(frozen=True)
class PaperVectors:
    version: int
    dims: int
    by_paper: dict[int, np.ndarray]

    def matrix(self, paper_ids: Sequence[int]) -> np.ndarray:
        """(len(paper_ids), dims), in that order; zeros for a paper with no vector (deleted meanwhile)."""
        out = np.zeros((len(paper_ids), self.dims), dtype=np.float32)
        for row, pk in enumerate(paper_ids):
            vector = self.by_paper.get(pk)
            if vector is not None:
                out[row] = vector
        return out


def paper_vectors(*, paper_ids: Iterable[int], model: FittedModel | None = None) -> PaperVectors | None:
    """Current vectors of these papers, computing and storing any that are missing; None before any fit.

    Two queries when every vector exists, four when some must be computed, however many papers; one fewer when
    the caller passes the current ``model``.
    """
    model = model or current_model()
    if model is None:
        return None
    ids = sorted(set(paper_ids))
    rows = PaperVector.objects.filter(paper_id__in=ids, representation__version=model.version).values_list(
        "paper_id", "vector"
    )
    found = {pk: unpack(data, shape=(model.dims,)) for pk, data in rows}
    missing = [pk for pk in ids if pk not in found]
    if missing:
        found.update(_embed(model, Paper.objects.filter(pk__in=missing).values_list("pk", "title", "abstract")))
    return PaperVectors(version=model.version, dims=model.dims, by_paper=found)
