"""Recipes are validated before any work: errors name the key, the allowed values, a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.experiments.conftest import small_demo_text

from clitools import run_with_imports
from semalign.errors import InputError
from semalign.experiments import load_recipe, recipe_path


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_recipes_parse() -> None:
    demo = load_recipe(recipe_path("demo"))
    assert [s.name for s in demo.stitch] == ["iu-stitch"]
    assert demo.stitch[0].anchors[0] == 16 and demo.stitch[0].anchors[-1] == 512
    assert demo.zeroshot[0].split == "loo"
    (ret,) = demo.retrieval
    assert ret.items_from == "iu-stitch" and ret.kind == "report-report"
    assert (ret.dataset, ret.section) == ("iu", "impression") and ret.ks == [1, 5, 10]
    repo = Path(__file__).resolve().parents[2] / "recipes" / "demo.toml"
    assert repo.resolve() == recipe_path("demo").resolve()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("max_per_class = 25", "max_per_clas = 25", "did you mean 'max_per_class'"),
        ('rule = "pos-neg"', 'rule = "posneg"', "did you mean 'pos-neg'"),
        ('methods = ["orthogonal"]', 'methods = ["orthogonl"]', "did you mean 'orthogonal'"),
        ('image_encoder = "effnet"', 'image_encoder = "efnet"', "did you mean 'effnet'"),
        ('name = "kermany-mini"', 'name = "kermany-mnii"', "did you mean 'kermany-mini'"),
        ('prompts = "biovil-pneumonia"', 'prompts = "biovil-pneumonai"', "biovil-pneumonia"),
        ('"Pleural Effusion"]', '"Pleural Efusion"]', "did you mean 'Pleural Effusion'"),
        ("[experiment]", "[experiments]", "did you mean 'experiment'"),
        ("ks = [1, 5, 10]", "k = [1, 5, 10]", "retrieval[0].'k' (did you mean 'ks'"),
        ('items_from = "iu-stitch"', 'items_from = "iu-stich"', "did you mean 'iu-stitch'"),
        ('kind = "report-report"', 'kind = "report-reports"', "did you mean 'report-report'"),
    ],
)
def test_typos_are_named(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = small_demo_text()
    assert old in text
    with pytest.raises(InputError) as err:
        load_recipe(_write(tmp_path, text.replace(old, new, 1)))
    msg = str(err.value)
    assert expected in msg and "recipe" in msg
    assert "\n" not in msg


def test_unknown_root_alias(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no dataset 'iux'.*did you mean 'iu'"):
        load_recipe(_write(tmp_path, small_demo_text()), roots={"iux": str(tmp_path)})


def test_dataset_needing_a_root_says_how(tmp_path: Path) -> None:
    text = small_demo_text() + '\n[datasets.mimic]\nname = "mimic-cxr"\n'
    with pytest.raises(InputError, match=r"SEMALIGN_ROOT_MIMIC.*--root mimic=PATH"):
        load_recipe(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("seeds = [0, 1]", "seed = [0, 1]", "stitch[0].'seed'"),
        ('pairs = [["minilm", "e5"]]', 'pair = [["minilm", "e5"]]', "retrieval[0].'pair'"),
    ],
)
def test_cli_typo_fails_fast_without_work(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = small_demo_text()
    assert old in text
    bad = _write(tmp_path, text.replace(old, new, 1))
    out = tmp_path / "out"
    proc, imported = run_with_imports(
        "run", bad, "--out", out, "--store", tmp_path / "store"
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and f"did you mean '{new.split()[0]}s'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "store").exists()
    assert imported == set()  # no model was loaded (no torch, transformers, open_clip)


def test_paper_recipe_validates_with_roots(tmp_path: Path) -> None:
    roots = {a: str(tmp_path) for a in ("mimic", "chexpert5x200", "chexpert", "rsna")}
    paper = load_recipe(recipe_path("paper"), roots=roots)
    assert {z.name for z in paper.zeroshot if z.joint} >= {"zs-5x200-clip", "zs-5x200-biomedclip"}
    assert paper.datasets["mimic"].root == str(tmp_path)
    (ret,) = paper.retrieval
    assert (ret.kind, ret.dataset, ret.split) == ("image-report", "mimic", "official")
    with pytest.raises(InputError, match="needs its folder"):
        load_recipe(recipe_path("paper"))


def test_retrieval_values_are_checked(tmp_path: Path) -> None:
    text = small_demo_text()
    bad = text.replace('kind = "report-report"', 'kind = "image-report"', 1)
    with pytest.raises(InputError, match=r"retrieval\[0\]\.items_from.*report-report"):
        load_recipe(_write(tmp_path, bad))
    bad = text.replace("ks = [1, 5, 10]", "ks = [0, 5]", 1)
    with pytest.raises(InputError, match=r"retrieval\[0\]\.ks must be .* >= 1"):
        load_recipe(_write(tmp_path, bad))
    bad = text.replace('items_from = "iu-stitch"', 'items_from = "iu-stitch"\nsection = "report"')
    with pytest.raises(InputError, match="differs from stitch task 'iu-stitch'"):
        load_recipe(_write(tmp_path, bad))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('model = "e5-small"', 'model = "e5-smal"', "did you mean 'e5-small'"),
        ('model = "e5-small"', 'model = "/no/such/folder"', "'/no/such/folder' does not exist"),
        ('model = "minilm"', 'model = "efficientnet-lite0"', "where a text encoder is needed"),
        (
            'text_encoder = "minilm"',
            'text_encoder = "effnet"',
            "text_encoder uses encoder 'effnet'",
        ),
        (
            'model = "efficientnet-lite0"\nbatch_size = 16',
            'model = "efficientnet-lite0"\nbatch_size = 16\noptions = { num_workers = -2 }',
            "options.num_workers = -2 must be an integer >= 0",
        ),
    ],
)
def test_encoders_resolved_and_checked_against_their_roles_up_front(
    tmp_path: Path, old: str, new: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = small_demo_text()
    assert old in text
    loaded: list[str] = []

    def no_model(name: str, **options: object) -> None:
        loaded.append(name)
        raise AssertionError(f"model {name!r} loaded to check a recipe")

    monkeypatch.setattr("semalign.encoders.registry.load_encoder", no_model)
    monkeypatch.setattr("semalign.encoders.load_encoder", no_model)
    with pytest.raises(InputError) as err:
        load_recipe(_write(tmp_path, text.replace(old, new, 1)))
    msg = str(err.value)
    assert expected in msg and msg.startswith("recipe") and "\n" not in msg
    assert loaded == []  # no model is loaded to find out


def test_dataset_option_types_are_checked(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("id,report,A,B\na,x,1,0\n")
    text = small_demo_text().replace(
        "[datasets.kermany]",
        '[datasets.mine]\nname = "manifest"\nroot = "m.csv"\n'
        'options = { text_col = "report", label_cols = "A,B" }\n\n[datasets.kermany]',
    )
    with pytest.raises(InputError, match=r"label_cols = 'A,B' must be a list of strings, e\.g\. "
                       r"\['A', 'B'\]"):  # fmt: skip
        load_recipe(_write(tmp_path, text))
    ok = text.replace('label_cols = "A,B"', 'label_cols = ["A", "B"]')
    assert load_recipe(_write(tmp_path, ok)).datasets["mine"].options["label_cols"] == ["A", "B"]


def test_an_error_inside_run_names_the_task(tmp_path: Path) -> None:
    from clitools import fails_cleanly, run

    (tmp_path / "m.csv").write_text("id,report,Pneumonia\na,x,1\nb,y,0\n")
    recipe = _write(
        tmp_path,
        '[datasets.mine]\nname = "manifest"\nroot = "m.csv"\n'
        'options = { text_col = "nope", label_cols = ["Pneumonia"] }\n'
        '[encoders.minilm]\nmodel = "minilm"\n[encoders.e5]\nmodel = "e5-small"\n'
        '[[stitch]]\nname = "mine-stitch"\ndataset = "mine"\nsection = "report"\n'
        'pairs = [["minilm", "e5"]]\n[stitch.classes]\na = ["Pneumonia"]\nb = ["No Finding"]\n',
    )
    proc = run("run", recipe, "-o", tmp_path / "out", "--store", tmp_path / "store")
    # found by the pre-flight, before any model loads: it names the dataset the task reads
    fails_cleanly(proc, "the recipe cannot run: dataset 'mine' (manifest", "no column(s) 'nope'")


def test_permutations_default_and_refusal(tmp_path: Path) -> None:
    line = "permutations = 20 "
    text = small_demo_text()
    assert line in text and load_recipe(_write(tmp_path, text)).permutations == 20
    assert load_recipe(_write(tmp_path, text.replace(line, "# ", 1))).permutations == 100
    bad = text.replace(line, "permutations = 0 ", 1)
    with pytest.raises(InputError, match=r"experiment\.permutations must be an integer >= 1"):
        load_recipe(_write(tmp_path, bad))
