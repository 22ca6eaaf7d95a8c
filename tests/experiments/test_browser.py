"""The HTML report renders in headless Chromium with no console errors; a screenshot is taken."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from clitools import TIMEOUT

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)),
                None)  # fmt: skip
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (make test installs it with apt-get as root on Debian)",
)

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--window-size=1200,4200",
]  # fmt: skip


def _render(page: Path, tmp: Path) -> tuple[Path, list[str]]:
    """Screenshot of ``page`` and the console messages Chromium logged at error level."""
    shot = tmp / f"{page.stem}.png"
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", f"--screenshot={shot}",
         page.as_uri()],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    errors = console  # the report has no scripts: any console message is a fault
    assert proc.returncode == 0, proc.stderr[-2000:]
    return shot, errors


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """Positive control: a page that logs an error and loads a missing image is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('planted failure');"
        "undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    _, errors = _render(page, tmp_path)
    assert any("planted failure" in e for e in errors), errors


def test_report_renders_without_console_errors(small_run, tmp_path: Path) -> None:
    shot, errors = _render(small_run.report_html, tmp_path)
    assert errors == []
    assert shot.is_file() and shot.stat().st_size > 50_000  # plots and tables, not a blank page
    keep = small_run.out / "report-screenshot.png"
    shutil.copyfile(shot, keep)
