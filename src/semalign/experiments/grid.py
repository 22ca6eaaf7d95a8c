"""The grid of a task: which (method, scaling) cells give distinct maps."""

from __future__ import annotations


def distinct_cells(
    methods: list[str], scalings: list[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (method, scaling) cells that give distinct maps, and a note per cell left out.

    Under a centring scaling that keeps the mean at zero (``center``, ``standard``; not
    ``center-l2``, whose row normalisation moves it) both sides' anchors have mean zero, so the
    affine fit's bias is zero and its weight is the linear least-squares solution: ``linear`` is
    the same map as ``affine`` and is left out where both are asked for.
    """
    from semalign.align.preprocessing import centres, normalises_rows

    cells, notes = [], []
    for method in methods:
        for scaling in scalings:
            same = centres(scaling) and not normalises_rows(scaling)
            if method == "linear" and "affine" in methods and same:
                notes.append(
                    f"linear under scaling {scaling!r} is the same map as affine (centred anchors "
                    "give a zero bias): only affine is run"
                )
                continue
            cells.append((method, scaling))
    return cells, notes
