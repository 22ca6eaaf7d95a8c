"""Helpers for tests that run the `semalign` CLI in a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``python -m semalign ARGS`` with its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "semalign", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fails_cleanly(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """The command failed with a one-line ``error:`` message (no traceback) naming ``needles``.

    One-line ``note:`` notices printed before the error (e.g. how rows were paired) are allowed.
    """
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("note: ")]
    err = "\n".join(lines).strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
