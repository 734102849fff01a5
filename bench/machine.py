"""One line describing the machine a benchmark ran on, shared by every benchmark report."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or 'unknown CPU'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def describe(*extras: str) -> str:
    """Cores, CPU, OS, Python and the given extra versions (e.g. 'OR-Tools 9.15')."""
    parts = [
        f"{os.cpu_count()} cores (nproc), {cpu_model()}",
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
        *extras,
    ]
    return ", ".join(parts)
