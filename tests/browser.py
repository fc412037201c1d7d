"""A static page looked at the way a person would: headless Chromium's DOM and a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


class Browser:
    """Headless Chromium; the test skips with a reason where it is not installed."""

    def __init__(self) -> None:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            pytest.skip("headless Chromium not installed (Debian package chromium)")
        self.command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ]

    def dom(self, page: str) -> str:
        """The page's DOM after its scripts ran (``page``: a file:// uri)."""
        return subprocess.run([*self.command, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout

    def top_half_contrast(self, page: str, shot: Path) -> float:
        """The grey-level spread of the top half of a 1000 x 1400 screenshot (a blank page: ~0)."""
        subprocess.run(
            [*self.command, "--window-size=1000,1400", f"--screenshot={shot}", page], capture_output=True, timeout=120
        )
        pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
        return float(pixels[: pixels.shape[0] // 2].std())
