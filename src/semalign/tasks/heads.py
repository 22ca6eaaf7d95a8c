"""Classifier heads on embeddings: logistic regression (numpy/scipy) and a torch linear probe / MLP.

Both heads share one representation, a stack of dense layers applied to standardised features
(``(x - mean_) / scale_``), with ReLU between layers, so prediction is plain numpy and a saved head
loads without torch. Two tasks:

  multi-class   ``y`` (n,) any class keys; softmax over ``classes_``; ``predict`` gives class keys.
  multi-label   ``y`` (n, L) in {1, 0} (``mask`` (n, L) False for entries to skip, e.g. uncertain
                or missing labels); one sigmoid per label (one-vs-rest), ``predict`` gives 0/1.

``class_weight="balanced"`` weighs classes (or each label's positives and negatives) inversely to
their frequency, as scikit-learn does. Heads are saved as safetensors with their metadata (task,
classes or label names, encoder, dimensions, hyper-parameters) in the header; never pickle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semalign.artefacts import read_artefact, write_artefact
from semalign.errors import FormatError, InputError, SemalignError

__all__ = ["Head", "LogisticHead", "MLPHead", "MajorityHead", "load_head"]

Float = NDArray[np.float64]
FORMAT = "semalign.head"
FORMAT_VERSION = 1


def _features(x: Any, name: str = "X", width: int | None = None) -> Float:
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"{name} has shape {arr.shape}: pass embeddings of shape (n, d)")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or Inf: drop or repair those rows first")
    if width is not None and arr.shape[1] != width:
        raise InputError(
            f"{name} has {arr.shape[1]} columns but the head expects {width}: pass embeddings "
            "from the space the head was trained on (or map them there first)"
        )
    return arr


DEAD_RTOL = 1e-5
"""A column whose standard deviation is below this fraction of the largest one is constant."""


def feature_scale(sd: Float) -> Float:
    """Standardisation scale (d,) from column standard deviations ``sd`` (d,).

    A column with ``sd <= DEAD_RTOL * max(sd)`` holds only rounding noise (MiniLM has such
    dimensions: std 8e-9 beside a median of 0.04) and keeps scale 1. Dividing by its tiny std
    would blow any other input up by ~1e7 there: a head applied to another encoder's rows
    (naive stitching) then gave logits ~1e6 and one-hot probabilities.
    """
    floor = DEAD_RTOL * float(sd.max(initial=0.0))
    out: Float = np.where(sd > floor, sd, 1.0)
    return out


def _softmax(z: Float) -> Float:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: Float = e / e.sum(axis=1, keepdims=True)
    return out


def _sigmoid(z: Float) -> Float:
    out: Float = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


class Head:
    """A fitted head: dense layers on standardised features. Use a subclass to fit one.

    Fitted attributes: ``task_`` ("multiclass" or "multilabel"), ``classes_`` (K,) class keys or
    ``label_names_`` (L,), ``mean_``/``scale_`` (d,), ``layers_`` [(W (d_in, d_out), b)],
    ``n_features_in_``.
    """

    kind = "head"
    task_: str
    classes_: NDArray[Any]
    label_names_: list[str]
    mean_: Float
    scale_: Float
    layers_: list[tuple[Float, Float]]
    n_features_in_: int

    def __init__(self) -> None:
        self.encoder: str | None = None

    # -- fitting helpers shared by subclasses ---------------------------------------------------
    def _prepare(
        self,
        X: Any,
        y: Any,
        mask: Any,
        label_names: Sequence[str] | None,
        standardize: bool,
        class_weight: str | Mapping[Any, float] | None,
    ) -> tuple[Float, Float, Float]:
        """Standardised X, targets T (n, K) and per-entry weights W (n, K)."""
        x = _features(X)
        yy = np.asarray(y)
        if yy.shape[0] != x.shape[0]:
            raise InputError(f"X has {x.shape[0]} rows but y {yy.shape[0]}: pass one label per row")
        self.n_features_in_ = x.shape[1]
        if standardize:
            self.mean_ = x.mean(axis=0)
            self.scale_ = feature_scale(x.std(axis=0))
        else:
            self.mean_, self.scale_ = np.zeros(x.shape[1]), np.ones(x.shape[1])
        xs = (x - self.mean_) / self.scale_
        if yy.ndim == 1:
            self.task_ = "multiclass"
            self.classes_, idx = np.unique(yy, return_inverse=True)
            if self.classes_.size < 2:
                only = str(self.classes_.tolist()[0]) if self.classes_.size else "no rows"
                raise InputError(f"y holds one class only ('{only}'): need two or more classes")
            k = self.classes_.size
            t = np.eye(k)[idx]
            counts = np.bincount(idx, minlength=k).astype(np.float64)
            if class_weight is None:
                cw = np.ones(k)
            elif class_weight == "balanced":
                cw = x.shape[0] / (k * counts)
            elif isinstance(class_weight, Mapping):
                cw = np.array([float(class_weight.get(c, 1.0)) for c in self.classes_.tolist()])
            else:
                raise InputError(f"class_weight={class_weight!r}: use None, 'balanced' or a dict")
            w = np.repeat(cw[idx][:, None], k, axis=1)
            self.label_names_ = [str(c) for c in self.classes_.tolist()]
        elif yy.ndim == 2:
            self.task_ = "multilabel"
            t = np.asarray(yy, dtype=np.float64)
            m = np.ones(t.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
            m = m & ~np.isnan(t)
            t = np.nan_to_num(t)
            if m.shape != t.shape:
                raise InputError(f"mask has shape {m.shape} but y {t.shape}: they must match")
            if not np.isin(t[m], (0.0, 1.0)).all():
                raise InputError(
                    "multi-label y must hold 0/1 where unmasked: apply an uncertainty policy "
                    "first (semalign.metrics.mask_labels)"
                )
            w = m.astype(np.float64)
            if class_weight == "balanced":
                pos = (t * m).sum(axis=0)
                neg = m.sum(axis=0) - pos
                n_j = m.sum(axis=0)
                wp = np.where(pos > 0, n_j / (2 * np.maximum(pos, 1)), 0.0)
                wn = np.where(neg > 0, n_j / (2 * np.maximum(neg, 1)), 0.0)
                w = w * np.where(t == 1, wp, wn)
            elif class_weight is not None:
                raise InputError(f"class_weight={class_weight!r}: use None or 'balanced'")
            self.classes_ = np.array([0, 1])
            names = list(label_names) if label_names is not None else None
            self.label_names_ = names or [str(j) for j in range(t.shape[1])]
            if len(self.label_names_) != t.shape[1]:
                raise InputError(
                    f"label_names has {len(self.label_names_)} names for {t.shape[1]} columns"
                )
        else:
            raise InputError(f"y has shape {yy.shape}: pass (n,) classes or (n, L) binary labels")
        return xs, t, w

    # -- prediction ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "layers_"):
            raise SemalignError(f"this {type(self).__name__} is not fitted: call fit first")

    def decision_function(self, X: Any) -> Float:
        """Logits (n, K) for multi-class or (n, L) for multi-label."""
        self._check_fitted()
        h = (_features(X, width=self.n_features_in_) - self.mean_) / self.scale_
        for i, (w, b) in enumerate(self.layers_):
            h = h @ w + b
            if i < len(self.layers_) - 1:
                h = np.maximum(h, 0.0)
        return h

    def predict_proba(self, X: Any) -> Float:
        """Class probabilities (n, K) (softmax) or per-label probabilities (n, L) (sigmoid)."""
        z = self.decision_function(X)
        return _softmax(z) if self.task_ == "multiclass" else _sigmoid(z)

    def predict(self, X: Any, threshold: float = 0.5) -> NDArray[Any]:
        """Class keys (n,) (multi-class) or 0/1 (n, L) at ``threshold`` (multi-label)."""
        p = self.predict_proba(X)
        if self.task_ == "multiclass":
            out: NDArray[Any] = self.classes_[p.argmax(axis=1)]
            return out
        return (p >= threshold).astype(np.int64)

    def class_index(self, y: Any) -> NDArray[np.int64]:
        """Indices into ``classes_`` of class keys ``y`` (n,); unknown keys are an error."""
        yy = np.asarray(y)
        pos = np.searchsorted(self.classes_, yy)
        pos = np.clip(pos, 0, self.classes_.size - 1)
        bad = self.classes_[pos] != yy
        if np.any(bad):
            raise InputError(
                f"label '{yy[bad].tolist()[0]}' is not a class of the head (its classes: "
                f"{', '.join(self.label_names_)}): score it with labels the head was trained on"
            )
        return pos.astype(np.int64)

    # -- persistence ---------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Hyper-parameters (JSON-serialisable), saved in the header."""
        return {}

    def to_torch(self) -> Any:
        """The head as a ``torch.nn.Module`` mapping raw (unstandardised) features to logits."""
        import torch

        self._check_fitted()
        return _TorchHeadModule.build(self, torch)

    def payload(
        self, *, encoder: str | None = None, extra: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Float], dict[str, str]]:
        """The tensors and header metadata that represent this fitted head."""
        from semalign import __version__

        self._check_fitted()
        tensors = {
            "mean": np.ascontiguousarray(self.mean_),
            "scale": np.ascontiguousarray(self.scale_),
        }
        for i, (w, b) in enumerate(self.layers_):
            tensors[f"layer{i}.weight"] = np.ascontiguousarray(w, dtype=np.float64)
            tensors[f"layer{i}.bias"] = np.ascontiguousarray(b, dtype=np.float64)
        enc = encoder if encoder is not None else self.encoder
        meta = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "kind": self.kind,
            "task": self.task_,
            "classes": json.dumps(self.classes_.tolist()),
            "label_names": json.dumps(self.label_names_),
            "d_in": str(self.n_features_in_),
            "n_layers": str(len(self.layers_)),
            "params": json.dumps(self.params(), sort_keys=True),
            "encoder": enc or "",
            "semalign_version": __version__,
            **dict(extra or {}),
        }
        return tensors, meta

    def save(
        self,
        path: str | Path,
        *,
        encoder: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Path:
        """Write the head to ``path`` (``.safetensors``) atomically, with its checksum."""
        path = Path(path)
        if path.suffix != ".safetensors":
            raise InputError(f"head path {path} must end in .safetensors")
        tensors, meta = self.payload(encoder=encoder, extra=extra)
        return write_artefact(path, tensors, meta)


class LogisticHead(Head):
    """L2-regularised logistic regression: softmax (multi-class) or one sigmoid per label.

    Minimises ``sum_i w_i * cross_entropy_i + ||W||² / (2 C)`` with L-BFGS (the bias is not
    penalised), the scikit-learn objective, on standardised features when ``standardize``.
    """

    kind = "logistic"

    def __init__(
        self,
        C: float = 1.0,
        *,
        class_weight: str | Mapping[Any, float] | None = None,
        standardize: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-8,
    ) -> None:
        super().__init__()
        if not C > 0:
            raise InputError(f"C={C}: the inverse regularisation strength must be positive")
        self.C = C
        self.class_weight = class_weight
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol

    def params(self) -> dict[str, Any]:
        cw = self.class_weight if not isinstance(self.class_weight, Mapping) else "dict"
        return {"C": self.C, "class_weight": cw, "standardize": self.standardize}

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        mask: Any = None,
        label_names: Sequence[str] | None = None,
    ) -> LogisticHead:
        """Fit on X (n, d) and y (n,) classes or (n, L) binary labels (``mask`` (n, L))."""
        from scipy.optimize import minimize
        from threadpoolctl import threadpool_limits

        x, t, w = self._prepare(X, y, mask, label_names, self.standardize, self.class_weight)
        d, k = x.shape[1], t.shape[1]
        multiclass = self.task_ == "multiclass"
        wrow = w[:, 0]
        # the objective divided by the total sample weight: the same minimiser, with gradients of
        # order one whatever n, so that ``tol`` bounds the projected gradient in a scale-free way
        total = float(w.sum()) if not multiclass else float(wrow.sum())
        total = total if total > 0 else 1.0

        def loss(theta: Float) -> tuple[float, Float]:
            W, b = theta[: d * k].reshape(d, k), theta[d * k :]
            z = x @ W + b
            if multiclass:
                zmax = z.max(axis=1, keepdims=True)
                lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
                f = float(np.sum(wrow * (lse - np.sum(z * t, axis=1))))
                g = wrow[:, None] * (_softmax(z) - t)
            else:
                f = float(np.sum(w * (np.logaddexp(0.0, z) - t * z)))
                g = w * (_sigmoid(z) - t)
            f += float(np.sum(W * W)) / (2.0 * self.C)
            grad = np.concatenate([(x.T @ g + W / self.C).ravel(), g.sum(axis=0)])
            return f / total, grad / total

        # hundreds of small BLAS calls between L-BFGS steps: waking OpenBLAS threads for each
        # costs ~10x the work itself, so the solve runs single-threaded
        with threadpool_limits(limits=1, user_api="blas"):
            res = minimize(
                loss,
                np.zeros(d * k + k),
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": self.max_iter, "gtol": self.tol, "ftol": 1e-12},
            )
        self.n_iter_ = int(res.nit)
        self.layers_ = [(res.x[: d * k].reshape(d, k).copy(), res.x[d * k :].copy())]
        return self


