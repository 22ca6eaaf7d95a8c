"""Helpers for tests that run the `semalign` CLI in a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: Seconds before a test gives up on a subprocess: only a hung process should reach it, never a
#: slow one on a loaded machine (a cold `semalign run` there can take minutes).
TIMEOUT = 1800.0


def run(
    *args: str | Path, timeout: float = TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m semalign ARGS`` with its output captured as text (``env``: the process's
    whole environment, default this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "semalign", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
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


#: Runs ``semalign.cli.main`` with sys.argv[1:], then prints the heavy modules it imported.
_WRAPPER = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('imported:', ','.join(m for m in ('torch', 'transformers',"
    " 'open_clip') if m in sys.modules), file=sys.stderr))\n"
    "from semalign.cli import main\n"
    "sys.argv = ['semalign', *sys.argv[1:]]\n"
    "main()\n"
)


def run_with_imports(
    *args: str | Path, timeout: float = TIMEOUT
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Like ``run``, plus which of torch, transformers and open_clip the process imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("imported:")]
    assert line, proc.stderr
    return proc, {m for m in line[-1].removeprefix("imported:").strip().split(",") if m}
