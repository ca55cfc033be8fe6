"""Writing files so that a kill at any moment leaves the old file or the new one, never
half of either: everything the app writes (indexes, uploads, reports, records, models)
goes through ``atomic_write_bytes``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` beside ``path`` and rename it over ``path``, flushed to disk first.
    ``mode`` sets the permissions (``mkstemp`` makes the file private to its owner)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8, readable by everyone (a report or a data file is for reading)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=0o644)
