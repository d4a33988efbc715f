"""A sending worker's memory is mostly what it imports: it must not load scikit-learn or SciPy (about 100 MB
resident), which only fitting the representation and transforming a text need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# What `celery -A config worker` imports before its first task, and the chunk path itself.
PROBE = """
import sys
import django
django.setup()
from config.celery import app
app.loader.import_default_modules()
import subscribers.delivery.chunk, subscribers.personal_parts, subscribers.profiles
print(" ".join(sorted({name.split(".")[0] for name in sys.modules} & {"sklearn", "scipy", "numpy"})))
"""


def test_a_worker_starts_without_scikit_learn_or_scipy():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # numpy (stored vectors, personal ranking) is expected; the probe really sees modules.
    assert done.stdout.split() == ["numpy"]


def test_a_transform_still_loads_them_when_needed():
    from digest.representation import fit_texts

    texts = [f"attention transformer {word} language model {word}" for word in ("alpha", "beta", "gamma", "delta")]
    model, _ = fit_texts(texts, max_dims=2)
    vectors = model.transform(["a transformer for language"])
    assert vectors.shape == (1, model.dims)
    assert abs(float((vectors**2).sum()) - 1.0) < 1e-5
