"""Files that appear whole or not at all, checksums, and "did you mean" hints.

Every write in the zoo goes through `atomic_path` or `atomic_dir`: the content is
written to a temporary name in the target's own folder (so the final `os.replace`
is a rename on one file system, which POSIX makes atomic) and renamed into place
only when complete. A crash or an exception leaves the old file, or nothing, never
half a file. This module imports nothing heavy, so the CLI can use it before
TensorFlow loads.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ""):
    """Yields a temporary path beside `path`; on success it replaces `path`.

    `suffix` keeps the extension for writers that insist on one (Pillow picks the
    format by it, Keras wants ``.weights.h5``). The parent folder is created. A
    block that removes the temporary file keeps `path` as it was (a writer that
    finds its result not worth keeping).
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix or ".tmp", dir=parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make every written file private
    try:
        yield tmp
        if os.path.exists(tmp):
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str, text: str) -> str:
    """Writes `text` (UTF-8) to `path` atomically; returns the absolute path."""
    return write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str, data: bytes) -> str:
    """Writes `data` to `path` atomically; returns the absolute path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            _flush(f)
    return os.path.abspath(path)


def _flush(f) -> None:
    # On disk before the rename: otherwise a power loss right after it can leave
    # an empty file under the final name on some file systems.
    f.flush()
    os.fsync(f.fileno())


def write_json(path: str, obj) -> str:
    """Writes `obj` as indented JSON (with a final newline) to `path`, atomically."""
    return write_text(path, json.dumps(obj, indent=2) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str):
    """Yields an empty temporary folder beside `path`; on success it takes its place.

    An existing `path` is first renamed aside and removed only after the new folder
    is in place, so at every moment `path` is either the old folder or the new one.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700, likewise
    try:
        yield tmp
        if os.path.lexists(path):
            aside = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old.", dir=parent)
            os.replace(path, os.path.join(aside, "old"))
            os.replace(tmp, path)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def sha256(path: str) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    """" Did you mean a, b?" for up to three close matches of `word`, else ""."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3, cutoff=cutoff)
    return f" Did you mean {', '.join(close)}?" if close else ""
