"""Text encoders from transformers (AutoModel + AutoTokenizer) and sentence-transformers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from semalign.encoders.base import EncoderBase, fingerprint_of, length_sorted_batches
from semalign.encoders.hf_common import display_name, hf_load, weights_identity
from semalign.encoders.runtime import autocast, resolve_precision, select_device
from semalign.errors import InputError

TEXT_POOLINGS = ("cls", "mean", "pooler", "projection")


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of token states over real tokens: (b, t, d), (b, t) -> (b, d)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


class HFTextEncoder(EncoderBase):
    """A transformers text model pooled to one vector per text.

    pooling: ``cls`` (first token), ``mean`` (masked mean of the last hidden states), ``pooler``
    (the model's pooler output), ``projection`` (the model's own projected text embedding, e.g.
    CXR-BERT's ``get_projected_text_embeddings``, which needs ``trust_remote_code``).
    Texts longer than ``max_length`` tokens are truncated. Batches are formed from texts of
    similar length (sorted), which changes no result and saves padding.
    """

    modality = "text"

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        pooling: str = "cls",
        max_length: int = 512,
        normalize: bool = False,
        prefix: str = "",
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        if pooling not in TEXT_POOLINGS:
            raise InputError(f"text pooling {pooling!r} is unknown: use one of {TEXT_POOLINGS}")
        self.name = name or model
        self.model_id = model
        shown = display_name(self.name, model)
        kw: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        self.tokenizer = hf_load(lambda: AutoTokenizer.from_pretrained(model, **kw), model, shown)
        self.model = hf_load(lambda: AutoModel.from_pretrained(model, **kw), model, shown)
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.model.to(self.device).eval()
        self.pooling, self.normalize, self.prefix = pooling, normalize, prefix
        limit = getattr(self.model.config, "max_position_embeddings", None) or max_length
        self.max_length = int(min(max_length, limit))
        if pooling == "projection":
            if not hasattr(self.model, "get_projected_text_embeddings"):
                raise InputError(
                    f"model {shown} has no projected text embedding: "
                    "use pooling cls, mean or pooler"
                )
            probe = self._forward(self.tokenizer(["x"], return_tensors="pt"))
            self.dim = int(probe.shape[-1])
        else:
            self.dim = int(self.model.config.hidden_size)
        self._identity = weights_identity(model, revision, self.model)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(
            {
                "backend": "transformers-text",
                "weights": self._identity,
                "pooling": self.pooling,
                "max_length": self.max_length,
                "normalize": self.normalize,
                "prefix": self.prefix,
                "precision": self.precision,
                "lowercase": bool(getattr(self.tokenizer, "do_lower_case", False)),
            }
        )

    def _forward(self, enc: Any) -> torch.Tensor:
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode(), autocast(self.device, self.precision):
            if self.pooling == "projection":
                return self.model.get_projected_text_embeddings(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                ).float()
            out = self.model(**enc)
            if self.pooling == "pooler":
                pooled = getattr(out, "pooler_output", None)
                if pooled is None:
                    raise InputError(
                        f"model {self.name!r} has no pooler output: use pooling cls or mean"
                    )
                return pooled.float()
            hidden = out.last_hidden_state.float()
            if self.pooling == "cls":
                return hidden[:, 0]
            return mean_pool(hidden, enc["attention_mask"])

    def _embed_valid(self, items: Sequence[Any], batch_size: int) -> np.ndarray:
        texts = [self.prefix + t for t in items]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for rows in length_sorted_batches(texts, batch_size):
            enc = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            vec = self._forward(enc)
            if self.normalize:
                vec = torch.nn.functional.normalize(vec, dim=-1)
            out[rows] = vec.cpu().numpy()
        return out


class SentenceTransformerEncoder(EncoderBase):
    """A sentence-transformers model, used through its own ``encode`` (its pooling and head)."""

    modality = "text"

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        normalize: bool = False,
        prefix: str = "",
        max_length: int | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        device: str = "auto",
        precision: str = "float32",
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name or model
        self.model_id = model
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.model = hf_load(
            lambda: SentenceTransformer(
                model,
                device=str(self.device),
                revision=revision,
                trust_remote_code=trust_remote_code,
            ),
            model,
            display_name(self.name, model),
        )
        if max_length is not None:
            self.model.max_seq_length = max_length
        if self.precision != "float32":
            self.model.to(torch.float16 if self.precision == "float16" else torch.bfloat16)
        self.normalize, self.prefix = normalize, prefix
        get_dim = getattr(self.model, "get_embedding_dimension", None)
        dim = get_dim() if get_dim else self.model.get_sentence_embedding_dimension()
        if dim is None:
            raise InputError(f"sentence-transformers model {model!r} does not state its dimension")
        self.dim = int(dim)
        first = self.model[0]
        self._identity = weights_identity(model, revision, getattr(first, "auto_model", None))

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(
            {
                "backend": "sentence-transformers",
                "weights": self._identity,
                "modules": [type(m).__name__ for m in self.model],
                "max_length": self.model.max_seq_length,
                "normalize": self.normalize,
                "prefix": self.prefix,
                "precision": self.precision,
            }
        )

    def _embed_valid(self, items: Sequence[Any], batch_size: int) -> np.ndarray:
        out = self.model.encode(
            [self.prefix + t for t in items],
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)
