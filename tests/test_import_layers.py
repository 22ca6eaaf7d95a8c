"""An import scan of src/semalign: imports point down the layers of docs/architecture.md and no
two modules import each other (at module level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: Layers, top to bottom; a module may import its own layer and those below.
LAYERS = ("cli", "experiments", "distributed", "tasks", "store", "encoders", "data", "align",
          "metrics")  # fmt: skip
TOP = {"semalign", "semalign.__main__"}  # the package's facade and entry point, above all
PLACED = {"semalign.quickstart": "experiments"}  # top-level modules that belong to a layer


def _modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "semalign").rglob("*.py"):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(target: str) -> str:
        while target and target not in mods:
            target = target.rpartition(".")[0]
        return target

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("semalign") and (t := resolve(name)) and t != m:
                    edges[m].add(t)
    return edges


def _rank(module: str) -> int:
    if module in TOP:
        return len(LAYERS) + 1
    parts = module.split(".")
    if module in PLACED:
        parts = ["semalign", PLACED[module]]
    if len(parts) > 1 and parts[1] in LAYERS:
        return len(LAYERS) - LAYERS.index(parts[1])
    return 0  # ground: errors, threads


def _circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.add(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def test_no_import_circles() -> None:
    for circle in _circles(_graph()):
        others = {m for m in circle if m != "semalign"}
        assert not others, f"import circle: {sorted(circle)}"


def test_imports_point_down_the_layers() -> None:
    up = {
        (m, t)
        for m, targets in _graph().items()
        for t in targets
        if t not in TOP and _rank(t) > _rank(m)
    }
    assert not up, f"imports running up the layers: {sorted(up)}"


def test_the_scan_sees_circles_and_upward_imports() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(edges) == [{"a", "b", "c"}]
    assert (
        _rank("semalign.tasks.stitching")
        > _rank("semalign.align.aligner")
        > _rank("semalign.errors")
    )
