"""Headless Chromium (Debian `chromium`, installed by .ci/run) with the flags a closed network needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--virtual-time-budget=4000",
)


def chromium(profile_parent: Path, *args: str) -> str:
    """Run chromium with a fresh profile under `profile_parent`; returns its stdout (e.g. with --dump-dom)."""
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: .ci/run installs it (apt-get install -y chromium)"
    profile = profile_parent / f"chromium-profile-{len(list(profile_parent.glob('chromium-profile-*')))}"
    proc = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=90, check=True
    )
    return proc.stdout
