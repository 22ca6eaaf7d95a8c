"""README.md and the docs pages it links say only what runs.

- Every ```python block of README.md and of those pages runs, offline, in an empty temporary
  folder with its own store (a block whose first lines hold ``# needs: hub``, ``# needs: gpu`` or
  ``# needs: ray`` is skipped: it needs a hub model, a GPU or a Ray cluster).
- Every ``semalign ...`` command they write (in a fenced shell block or an inline code span) names
  an existing (sub)command, uses only options that command has and passes no more positional
  arguments than it takes, as the CLI's own Click parser reads it: a renamed flag fails here.
- Every relative link of those pages names an existing file, and an ``#anchor`` one of its
  headings.
- docs/recipes.md lists every key the recipe parser accepts (read from its own "allowed keys"
  messages) and every dataset reader's options.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from semalign.cli import app
from semalign.cli.data import COLUMN_ALIASES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The reference pages README.md links (docs/architecture.md has its owner and its own checks).
DOC_PAGES = tuple(ROOT / "docs" / f"{name}.md" for name in
                  ("recipes", "tasks", "inputs", "store", "openclip", "performance"))  # fmt: skip
PAGES = (README, *DOC_PAGES)

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
_SHELL = {"bash", "sh", "shell", "console"}
_NEEDS = re.compile(r"^#\s*needs:\s*(hub|gpu|ray)\b", re.M)
_SHELL_STOP = {"|", "||", "&&", ";", ">", ">>", "2>", "<"}


def _blocks(path: Path, langs: set[str]) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1) in langs]


def _inline_spans(path: Path) -> list[str]:
    """Inline code spans outside fenced blocks (a span may wrap onto the next line)."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return [" ".join(m.group(1).split()) for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text)]


def _commands(path: Path) -> list[str]:
    """Every ``semalign ...`` command line of a page, continuation lines joined."""
    out = []
    for block in _blocks(path, _SHELL):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith(("semalign ", ".venv/bin/semalign ")):
                out.append(line)
    out += [span for span in _inline_spans(path) if span.startswith("semalign ")]
    return out


CASES = [
    pytest.param(cmd, id=f"{page.stem}:{cmd[:70]}") for page in PAGES for cmd in _commands(page)
]


def _tokens(line: str) -> list[str]:
    """Shell words of one command line: comments dropped, stopped at a pipe or redirection; the
    optional-part brackets of ``[--anchors 500]`` removed; old column spellings mapped as the CLI
    maps them."""
    words = []
    for word in shlex.split(line, comments=True):
        if word in _SHELL_STOP:
            break
        word = word.strip("[]")
        if word:
            name, eq, value = word.partition("=")
            words.append(
                COLUMN_ALIASES.get(name, name) + eq + value if name in COLUMN_ALIASES else word
            )
    return words[1:]  # drop "semalign"


@pytest.mark.parametrize("line", CASES)
def test_cli_command_exists_with_its_options(line: str) -> None:
    cmd: Any = typer.main.get_command(app)  # Click objects (typer may vendor its own Click)
    words = _tokens(line)
    path = ["semalign"]
    while hasattr(cmd, "commands") and words and not words[0].startswith("-"):
        # the group parses: `semalign stitch A B` means `semalign stitch evaluate A B`
        ctx = cmd.make_context(" ".join(path), list(words), resilient_parsing=True)
        protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        rest = [*protected, *ctx.args]
        sub = cmd.commands.get(rest[0])
        assert sub is not None, f"{' '.join(path)} has no subcommand {rest[0]!r}: {line}"
        path.append(rest.pop(0))
        cmd, words = sub, rest
    if hasattr(cmd, "commands"):
        assert not words, f"{' '.join(path)} is a group; {words} is not one of its commands: {line}"
        return
    known = {name for p in cmd.params for name in (*p.opts, *p.secondary_opts)} | {"--help"}
    unknown = [w for w in words if w.startswith("-") and w.partition("=")[0] not in known]
    assert not unknown, f"{' '.join(path)} has no option {unknown}; it has {sorted(known)}: {line}"
    ctx = cmd.make_context(" ".join(path), list(words), resilient_parsing=True)
    assert not ctx.args, f"{' '.join(path)}: unexpected arguments {ctx.args}: {line}"


def test_cases_were_found() -> None:
    """The extraction is not silently empty: the README names every top-level command it shows."""
    named = {_tokens(c.values[0])[0] for c in CASES if str(c.id).startswith("README:")}
    assert {"demo", "run", "align", "stitch", "zeroshot", "retrieve", "embed"} <= named


def _python_blocks() -> list[Any]:
    out = []
    for page in PAGES:
        for i, block in enumerate(_blocks(page, {"python"})):
            head = "\n".join(block.splitlines()[:3])
            marks = [pytest.mark.skip(reason=f"needs {m}") for m in _NEEDS.findall(head)]
            out.append(pytest.param(block, id=f"{page.stem}-python-{i}", marks=marks))
    return out


def test_pages_exist_and_readme_links_them() -> None:
    readme = README.read_text(encoding="utf-8")
    for page in DOC_PAGES:
        assert page.is_file(), page
        assert f"(docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"
    assert len(_python_blocks()) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("code", _python_blocks())
