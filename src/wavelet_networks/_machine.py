"""Facts about the machine a measurement ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features() -> str:
    """What distinguishes this CPU's instruction set: the model name and, on Linux, the
    feature flags of /proc/cpuinfo (code built for one CPU may not run on another)."""
    features = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip() in ("flags", "Features"):
                features = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu_name()} {platform.machine()} {features}"


def default_cache_dir() -> Path:
    """``$WAVELET_NETWORKS_CACHE`` or ``~/.cache/wavelet_networks``."""
    env = os.environ.get("WAVELET_NETWORKS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "wavelet_networks"
