"""Prompt sets for zero-shot classification, kept as TOML data files.

A prompt set gives each class a list of *positive* prompts (sentences that assert the finding) and,
optionally, *negative* prompts (sentences that deny it), used by the positive-vs-negative rule.
A TOML file describes classes in one or more of three forms:

  ``[templates]`` + ``[labels]``     each template (``"{label}"``, ``"no {label}"``) filled with
                                     each label's phrase (CheXzero-style pairs);
  ``[classes.<Name>]``               explicit ``positive`` / ``negative`` sentence lists;
  ``[combinations.<Name>]``          every ``severity x subtype x location`` combination (empty
                                     strings allowed) with fixed ``negative`` sentences; ``sample``
                                     (top level or per class) of them are drawn with a seed
                                     (MedCLIP-style).

Built-in sets (``list_prompt_sets()``): ``chexzero``, ``biovil-pneumonia``, ``medclip-chexpert5``.
Any other path to a ``.toml`` file in the same format works too.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from semalign.errors import InputError

__all__ = ["PromptSet", "list_prompt_sets", "load_prompt_set", "parse_prompt_set"]

_PACKAGE = "semalign.tasks"


@dataclass(frozen=True)
class PromptSet:
    """Class name -> positive prompts (and negative prompts, possibly empty), in class order."""

    name: str
    positive: dict[str, list[str]]
    negative: dict[str, list[str]] = field(default_factory=dict)
    description: str = ""

    @property
    def classes(self) -> list[str]:
        return list(self.positive)

    def has_negatives(self) -> bool:
        """Whether every class has at least one negative prompt."""
        return all(self.negative.get(c) for c in self.positive)

    def subset(self, classes: Sequence[str]) -> PromptSet:
        """The same prompts for ``classes`` only, in that order (names match case-insensitively)."""
        lookup = {c.lower(): c for c in self.positive}
        missing = [c for c in classes if c.lower() not in lookup]
        if missing:
            raise InputError(
                f"prompt set {self.name!r} has no prompts for {', '.join(missing)}: its classes "
                f"are {', '.join(self.positive)}; pick those or write a prompt file"
            )
        chosen = [lookup[c.lower()] for c in classes]
        return PromptSet(
            self.name,
            {c: self.positive[c] for c in chosen},
            {c: self.negative.get(c, []) for c in chosen},
            self.description,
        )


def _load_toml(text: str, origin: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"prompt file {origin} is not valid TOML ({exc}): fix its syntax") from exc


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings")
    return list(value)


def parse_prompt_set(
    data: Mapping[str, Any], *, origin: str = "<toml>", seed: int = 0
) -> PromptSet:
    """Build a :class:`PromptSet` from parsed TOML (see the module docstring for the format)."""
    name = str(data.get("name", Path(origin).stem))
    positive: dict[str, list[str]] = {}
    negative: dict[str, list[str]] = {}
    templates = data.get("templates")
    labels = data.get("labels")
    if (templates is None) != (labels is None):
        raise InputError(f"prompt file {origin} needs both [templates] and [labels], or neither")
    if templates is not None and labels is not None:
        pos_t = _strings(templates.get("positive", []), f"{origin}: templates.positive")
        neg_t = _strings(templates.get("negative", []), f"{origin}: templates.negative")
        for cls, phrase in labels.items():
            positive[cls] = [t.format(label=phrase) for t in pos_t]
            negative[cls] = [t.format(label=phrase) for t in neg_t]
    for cls, spec in data.get("classes", {}).items():
        where = f"{origin}: classes.{cls}"
        positive[cls] = _strings(spec.get("positive", []), f"{where}.positive")
        negative[cls] = _strings(spec.get("negative", []), f"{where}.negative")
    rng = np.random.default_rng(seed)
    for cls, spec in data.get("combinations", {}).items():
        where = f"{origin}: combinations.{cls}"
        parts = [_strings(spec.get(k, [""]), f"{where}.{k}") for k in ("severity", "subtype")]
        parts.append(_strings(spec.get("location", [""]), f"{where}.location"))
        combos = sorted({" ".join(w for w in c if w) for c in itertools.product(*parts)} - {""})
        n = spec.get("sample", data.get("sample"))
        if n is not None and int(n) < len(combos):
            pick = rng.choice(len(combos), size=int(n), replace=False)
            combos = [combos[i] for i in sorted(pick)]
        positive[cls] = combos
        negative[cls] = _strings(spec.get("negative", []), f"{where}.negative")
    if not positive:
        raise InputError(
            f"prompt file {origin} defines no classes: add [templates]+[labels], [classes.X] or "
            "[combinations.X] tables"
        )
    empty = [c for c, p in positive.items() if not p]
    if empty:
        raise InputError(f"prompt file {origin}: class {empty[0]!r} has no positive prompts")
    return PromptSet(name, positive, negative, str(data.get("description", "")))


def list_prompt_sets() -> list[str]:
    """Names of the built-in prompt sets."""
    folder = resources.files(_PACKAGE).joinpath("prompts")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_prompt_set(
    name_or_path: str | Path,
    *,
    classes: Sequence[str] | None = None,
    seed: int = 0,
) -> PromptSet:
    """A built-in prompt set by name, or a user's TOML file by path.

    ``classes`` keeps those classes only, in that order; ``seed`` drives the sampling of
    combination prompts (the same seed gives the same prompts).
    """
    text: str
    origin = str(name_or_path)
    builtin = resources.files(_PACKAGE).joinpath("prompts").joinpath(f"{name_or_path}.toml")
    if isinstance(name_or_path, str) and name_or_path in list_prompt_sets():
        text = builtin.read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError(
                f"prompt set {origin!r} is neither a built-in set ({', '.join(list_prompt_sets())})"
                " nor an existing .toml file: check the name or path"
            )
        text = path.read_text(encoding="utf-8")
    prompts = parse_prompt_set(_load_toml(text, origin), origin=origin, seed=seed)
    return prompts.subset(classes) if classes is not None else prompts
