"""Where the app writes the files its handlers return: spoken answers, timeline frames,
evaluation reports, JSON records. One folder, ``settings.OUTPUT_DIR``, that ``launch``
names in ``allowed_paths`` (Gradio refuses to serve a returned file from anywhere it
wasn't told about: the data dir under ``~/.cache`` included), and nothing else of the
data dir: the indexes and other visitors' uploads stay unserved.

Gradio copies a returned file into its own cache as the handler returns, so what is
here only has to outlive that copy: each new file or folder prunes its kind's entries
older than ``KEEP_SECONDS`` and beyond the newest ``KEEP_ENTRIES``, which bounds the
disk a long-running server uses.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from runtime import settings

KEEP_SECONDS = 15 * 60
KEEP_ENTRIES = 200


def root() -> Path:
    return settings.OUTPUT_DIR


def new_file(kind: str, suffix: str) -> Path:
    """A fresh path ``OUTPUT_DIR/<kind>/<kind>-<time>-<random><suffix>`` (not created);
    names sort by creation time."""
    return _new(kind).with_suffix(suffix)


def new_folder(kind: str) -> Path:
    """A fresh, empty folder under ``OUTPUT_DIR/<kind>`` for a result of several files."""
    folder = _new(kind)
    folder.mkdir()
    return folder


def stable_folder(name: str) -> Path:
    """``OUTPUT_DIR/<name>``, created once and never pruned: for files that are the same
    for every visitor (the probe images), written once and reused."""
    folder = root() / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _new(kind: str) -> Path:
    folder = root() / kind
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder)
    return folder / f"{kind}-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def _prune(folder: Path) -> None:
    entries = sorted(folder.iterdir(), key=lambda p: p.name)  # oldest first: names start with the time
    cutoff = time.time() - KEEP_SECONDS
    for i, entry in enumerate(entries):
        try:
            stale = i < len(entries) - KEEP_ENTRIES or entry.stat().st_mtime < cutoff
        except OSError:  # removed meanwhile by a concurrent prune
            continue
        if stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
