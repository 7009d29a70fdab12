"""What a benchmark ran on: the CPU, its cores, how busy it was, the library versions.

Benchmark reports print these beside their numbers so that a table can be read
against the machine that produced it. Nothing here imports TensorFlow: some
switches (oneDNN's custom ops) only take effect when set before it starts.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from zoo.cluster import usable_cores

# Above this 1-minute load average at the start, a timing benchmark's machine was
# busy (other work competed for the cores) and its report says so.
BUSY_LOAD = 0.5

# TensorFlow's switch for oneDNN's custom ops, read once when TensorFlow starts.
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"


def onednn_state() -> str:
    """Whether the running TensorFlow uses oneDNN's custom ops, and why: unset, the
    switch's default depends on the CPU (on with AVX-512, off on plain AVX2)."""
    import sys

    setting = os.environ.get(ONEDNN)
    why = f"{ONEDNN}={setting}" if setting is not None else f"{ONEDNN} unset: TensorFlow's default for this CPU"
    if "tensorflow" not in sys.modules:
        return f"not started ({why})"
    try:
        from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own runtime answer
        on = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return f"unknown ({why})"
    return f"{'on' if on else 'off'} ({why})"


def cpuinfo_fields(text: str | None = None) -> dict:
    """The first value of each field of /proc/cpuinfo (or of `text`); {} where there is none."""
    if text is None:
        try:
            with open("/proc/cpuinfo") as f:
                text = f.read()
        except OSError:
            return {}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    return cpuinfo_fields().get("model name") or platform.processor() or "unknown CPU"


def cores() -> int:
    """The cores this process may run on (as `zoo train` counts them for its batch slices)."""
    return usable_cores()


def load_average() -> float:
    """The 1-minute load average (NaN where the OS has none)."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return float("nan")


def versions() -> dict:
    """{name: version} of Python and of the installed libraries a benchmark may compare."""
    out = {"python": platform.python_version()}
    for dist, key in [("tensorflow", "TensorFlow"), ("keras", "Keras"), ("tensorflow-probability", "TFP"),
                      ("torch", "torch"), ("pythae", "pythae"), ("vae-zoo", "zoo")]:
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out
