"""A paper representation fitted from text alone: tf-idf of title + abstract, reduced by truncated SVD.

Readers' profiles and "For you" need papers as vectors, and the service must work on the embedded default with no
network and no model download, so the representation is learnt from the papers the service has stored (latent
semantic analysis). This module is pure (texts in, arrays out, no database); ``digest.vectors`` stores and serves it.

A fitted model is kept without pickle, as what a transform needs: the vocabulary (terms in index order), the idf
weights and the SVD components (float32), and the analyzer's settings. Transforming text is counting its terms
over the fixed vocabulary, then sublinear tf x idf, l2 norm, projection on the components and l2 norm again: what
scikit-learn's ``TfidfVectorizer`` + ``TruncatedSVD`` do, rebuilt from those arrays (a test checks they agree).
Vectors are unit length, so a dot product is a cosine similarity; a text with no known term maps to zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

# scikit-learn and SciPy (about 100 MB resident) are imported where a fit or a text's transform needs them, not
# here: a sending worker loads this module for the type of a model and for stored vectors, and never transforms.

MAX_DIMS = 256
# The vocabulary cap bounds the stored components (dims x terms float32: 16 MiB at 256 x 16,384).
MAX_FEATURES = 16_384
# Fewer papers than this leave nothing to reduce: no model rather than a meaningless one.
MIN_PAPERS = 4
DTYPE = np.dtype("<f4")  # little-endian float32, whatever the machine, so stored bytes read back anywhere

# What the analyzer does; stored with each model so a transform tokenises exactly as the fit did.
ANALYZER: dict[str, Any] = {
    "lowercase": True,
    "strip_accents": "unicode",
    "stop_words": "english",
    "token_pattern": r"(?u)\b[^\W\d_][\w-]*\w\b",  # words of two or more characters starting with a letter
    "ngram_range": [1, 2],
}


class RepresentationError(Exception):
    """The papers cannot give a representation (too few, or no usable words); the message says why."""


@dataclass(frozen=True)
class FittedModel:
    """What transforming a text needs, and nothing else."""

    terms: tuple[str, ...]
    idf: np.ndarray  # (V,) float32
    components: np.ndarray  # (d, V) float32
    analyzer: dict[str, Any]
    version: int = 0
    _projection: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.components.shape[1] != len(self.terms) or self.idf.shape != (len(self.terms),):
            raise RepresentationError("the stored arrays do not match the vocabulary")
        # Transposed once, so each transform is one sparse x dense product.
        object.__setattr__(self, "_projection", np.ascontiguousarray(self.components.T, dtype=np.float32))

    @cached_property
    def _counter(self) -> CountVectorizer:
        # Made on the first transform (a frozen dataclass keeps a cached_property in its instance dict).
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(
            vocabulary={term: i for i, term in enumerate(self.terms)},
            lowercase=self.analyzer["lowercase"],
            strip_accents=self.analyzer["strip_accents"],
            stop_words=self.analyzer["stop_words"],
            token_pattern=self.analyzer["token_pattern"],
            ngram_range=tuple(self.analyzer["ngram_range"]),
            dtype=np.float32,
        )

    @property
    def dims(self) -> int:
        return int(self.components.shape[0])

    def tfidf(self, texts: Sequence[str]) -> sparse.csr_matrix:
        from sklearn.preprocessing import normalize

        counts = self._counter.transform(list(texts)).tocsr().astype(np.float32)
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf, as fitted
        weighted = counts.multiply(self.idf[np.newaxis, :]).tocsr()
        return normalize(weighted, norm="l2", copy=False)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32 unit rows; zeros for a text with no known term."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        reduced = np.asarray(self.tfidf(texts) @ self._projection, dtype=np.float32)
        return unit_rows(reduced)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1; all-zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 1e-12).astype(np.float32, copy=False)


def paper_text(title: str, abstract: str) -> str:
    # The title twice: it is the densest statement of what a paper is about, and abstracts are long.
    return f"{title}\n{title}\n{abstract}"


def fit_texts(texts: Sequence[str], *, max_dims: int = MAX_DIMS, seed: int = 0) -> tuple[FittedModel, float]:
    """Fit the representation on ``texts``; the model and the share of tf-idf variance its dimensions keep.

    Deterministic for the same texts and seed.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) < MIN_PAPERS:
        raise RepresentationError(f"{len(texts)} papers stored; at least {MIN_PAPERS} are needed to fit")
    many = len(texts) >= 50
    vectorizer = TfidfVectorizer(
        lowercase=ANALYZER["lowercase"],
        strip_accents=ANALYZER["strip_accents"],
        stop_words=ANALYZER["stop_words"],
        token_pattern=ANALYZER["token_pattern"],
        ngram_range=tuple(ANALYZER["ngram_range"]),
        # On a real corpus, a term in one paper only or in most of them says nothing about similarity.
        min_df=2 if many else 1,
        max_df=0.5 if many else 1.0,
        max_features=MAX_FEATURES,
        sublinear_tf=True,
        dtype=np.float32,
    )
    try:
        matrix = vectorizer.fit_transform(list(texts))
    except ValueError as exc:  # "empty vocabulary": only stop words, numbers or nothing at all
        raise RepresentationError(f"the papers have no usable words: {exc}") from exc
    dims = min(max_dims, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if dims < 2:
        raise RepresentationError(f"{matrix.shape[1]} distinct terms in {matrix.shape[0]} papers: too few to reduce")
    svd = TruncatedSVD(n_components=dims, algorithm="randomized", n_iter=5, random_state=seed)
    svd.fit(matrix)
    model = FittedModel(
        terms=tuple(vectorizer.get_feature_names_out().tolist()),
        idf=vectorizer.idf_.astype(DTYPE),
        components=svd.components_.astype(DTYPE),
        analyzer=dict(ANALYZER),
    )
    return model, float(svd.explained_variance_ratio_.sum())


# --- Bytes ------------------------------------------------------------------------------------------------------


def pack(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=DTYPE).tobytes()


def unpack(data: bytes | memoryview, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A float32 array from stored bytes (a copy: the database's buffer may not outlive the row)."""
    array = np.frombuffer(bytes(data), dtype=DTYPE).astype(np.float32)
    if shape is not None:
        if array.size != int(np.prod(shape)):
            raise RepresentationError(f"stored vector has {array.size} floats, expected shape {shape}")
        array = array.reshape(shape)
    return array
