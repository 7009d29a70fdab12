"""Quiet by default: TensorFlow's start-up chatter is hidden unless `--verbose`.

TensorFlow talks on three channels. Its C++ logging obeys `TF_CPP_MIN_LOG_LEVEL`,
read when the library loads. Its Python side logs through the "tensorflow" and
"absl" loggers. And the XLA/CUDA code logs through Abseil's C++ logging before
Abseil is initialized, which ignores every setting and writes straight to file
descriptor 2 ("oneDNN custom operations are on", "failed call to cuInit", ...).
The first two are configured here; the third is filtered out of descriptor 2 line by
line while a command runs, everything else passing through unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading

# A line of Abseil/TSL C++ logging at INFO, WARNING or ERROR ("I0000 00:00:17.6  6152 port.cc:153] ..."),
# Abseil's notice that it is not initialized, and the continuation of TF's CPU-feature notice.
# FATAL lines ("F...") always pass: they explain a crash.
NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: )")


def configure(verbose: bool) -> None:
    """Sets TensorFlow's log levels; call it before TensorFlow is imported.

    Args:
        verbose: True shows every log line (`TF_CPP_MIN_LOG_LEVEL=0`); False keeps
            errors that surface as Python exceptions only (level 3, Python loggers at ERROR).
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "3"
    if verbose:
        return
    from absl import logging as absl_logging  # pure Python, ~80 ms; TF's own dependency

    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _forward(source: int, target: int) -> None:
    """Copies `source` to `target` until end of file, dropping native log lines.

    A piece ending in a carriage return (a progress counter redrawn in place) goes out
    at once; other text waits for its newline, since only whole lines can be judged.
    """
    pending = b""
    while chunk := os.read(source, 65536):
        pieces = re.split(rb"(?<=[\r\n])", pending + chunk)
        pending = pieces.pop()  # after the last separator: an unfinished line ("" when none)
        kept = b"".join(p for p in pieces if not NATIVE_LOG_LINE.match(p))
        if kept:
            os.write(target, kept)
    if pending and not NATIVE_LOG_LINE.match(pending):
        os.write(target, pending)


@contextlib.contextmanager
def native_log_filter():
    """While the block runs, file descriptor 2 goes through `_forward` to the real stderr."""
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    worker = threading.Thread(target=_forward, args=(read_end, original), daemon=True)
    worker.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the worker reads end of file
        # A process started by the command may still hold the pipe: then the worker is left
        # forwarding (a daemon thread, with both of its descriptors) rather than waited for.
        worker.join(timeout=5)
        if not worker.is_alive():
            os.close(read_end)
            os.close(original)


@contextlib.contextmanager
def quiet(verbose: bool):
    """Runs a command with TensorFlow's logs shown (`verbose`) or hidden."""
    configure(verbose)
    if verbose:
        yield
        return
    with native_log_filter():
        yield