class MajorityHead(Head):
    """The floor of a task: the same logits for every row, the training labels' log-frequencies.

    Multi-class: ``log(n_c / n)`` per class, so ``predict`` always answers the most frequent
    training class (the first in ``classes_`` order on a tie). Multi-label: per label the log-odds
    ``log((pos + 1/2) / (neg + 1/2))`` of its unmasked training entries, so each label gets its
    majority value (1 on a tie). The features are read only for their shape.
    """

    kind = "majority"

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        mask: Any = None,
        label_names: Sequence[str] | None = None,
    ) -> MajorityHead:
        """Fit on y (n,) classes or (n, L) binary labels (``mask`` (n, L)); X (n, d) any rows."""
        x, t, w = self._prepare(X, y, mask, label_names, False, None)
        if self.task_ == "multiclass":
            bias = np.log(t.sum(axis=0) / t.shape[0])
        else:
            pos = (t * w).sum(axis=0)
            bias = np.log((pos + 0.5) / (w.sum(axis=0) - pos + 0.5))
        self.layers_ = [(np.zeros((x.shape[1], t.shape[1])), bias)]
        return self


class MLPHead(Head):
    """A torch linear probe (``hidden=()``) or small MLP (``hidden=(256,)``), trained with AdamW.

    Cross-entropy (multi-class) or masked binary cross-entropy (multi-label), with class weights;
    deterministic for a given ``seed`` on CPU. Needs torch to fit, not to predict.
    """

    kind = "mlp"

    def __init__(
        self,
        hidden: Sequence[int] = (),
        *,
        epochs: int = 100,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        dropout: float = 0.0,
        class_weight: str | Mapping[Any, float] | None = None,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.hidden = tuple(int(h) for h in hidden)
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.dropout = dropout
        self.class_weight = class_weight
        self.standardize = standardize
        self.seed = seed

    def params(self) -> dict[str, Any]:
        cw = self.class_weight if not isinstance(self.class_weight, Mapping) else "dict"
        return {
            "hidden": list(self.hidden),
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "batch_size": self.batch_size,
            "dropout": self.dropout,
            "class_weight": cw,
            "standardize": self.standardize,
            "seed": self.seed,
        }

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        mask: Any = None,
        label_names: Sequence[str] | None = None,
    ) -> MLPHead:
        """Fit on X (n, d) and y (n,) classes or (n, L) binary labels (``mask`` (n, L))."""
        import torch

        x, t, w = self._prepare(X, y, mask, label_names, self.standardize, self.class_weight)
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        widths = [x.shape[1], *self.hidden, t.shape[1]]
        mods: list[Any] = []
        for i in range(len(widths) - 1):
            mods.append(torch.nn.Linear(widths[i], widths[i + 1], dtype=torch.float64))
            if i < len(widths) - 2:
                mods.append(torch.nn.ReLU())
                if self.dropout > 0:
                    mods.append(torch.nn.Dropout(self.dropout))
        net = torch.nn.Sequential(*mods)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        xt, tt, wt = (torch.from_numpy(a) for a in (x, t, w))
        n = x.shape[0]
        multiclass = self.task_ == "multiclass"
        net.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                z = net(xt[idx])
                if multiclass:
                    per = -(tt[idx] * torch.log_softmax(z, dim=1)).sum(dim=1)
                    wi = wt[idx, 0]
                    lossv = (wi * per).sum() / wi.sum()
                else:
                    bce = torch.nn.functional.binary_cross_entropy_with_logits(
                        z, tt[idx], reduction="none"
                    )
                    lossv = (wt[idx] * bce).sum() / (wt[idx] > 0).sum().clamp(min=1)
                opt.zero_grad()
                lossv.backward()
                opt.step()
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        self.layers_ = [
            (m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears
        ]
        return self


class _TorchHeadModule:
    """Builds a torch module equal to ``Head.decision_function`` (kept out of import time)."""

    @staticmethod
    def build(head: Head, torch: Any) -> Any:
        class HeadModule(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.register_buffer("mean", torch.from_numpy(head.mean_.copy()))
                self.register_buffer("scale", torch.from_numpy(head.scale_.copy()))
                self.layers = torch.nn.ModuleList()
                for w, b in head.layers_:
                    lin = torch.nn.Linear(w.shape[0], w.shape[1], dtype=torch.float64)
                    with torch.no_grad():
                        lin.weight.copy_(torch.from_numpy(w.T.copy()))
                        lin.bias.copy_(torch.from_numpy(b.copy()))
                    self.layers.append(lin)

            def forward(self, x: Any) -> Any:
                h = (x.to(torch.float64) - self.mean) / self.scale
                for i, lin in enumerate(self.layers):
                    h = lin(h)
                    if i < len(self.layers) - 1:
                        h = torch.relu(h)
                return h

        return HeadModule()


def load_head(path: str | Path) -> Head:
    """Load a head written by :meth:`Head.save` (checksum verified, see
    :func:`semalign.artefacts.read_artefact`); predicts with numpy, no torch needed."""
    tensors, meta = read_artefact(
        path,
        fmt=FORMAT,
        version=FORMAT_VERSION,
        what="head",
        remedy="'semalign stitch head' or Head.save",
    )
    return head_from_payload(tensors, meta, str(path))


def head_from_payload(tensors: dict[str, Float], meta: dict[str, str], origin: str) -> Head:
    """Rebuild a head from :meth:`Head.payload` output; ``origin`` names it in errors."""
    path = origin
    if meta.get("format") != FORMAT:
        raise FormatError(f"{path} is not a semalign head (format {meta.get('format')!r})")
    if int(meta.get("format_version", "0")) > FORMAT_VERSION:
        raise FormatError(f"{path} has a newer head format than this semalign reads: upgrade")
    kinds: dict[str, type[Head]] = {
        "logistic": LogisticHead, "mlp": MLPHead, "majority": MajorityHead,
    }  # fmt: skip
    cls = kinds.get(meta.get("kind", ""), Head)
    head = cls.__new__(cls)
    Head.__init__(head)
    head.encoder = meta.get("encoder") or None
    head.task_ = meta["task"]
    head.classes_ = np.asarray(json.loads(meta["classes"]))
    head.label_names_ = list(json.loads(meta["label_names"]))
    head.n_features_in_ = int(meta["d_in"])
    head.mean_, head.scale_ = tensors["mean"], tensors["scale"]
    head.layers_ = [
        (tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"])
        for i in range(int(meta["n_layers"]))
    ]
    params = json.loads(meta.get("params", "{}"))
    for key, value in params.items():
        setattr(head, key, tuple(value) if key == "hidden" else value)
    head.metadata = meta  # type: ignore[attr-defined]
    return head
