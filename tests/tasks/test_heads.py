"""Heads: logistic regression against scikit-learn, class weighting, torch MLP, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from semalign.errors import FormatError, InputError
from semalign.tasks.heads import LogisticHead, MLPHead, load_head


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = rng.normal(size=(300, 10)) + 1.2 * np.eye(3, 10)[y] * 2
    return x, y


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_logistic_matches_sklearn_multiclass(blobs, class_weight) -> None:
    x, y = blobs
    y = np.where(y == 2, 1, y)  # imbalanced two-to-one
    y[:40] = 2
    head = LogisticHead(C=0.3, class_weight=class_weight).fit(x, y)
    xs = StandardScaler().fit_transform(x)
    ref = LogisticRegression(C=0.3, class_weight=class_weight, tol=1e-10, max_iter=10_000)
    ref.fit(xs, y)
    np.testing.assert_allclose(head.predict_proba(x), ref.predict_proba(xs), atol=2e-5)


def test_logistic_multilabel_masked_matches_sklearn_per_label(blobs) -> None:
    x, y = blobs
    rng = np.random.default_rng(1)
    labels = np.stack([y == 0, y == 1], axis=1).astype(float)
    mask = rng.random(labels.shape) > 0.2
    head = LogisticHead(C=2.0, class_weight="balanced").fit(x, labels, mask=mask)
    xs = StandardScaler().fit_transform(x)
    for j in range(2):
        keep = mask[:, j]
        ref = LogisticRegression(C=2.0, class_weight="balanced", tol=1e-10, max_iter=10_000)
        ref.fit(xs[keep], labels[keep, j])
        np.testing.assert_allclose(
            head.predict_proba(x)[:, j], ref.predict_proba(xs)[:, 1], atol=2e-5
        )


def test_balanced_weighting_raises_minority_recall() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.05).astype(int)
    x = rng.normal(size=(2000, 5)) + 0.8 * y[:, None]
    plain = LogisticHead().fit(x, y).predict(x)
    weighted = LogisticHead(class_weight="balanced").fit(x, y).predict(x)
    recall = lambda p: np.mean(p[y == 1] == 1)  # noqa: E731
    assert recall(weighted) > recall(plain) + 0.3


@pytest.mark.parametrize("hidden", [(), (32,)])
def test_mlp_learns_and_is_seeded(blobs, hidden) -> None:
    x, y = blobs
    a = MLPHead(hidden, epochs=60, lr=1e-2, seed=5).fit(x, y)
    b = MLPHead(hidden, epochs=60, lr=1e-2, seed=5).fit(x, y)
    assert np.mean(a.predict(x) == y) > 0.8
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))


def test_mlp_multilabel_ignores_masked_entries(blobs) -> None:
    x, y = blobs
    labels = np.stack([y == 0, y == 1], axis=1).astype(float)
    mask = np.ones_like(labels, dtype=bool)
    corrupted = labels.copy()
    corrupted[:150, 0] = 1 - corrupted[:150, 0]
    mask[:150, 0] = False
    a = MLPHead(epochs=40, lr=1e-2).fit(x, corrupted, mask=mask)
    b = MLPHead(epochs=40, lr=1e-2).fit(x, np.where(mask, labels, 0.0), mask=mask)
    np.testing.assert_allclose(a.predict_proba(x), b.predict_proba(x), atol=1e-12)


@pytest.mark.parametrize(
    "make", [lambda: LogisticHead(C=0.5), lambda: MLPHead((16,), epochs=20)], ids=["lr", "mlp"]
)
def test_save_load_round_trip(blobs, make, tmp_path: Path) -> None:
    x, y = blobs
    names = np.array(["Atelectasis", "Cardiomegaly", "Edema"])[y]
    head = make().fit(x, names)
    path = head.save(tmp_path / "head.safetensors", encoder="rad-dino")
    loaded = load_head(path)
    assert type(loaded) is type(head)
    np.testing.assert_array_equal(loaded.predict_proba(x), head.predict_proba(x))
    np.testing.assert_array_equal(loaded.predict(x), head.predict(x))
    assert loaded.encoder == "rad-dino" and loaded.label_names_ == list(head.classes_)
    assert loaded.params() == head.params()
    assert b"pickle" not in path.read_bytes()[:4096]


def test_to_torch_equals_numpy(blobs) -> None:
    torch = pytest.importorskip("torch")
    x, y = blobs
    head = MLPHead((8,), epochs=5).fit(x, y)
    out = head.to_torch()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, head.decision_function(x), atol=1e-12)


def test_errors_name_the_input(blobs, tmp_path: Path) -> None:
    x, y = blobs
    head = LogisticHead().fit(x, y)
    with pytest.raises(InputError, match="has 3 columns but the head expects 10"):
        head.predict(x[:, :3])
    with pytest.raises(InputError, match="one class only"):
        LogisticHead().fit(x, np.zeros(len(x)))
    with pytest.raises(InputError, match="uncertainty policy"):
        LogisticHead().fit(x, np.full((len(x), 2), -1.0))
    other = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3)}, str(other), metadata={"format": "semalign.aligner"})
    with pytest.raises(FormatError, match="not a semalign head"):
        load_head(other)
    with pytest.raises(InputError, match="does not exist"):
        load_head(tmp_path / "missing.safetensors")


def test_dead_column_does_not_blow_up_foreign_inputs() -> None:
    """Issue 10: a column of rounding noise (std 1e-8, as MiniLM has) was standardised by its
    tiny std, so another encoder's rows fed to the head (naive stitching) got logits ~1e6.
    Oracle: the same head fitted without that column, on the same foreign rows."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 400)
    live = rng.normal(size=(400, 6)) + 1.5 * np.eye(3, 6)[y]
    dead = 1e-8 * rng.normal(size=(400, 1))
    x = np.hstack([live, dead])
    foreign = np.hstack([rng.normal(size=(50, 6)), np.full((50, 1), 0.1)])
    with_dead = LogisticHead().fit(x, y)
    without = LogisticHead().fit(live, y)
    z = with_dead.decision_function(foreign)
    assert np.abs(z).max() < 50
    np.testing.assert_allclose(z, without.decision_function(foreign[:, :6]), atol=1e-4)
