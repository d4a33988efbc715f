from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from digest import vectors as vectors_module
from digest.models import PaperVector, Representation
from digest.representation import (
    ANALYZER,
    FittedModel,
    RepresentationError,
    fit_texts,
    pack,
    paper_text,
    unpack,
)
from digest.vectors import current_model, paper_vectors, representation_fit, vectors_refresh
from tests.corpus import TOPICS, make_corpus, make_topic_paper, topic_text
from tests.factories import make_paper

DAY = date(2025, 3, 14)


def _texts(per_topic: int = 6) -> list[str]:
    return [paper_text(*topic_text(topic, n)) for topic in TOPICS for n in range(per_topic)]


def test_the_stored_arrays_transform_exactly_as_scikit_learn_fitted():
    texts = _texts()
    model, _ = fit_texts(texts, max_dims=8)
    vectorizer = TfidfVectorizer(
        lowercase=True,
        strip_accents="unicode",
        stop_words="english",
        token_pattern=ANALYZER["token_pattern"],
        ngram_range=(1, 2),
        sublinear_tf=True,
    )
    matrix = vectorizer.fit_transform(texts)
    reference = TruncatedSVD(n_components=8, algorithm="randomized", n_iter=5, random_state=0).fit_transform(matrix)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.allclose(model.transform(texts), reference, atol=1e-4)
    # Rebuilt from nothing but what the database keeps (bytes and a list of terms), it still agrees.
    rebuilt = FittedModel(
        terms=tuple(model.terms),
        idf=unpack(pack(model.idf), shape=(len(model.terms),)),
        components=unpack(pack(model.components), shape=(model.dims, len(model.terms))),
        analyzer=dict(model.analyzer),
    )
    assert np.array_equal(rebuilt.transform(texts), model.transform(texts))


def test_papers_on_one_topic_are_closer_to_each_other_than_to_other_topics():
    texts = _texts()
    # Fewer dimensions than papers: the reduction has to group what belongs together.
    model, _ = fit_texts(texts, max_dims=8)
    vectors = model.transform(texts).reshape(len(TOPICS), 6, -1)
    within = np.mean([vectors[t, 0] @ vectors[t, i] for t in range(len(TOPICS)) for i in range(1, 6)])
    across = np.mean([vectors[t, 0] @ vectors[u, 0] for t in range(len(TOPICS)) for u in range(len(TOPICS)) if t != u])
    assert within > across + 0.3
    assert not model.transform(["no known word here zzz"]).any()


def test_too_few_papers_or_no_words_is_a_clear_error():
    with pytest.raises(RepresentationError, match="at least 4"):
        fit_texts(["one paper", "two papers"])
    with pytest.raises(RepresentationError, match="no usable words"):
        fit_texts(["the of and", "a an the", "12 34", "of of of"])


def test_stored_vectors_of_the_wrong_size_are_refused():
    with pytest.raises(RepresentationError, match="expected shape"):
        unpack(pack(np.ones(5, dtype=np.float32)), shape=(6,))


@pytest.mark.django_db
def test_fit_stores_a_version_and_gives_recent_papers_vectors(settings):
    corpus = make_corpus(listed_date=DAY)
    outcome = representation_fit(today=DAY)
    assert outcome.fitted and outcome.version == 1 and outcome.papers == 24
    row = Representation.objects.get()
    assert row.dims == outcome.dims and len(bytes(row.components)) == row.dims * len(row.terms) * 4
    assert PaperVector.objects.count() == 24
    stored = PaperVector.objects.get(paper=corpus["protein"][0])
    assert len(bytes(stored.vector)) == row.dims * 4
    # A fresh process reads the model back from the database and transforms as the fit did.
    vectors_module._MODELS.clear()
    assert np.allclose(
        unpack(stored.vector), current_model().transform([paper_text(stored.paper.title, stored.paper.abstract)])[0]
    )


@pytest.mark.django_db
def test_refit_only_when_papers_were_added_and_only_two_versions_are_kept():
    make_corpus(listed_date=DAY)
    assert representation_fit(today=DAY).version == 1
    again = representation_fit(today=DAY)
    assert not again.fitted and "no new paper" in again.reason
    make_topic_paper("robots", listed_date=DAY)
    assert representation_fit(today=DAY).version == 2
    assert representation_fit(today=DAY, force=True).version == 3
    assert sorted(Representation.objects.values_list("version", flat=True)) == [2, 3]
    assert set(PaperVector.objects.values_list("representation__version", flat=True)) == {3}


@pytest.mark.django_db
def test_new_and_old_papers_get_vectors_from_the_current_model():
    corpus = make_corpus(listed_date=DAY)
    representation_fit(today=DAY)
    new = make_topic_paper("diffusion", listed_date=DAY)
    assert vectors_refresh(today=DAY) == 1
    assert PaperVector.objects.filter(paper=new).exists()
    # A paper outside the recent window has none until someone asks for it; then it is computed and kept.
    old = make_paper(title="Denoising diffusion image generation", abstract="A latent diffusion sampler.")
    assert not PaperVector.objects.filter(paper=old).exists()
    found = paper_vectors(paper_ids=[old.pk, new.pk])
    assert set(found.by_paper) == {old.pk, new.pk}
    assert PaperVector.objects.filter(paper=old).exists()
    others = paper_vectors(paper_ids=[p.pk for p in corpus["protein"] + corpus["robots"]])
    assert found.by_paper[old.pk] @ found.by_paper[new.pk] > max(
        found.by_paper[old.pk] @ v for v in others.by_paper.values()
    )


@pytest.mark.django_db
def test_no_representation_before_the_first_fit():
    assert current_model() is None and paper_vectors(paper_ids=[1]) is None and vectors_refresh() == 0


@pytest.mark.django_db
def test_fit_command(capsys):
    with pytest.raises(CommandError, match="at least 4"):
        call_command("fit_representation")
    make_corpus(listed_date=DAY)
    call_command("fit_representation", "--dims", "8")
    assert "representation v1: 8 dims" in capsys.readouterr().out
    call_command("fit_representation")
    assert "no new paper since v1" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--dims"):
        call_command("fit_representation", "--dims", "1000")
