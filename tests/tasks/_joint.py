"""Planted joint structure for zero-shot and retrieval: shared class centres, two random maps.

Items have a latent z = centre[y] + noise. An "image encoder" sees z through one random linear
map, a "text encoder" through another (plus an offset); reports are items seen by the text
encoder, and prompts are class centres seen by it. ``embed_text`` is a deterministic text
embedding: a prompt naming class c is embedded at c's centre, "no c" at the mean of the other
centres, a sentence naming no class at the mean of all centres, each with a small jitter seeded by
the prompt's text.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

CLASSES = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]


@dataclass
class Joint:
    images: np.ndarray  # (n, d_img)
    texts: np.ndarray  # (n, d_txt) paired reports
    joint_images: np.ndarray  # (n, d_txt) images already in the text space (a dual encoder)
    y: np.ndarray  # (n,) class indices
    names: np.ndarray  # (n,) class names
    test: np.ndarray
    centres: np.ndarray
    text_map: np.ndarray
    offset: np.ndarray

    def embed_text(self, prompts: list[str]) -> np.ndarray:
        rows = []
        for p in prompts:
            low = p.lower()
            hit = [i for i, c in enumerate(CLASSES) if c.lower() in low]
            if not hit:  # a sentence naming no finding ("the lungs are clear")
                z = self.centres.mean(axis=0)
            elif low.startswith("no "):
                z = np.delete(self.centres, hit[0], axis=0).mean(axis=0)
            else:
                z = self.centres[hit[0]]
            jitter = np.random.default_rng(zlib.crc32(p.encode())).normal(size=z.shape)
            rows.append((z + 0.1 * jitter) @ self.text_map + self.offset)
        return np.asarray(rows, dtype=np.float32)


def planted_joint(
    n: int = 1500, d0: int = 16, d_img: int = 48, d_txt: int = 40, seed: int = 0
) -> Joint:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(CLASSES), d0)) * 1.2
    y = rng.integers(0, len(CLASSES), n)
    z = centres[y] + rng.normal(size=(n, d0))
    img_map = rng.normal(size=(d0, d_img))
    text_map = rng.normal(size=(d0, d_txt))
    offset = rng.normal(size=d_txt)
    images = z @ img_map + 0.3 * rng.normal(size=(n, d_img))
    texts = z @ text_map + offset + 0.3 * rng.normal(size=(n, d_txt))
    joint_images = z @ text_map + offset + 0.3 * rng.normal(size=(n, d_txt))
    return Joint(
        images.astype(np.float32), texts.astype(np.float32), joint_images.astype(np.float32),
        y, np.array(CLASSES)[y], np.arange(n - 500, n), centres, text_map, offset,
    )  # fmt: skip
