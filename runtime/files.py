"""Writing files so that a kill at any moment leaves the old file or the new one, never
half of either: everything the app writes (indexes, uploads, reports, records, models)
goes through ``atomic_write_bytes``. And how the app names its files to clients: no
message, record or snippet shows a path on the server (``shown_path``, ``hide_paths``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from runtime import settings

DATA_DIR_LABEL = "<data dir>"  # PLAYGROUND_DATA_DIR, as records and snippets name it


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


def shown_path(path: str | Path) -> str:
    """``path`` as a client may see it: a file of the app itself relative to the app
    (``assets/images/cat.jpg``), one in the data dir as ``<data dir>/...``, anything else
    (an upload in Gradio's temporary cache) by its name alone."""
    real = Path(os.path.realpath(Path(path).expanduser()))
    for root, label in ((settings.DATA_DIR, DATA_DIR_LABEL), (settings.ROOT, "")):
        root = Path(os.path.realpath(root))
        if real == root or root in real.parents:
            relative = real.relative_to(root).as_posix()
            return f"{label}/{relative}" if label else relative
    return real.name


def shown_model(model_id: str) -> str:
    """A checkpoint as clients may see it: a Hub id as it is, a local folder by ``shown_path``."""
    return shown_path(model_id) if Path(str(model_id)).is_dir() else model_id


def hide_paths(text: str) -> str:
    """``text`` with the server's own folders replaced by what they are: the data dir,
    the app's folder, the temporary folder (Gradio's cache lies there), the home folder."""
    roots = [
        (settings.DATA_DIR, DATA_DIR_LABEL),
        (settings.ROOT, "<app>"),
        (Path(tempfile.gettempdir()), "<temp>"),
        (Path.home(), "~"),
    ]
    spellings = []
    for root, label in roots:
        for spelling in {str(root), os.path.realpath(root)}:
            if len(spelling) > 1:
                spellings.append((spelling, label))
    for spelling, label in sorted(spellings, key=lambda item: -len(item[0])):  # the most specific first
        text = text.replace(spelling, label)
    return text
