"""Reader for the IDX format used by MNIST and Fashion-MNIST.

The format is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the raw array. We read it
directly so that any copy of the files works, whatever its gzip bytes are.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

# Type codes from the IDX specification.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataSourceError(RuntimeError):
    """A dataset source is missing, unreadable or does not match its specification."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (plain or gzip-compressed) into a numpy array.

    Raises:
        DataSourceError: the file is truncated, not IDX, or its size disagrees
            with the header.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip raises EOFError on truncation
        raise DataSourceError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataSourceError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise DataSourceError(f"{path}: header truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - header_end
    if body != expected:
        raise DataSourceError(
            f"{path}: header says shape {shape} ({expected} bytes) but the file holds "
            f"{body} bytes after the header; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header_end).reshape(shape).astype(dtype.newbyteorder("="))
