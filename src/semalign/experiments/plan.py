"""``semalign run --plan``: what a run will compute, before it computes anything.

The pre-flight's checks and records, then for each encoder and set of items how many will be
embedded and how many a finished store entry already holds (looked up through the encoder's
fingerprint record, so no model is loaded), and per task how many maps it fits and how many
cached units it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from semalign.experiments.embedding import Embedder
from semalign.experiments.preflight import Embedding, Preflight, preflight
from semalign.experiments.recipe import Recipe
from semalign.experiments.runner import n_units

#: Above this many image files the plan does not hash them to look the entry up.
MAX_IMAGES_CHECKED = 20_000


@dataclass(frozen=True)
class EmbedLine:
    alias: str
    what: str
    tasks: tuple[str, ...]
    n: int
    stored: int | None  # None: unknown (no fingerprint record, or too many images to hash)
    why: str = ""


@dataclass
class Plan:
    recipe: Recipe
    store: Path
    checked: Preflight
    embeds: list[EmbedLine]
    units: dict[str, int]

    def lines(self) -> list[str]:
        """The plan as text, one fact per line."""
        c = self.recipe.compute
        where = c.executor if c.executor == "local" else f"ray ({c.address or 'local Ray'})"
        out = [f"plan of recipe {self.recipe.name!r}: store {self.store}, executor {where}"]
        out.append("embeddings (encoder, items, tasks: to embed / already stored):")
        width = max((len(e.alias) for e in self.embeds), default=0)
        for e in self.embeds:
            have = "?" if e.stored is None else f"{e.stored:,}"
            todo = "?" if e.stored is None else f"{e.n - e.stored:,}"
            note = f" ({e.why})" if e.why else ""
            out.append(
                f"  {e.alias:<{width}}  {e.what} [{', '.join(e.tasks)}]: {todo} to embed, "
                f"{have} of {e.n:,} stored{note}"
            )
        known = [e for e in self.embeds if e.stored is not None]
        out.append(
            f"  total: {sum(e.n - (e.stored or 0) for e in known):,} items to embed, "
            f"{sum(e.stored or 0 for e in known):,} stored"
            + (f"; {len(self.embeds) - len(known)} set(s) unknown" if len(known) < len(self.embeds)
               else "")
        )  # fmt: skip
        out.append("tasks (maps fitted: pair x method x scaling x anchors x seed; cached units):")
        splits = {t.name: len(t.splits) for t in self.recipe.stitch}
        splits |= {t.name: len(t.splits) for t in self.recipe.retrieval}
        for name, units in self.units.items():
            fits = self.checked.fits.get(name)
            if fits is None:
                out.append(f"  {name}: no map (joint space); {units} unit(s)")
                continue
            skipped = f" ({fits.skipped} n/a: too few anchors)" if fits.skipped else ""
            over = f" over {splits[name]} test splits" if splits.get(name, 1) > 1 else ""
            out.append(f"  {name}: {fits.cells} fit(s){over}{skipped}; {units} unit(s)")
        out += [f"note: {n}" for n in self.checked.notices]
        return out


def _stored(embedder: Embedder, e: Embedding) -> tuple[int | None, str]:
    from semalign.store.build import find_entry
    from semalign.store.fingerprints import recorded_encoder

    spec = embedder.encoders[e.alias]
    known = recorded_encoder(spec.model, embedder.options(e.alias), embedder.root)
    if known is None:
        return None, "no fingerprint record of this model in the store: never run with it here"
    if e.items.modality == "image" and len(e.items) > MAX_IMAGES_CHECKED:
        return None, f"not looked up: {len(e.items):,} image files would be hashed"
    return (len(e.items) if find_entry(embedder.root, known, e.items) else 0), ""


def make_plan(recipe: Recipe, store: Path) -> Plan:
    """The pre-flight, then the plan (raises the pre-flight's problems, all of them)."""
    checked = preflight(recipe)
    checked.raise_if_failed()
    embedder = Embedder(store, recipe.encoders, compute=recipe.compute)
    grouped: dict[tuple[str, tuple[str, ...]], tuple[Embedding, list[str]]] = {}
    for e in checked.embeds:
        key = (e.alias, tuple(e.items.ids))
        grouped.setdefault(key, (e, []))[1].append(e.task)
    lines = []
    for e, tasks in grouped.values():
        stored, why = _stored(embedder, e)
        lines.append(EmbedLine(e.alias, e.what, tuple(dict.fromkeys(tasks)), len(e.items), stored,
                               why))  # fmt: skip
    none: Recipe = replace(recipe, stitch=[], zeroshot=[], retrieval=[])
    units = {s.name: n_units(replace(none, stitch=[s])) for s in recipe.stitch}
    units |= {z.name: n_units(replace(none, zeroshot=[z])) for z in recipe.zeroshot}
    units |= {t.name: n_units(replace(none, retrieval=[t])) for t in recipe.retrieval}
    return Plan(recipe, store, checked, lines, units)
