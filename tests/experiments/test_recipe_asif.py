"""The recipe's asif key: one setting, or lists chosen on held-out anchors (select)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.experiments.conftest import small_demo_text

from semalign.errors import InputError
from semalign.experiments import load_recipe
from semalign.experiments.recipe import AsifSpec

SWEEP = (
    "asif = { top_k = [16, 32, 64, 128, 256], power = [1, 4, 8], center = [false, true], "
    'select = "held-out-anchors" }'
)


def _with_asif(tmp_path: Path, line: str) -> Path:
    text = small_demo_text()
    assert text.count(SWEEP) == 1
    path = tmp_path / "r.toml"
    path.write_text(text.replace(SWEEP, line), encoding="utf-8")
    return path


def test_demo_chooses_asif_settings_on_held_out_anchors() -> None:
    from semalign.experiments import recipe_path

    demo = load_recipe(recipe_path("demo"))
    a = demo.retrieval[0].asif
    assert a == AsifSpec((16, 32, 64, 128, 256), (1.0, 4.0, 8.0), (False, True), "held-out-anchors")
    assert demo.zeroshot[0].asif is not None and demo.zeroshot[0].asif.select == "held-out-anchors"
    assert "ridge-cv" in demo.retrieval[0].methods and "ridge-cv" in demo.stitch[0].methods


def test_one_setting_stays_one_asif(tmp_path: Path) -> None:
    r = load_recipe(_with_asif(tmp_path, "asif = { top_k = 64, power = 4, center = true }"))
    assert r.retrieval[0].asif == AsifSpec(64, 4.0, True, None)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("asif = { top_k = [16, 64] }", "add select = 'held-out-anchors'"),
        ('asif = { top_k = [16], select = "held-out-anchor" }', "did you mean 'held-out-anchors'"),
        ('asif = { center = [1], select = "held-out-anchors" }', "center must be true or false"),
        ('asif = { power = [0], select = "held-out-anchors" }', "power = 0 must be a positive"),
        ('asif = { top_k = [], select = "held-out-anchors" }', "top_k must list at least one"),
    ],
)
def test_bad_asif_settings_are_named(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        load_recipe(_with_asif(tmp_path, line))
