"""Where open_clip is not installed (the main venv), `biomedclip` says exactly what to install.

The open_clip backend itself is tested in tests/openclip, in `.venv-openclip`.
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("open_clip") is not None:
    pytest.skip("open_clip is installed here: nothing is missing", allow_module_level=True)

from clitools import fails_cleanly, run


def test_biomedclip_without_open_clip_names_what_to_install(tmp_path):
    import torch

    (tmp_path / "t.csv").write_text("id,text\na,lungs are clear\n")
    proc = run("embed", "-e", "biomedclip:text", "-i", tmp_path / "t.csv", "-o", tmp_path / "s")
    minor = int(torch.__version__.split(".")[1])
    fails_cleanly(
        proc,
        "needs open_clip, which is not installed",
        f"pip install 'open_clip_torch>=2.24,<4' 'torchvision==0.{minor + 15}.*'",
        f"keeping your torch {torch.__version__}",
        "make openclip-setup",
    )