def test_readme_python_block_runs(code: str, tmp_path: Path) -> None:
    """Each block runs on its own, offline, in an empty folder with its own store."""
    env = dict(os.environ, SEMALIGN_STORE=str(tmp_path / "store"), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, f"{code}\n--- stderr ---\n{proc.stderr}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_relative_links_resolve(page: Path) -> None:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        assert dest.exists(), f"{page.name}: link to missing {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{page.name}: no heading #{anchor} in {dest.name}"


# ---------------------------------------------------------------- docs/recipes.md lists every key

_PROBE_BASE: dict[str, Any] = {
    "datasets": {"iu": {"name": "iu-reports"}},
    "encoders": {"a": {"model": "minilm"}, "b": {"model": "e5-small"}},
    "stitch": [
        {"dataset": "iu", "pairs": [["a", "b"]], "classes": {"n": ["No Finding"], "c": ["Edema"]}}
    ],
}
_RETRIEVAL = {"dataset": "iu", "kind": "report-report", "pairs": [["a", "b"]]}
#: Where an unknown key is planted, and the docs/recipes.md heading whose table lists the keys
#: (None: the nested table's keys only need to be named on the page).
_PROBES: list[tuple[str, str | None, Any]] = [
    ("top", None, lambda r: r.update(zzz=1)),
    ("experiment", "[experiment]", lambda r: r.update(experiment={"zzz": 1})),
    ("compute", "[compute]", lambda r: r.update(compute={"zzz": 1})),
    ("datasets", "[datasets.<alias>]", lambda r: r["datasets"]["iu"].update(zzz=1)),
    ("encoders", "[encoders.<alias>]", lambda r: r["encoders"]["a"].update(zzz=1)),
    ("stitch", "[[stitch]]", lambda r: r["stitch"][0].update(zzz=1)),
    ("zeroshot", "[[zeroshot]]", lambda r: r.update(zeroshot=[{"zzz": 1}])),
    ("retrieval", "[[retrieval]]", lambda r: r.update(retrieval=[{"zzz": 1}])),
    ("headline", None, lambda r: r.update(retrieval=[dict(_RETRIEVAL, headline={"zzz": 1})])),
    ("unpaired", None, lambda r: r.update(retrieval=[dict(_RETRIEVAL, unpaired={"zzz": 1})])),
    ("asif", None, lambda r: r.update(retrieval=[dict(_RETRIEVAL, asif={"zzz": 1})])),
]


def _allowed_keys(edit: Any) -> list[str]:
    """The keys the recipe parser names as allowed where ``edit`` planted an unknown one."""
    import copy

    from semalign.errors import InputError
    from semalign.experiments.recipe import parse_recipe

    recipe = copy.deepcopy(_PROBE_BASE)
    edit(recipe)
    with pytest.raises(InputError, match="allowed keys: ") as info:
        parse_recipe(recipe)
    return str(info.value).split("allowed keys: ", 1)[1].split(", ")


def _section(text: str, heading: str) -> str:
    """The text under the ``### `heading` `` of docs/recipes.md, up to the next heading."""
    start = text.index(f"### `{heading}`")
    end = text.find("\n#", start + 1)
    return text[start : end if end > 0 else None]


@pytest.mark.parametrize(("where", "heading", "edit"), _PROBES, ids=[p[0] for p in _PROBES])
def test_recipes_page_lists_every_key(where: str, heading: str | None, edit: Any) -> None:
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    keys = _allowed_keys(edit)
    assert keys, where
    if where == "top":
        missing = [k for k in keys if f"[{k}" not in text and f"[[{k}" not in text]
    elif heading is None:
        missing = [k for k in keys if not re.search(rf"\b{re.escape(k)}\b", text)]
    else:
        section = _section(text, heading)
        missing = [k for k in keys if f"| `{k}` |" not in section]
    assert not missing, f"docs/recipes.md does not document {where} keys {missing}"


def test_recipes_page_lists_every_dataset_option() -> None:
    from semalign.data.registry import DATASETS

    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    for name, spec in DATASETS.items():
        assert f"`{name}`" in text, name
        for option in spec.options():
            assert f"`{option}`" in text, f"docs/recipes.md: {name} option {option!r}"


def test_recipes_page_names_every_value() -> None:
    """The values the library implements for a recipe's vocabulary keys are named on the page."""
    from semalign.align import METHODS, SCALINGS
    from semalign.metrics.csls import SCORINGS
    from semalign.tasks import STITCH_MODES, list_prompt_sets
    from semalign.tasks.zeroshot import AGGREGATES, RULES

    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    values = [*METHODS, *SCALINGS, *SCORINGS, *STITCH_MODES, *list_prompt_sets(), *RULES]
    missing = [v for v in [*values, *AGGREGATES] if f"`{v}`" not in text]
    assert not missing, f"docs/recipes.md does not name {missing}"


def test_inputs_page_states_every_dataset_layout() -> None:
    """docs/inputs.md carries each reader's own layout text (as `semalign data list` prints it)."""
    from semalign.data.registry import DATASETS

    text = (ROOT / "docs" / "inputs.md").read_text(encoding="utf-8")
    for name, spec in DATASETS.items():
        assert spec.layout.replace("|", "\\|") in text, f"docs/inputs.md: layout of {name}"
