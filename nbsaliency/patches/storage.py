"""One ``.npz`` file per index: NumPy arrays plus JSON metadata, never pickle, written atomically.

The metadata (a UTF-8 JSON document stored as a ``uint8`` array named ``metadata``) carries a SHA-256
checksum of every array, so a file that is truncated, garbled or edited is refused on reading
(:class:`~.errors.CorruptIndexError`) instead of being used. Writing goes to a temporary file in the same
folder that replaces the target with ``os.replace``, so a crash never leaves half a file under the name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CorruptIndexError

METADATA = "metadata"


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> None:
    """Write ``arrays`` and ``metadata`` (JSON-serialisable) to ``path`` atomically."""
    path = Path(path)
    if METADATA in arrays:
        raise ValueError(f"the array name {METADATA!r} is reserved")
    document = json.dumps({**metadata, "checksum": _checksum(arrays)}, sort_keys=True).encode()
    payload = {**arrays, METADATA: np.frombuffer(document, dtype=np.uint8)}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_npz(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and metadata from a file written by :func:`write_npz`; :class:`CorruptIndexError` when the file
    cannot be read completely or its checksum does not match."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        metadata = json.loads(arrays.pop(METADATA).tobytes().decode())
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise CorruptIndexError(f"{path}: not a readable index file ({type(error).__name__}: {error})") from error
    if not isinstance(metadata, dict) or metadata.get("checksum") != _checksum(arrays):
        raise CorruptIndexError(f"{path}: checksum mismatch, the file was truncated or modified")
    metadata.pop("checksum")
    return arrays, metadata
