"""An image index on disk: CLIP embeddings plus metadata, built incrementally and safe
to kill, searched through one of the backends in ``search/backends.py``.

Layout of an index directory::

    index.json               the manifest: which model built it, the embedding size and
                             the list of segment files that make up the index
    segments/seg-000042.npz  a block of rows: (n, D) float32 embeddings and metadata
                             columns (content hash, path, width, height, bytes, mtime, date)
    ann/                     the faiss backend's cached graph
    qdrant/                  the embedded Qdrant store (backend "qdrant" without a server)

Crash safety: every batch of embeddings is written to a new segment file, and only then
is the manifest that names it replaced, atomically (write beside, fsync, ``os.replace``).
A kill at any moment leaves the old manifest or the new one, each naming complete files,
so at most the batch in flight is lost; a segment that no manifest names is deleted by
the next writer. Segments are merged like a binary counter (two neighbours of equal size
become one) so that a million images make tens of files, not thousands.

Every row is keyed by the SHA-256 of the file's bytes: adding the same image again is a
no-op, and a moved file keeps its embedding. The manifest records the model (id, revision
and a fingerprint of its projection weights); an index can only be searched or extended
with the model that built it, since another model's embeddings live in another space.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from runtime import settings
from runtime.files import atomic_write_bytes
from runtime.inputs import Range, check_number
from runtime.messages import Notice
from runtime.registry import CHECKPOINTS
from search import backends as search_backends

FORMAT = "multimodal-playground-index"
VERSION = 1
MANIFEST = "index.json"
MAX_TOP_K = 1000
TOP_K = Range(1, MAX_TOP_K)  # hits per search, for the library and the command line
# Hits one search on the page returns: the Search tab's sliders, which the input guard holds
# API clients to as well (a page of thumbnails, not a dump of the collection).
SHOWN = Range(1, 24)
# Segments are merged while they are at most this many rows: past it, a merge would
# rewrite too much for too little.
MAX_SEGMENT_ROWS = 100_000
# Metadata columns kept for every row, with their dtypes on disk.
COLUMNS = {
    "sha256": "U64",
    "path": "U",
    "width": np.int32,
    "height": np.int32,
    "bytes": np.int64,
    "mtime": np.float64,
    "added": np.float64,
}
_EXIF_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class ModelMismatchError(ValueError):
    """The index was built with another embedding model than the one given."""


class IndexBusyError(RuntimeError):
    """Another process is writing to the index."""


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def item_id(sha256: str) -> int:
    """A 60-bit integer id from a content hash: what faiss and Qdrant store."""
    return int(sha256[:15], 16)


def iso_date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def model_record(pipe, key: str = "") -> dict:
    """What the manifest says about the model that built the index: its registry key
    and Hub id (for people) and the fingerprint of its embedding space (for the check)."""
    known = CHECKPOINTS.get(key)
    model_id = known.repo_id if known is not None else pipe.model_id  # "tiny/clip", not a build folder
    return {"key": key, "id": model_id, "revision": pipe.revision, "fingerprint": pipe.fingerprint, "dim": pipe.dim}


def scan(paths: Iterable[str | Path]) -> list[Path]:
    """Every file under ``paths`` (directories are walked recursively, in sorted order),
    leaving out hidden files and folders (.git, .DS_Store, ...)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [Path(folder) / name for name in sorted(files) if not name.startswith(".")]
        elif path.exists() or path.is_symlink():
            found.append(path)
        else:
            raise ValueError(f"{str(path)!r} does not exist.")
    return found


@dataclass
class AddReport:
    """What an ``add`` did, file by file."""

    added: list[str] = field(default_factory=list)
    unchanged: int = 0  # already indexed at the same path, size and mtime: not even read
    duplicates: list[str] = field(default_factory=list)  # same content as an indexed image
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def summary(self, max_lines: int = 20) -> str:
        lines = [
            f"Added {len(self.added)} image(s); {self.unchanged + len(self.duplicates)} already indexed; "
            f"{len(self.skipped)} file(s) skipped."
        ]
        lines += [f"- {name}: {why}" for name, why in self.skipped[:max_lines]]
        if len(self.skipped) > max_lines:
            lines.append(f"- ... and {len(self.skipped) - max_lines} more")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "skipped": [{"file": name, "reason": why} for name, why in self.skipped],
        }


class _Table:
    """Rows in memory: embeddings and metadata columns in arrays that grow by doubling,
    so appending a batch to a million rows does not copy the million."""

    def __init__(self, dim: int, capacity: int = 0):
        self.n = 0
        self.embeddings = np.zeros((capacity, dim), np.float32)
        # Text columns are Python strings in memory (any length), fixed-width on disk.
        self.columns = {
            name: np.zeros(capacity, object if isinstance(dtype, str) else dtype) for name, dtype in COLUMNS.items()
        }
        self.ids = np.zeros(capacity, np.int64)

    def reserve(self, n: int) -> None:
        if n <= len(self.ids):
            return
        capacity = max(n, 2 * len(self.ids), 64)
        grown = np.zeros((capacity, self.embeddings.shape[1]), np.float32)
        grown[: self.n] = self.embeddings[: self.n]
        self.embeddings = grown
        for name, column in self.columns.items():
            self.columns[name] = np.concatenate([column[: self.n], np.zeros(capacity - self.n, column.dtype)])
        self.ids = np.concatenate([self.ids[: self.n], np.zeros(capacity - self.n, np.int64)])

    def stage(self, embeddings: np.ndarray, columns: dict[str, Sequence]) -> int:
        """Write rows after the last one without making them visible; returns the new row count."""
        end = self.n + len(embeddings)
        self.reserve(end)
        self.embeddings[self.n : end] = embeddings
        for name in COLUMNS:
            self.columns[name][self.n : end] = columns[name]
        self.ids[self.n : end] = [item_id(sha) for sha in columns["sha256"]]
        return end

    def select(self, keep: np.ndarray, extra: int = 0) -> _Table:
        """A new table with the rows where ``keep`` is true (room for ``extra`` more)."""
        table = _Table(self.embeddings.shape[1], int(keep.sum()) + extra)
        table.n = int(keep.sum())
        table.embeddings[: table.n] = self.embeddings[: self.n][keep]
        for name in COLUMNS:
            table.columns[name][: table.n] = self.columns[name][: self.n][keep]
        table.ids[: table.n] = self.ids[: self.n][keep]
        return table

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        out = {"embeddings": self.embeddings[start:stop]}
        for name, dtype in COLUMNS.items():
            column = self.columns[name][start:stop]
            out[name] = column.astype(str) if isinstance(dtype, str) else column
        return out


class ImageIndex:
    """An index directory opened for searching and adding. Use ``create``, ``open`` or
    ``open_or_create``; ``close`` (or ``with``) releases the search backend."""

    def __init__(self, root: Path, manifest: dict, backend: str | None = None, qdrant_url: str | None = None):
        self.root = Path(root)
        self.manifest = manifest
        self.backend_name = backend  # None: SEARCH_BACKEND
        self.qdrant_url = qdrant_url  # None: QDRANT_URL
        self._lock = threading.RLock()  # guards the rows and the backend while they change
        self._write_lock = threading.Lock()  # one writer per process; flock keeps out other processes
        self._backend = None
        self._backend_kind = ""
        self._stamp = None
        self._load()

    # --- opening -------------------------------------------------------------

    @classmethod
    def create(
        cls, root: str | Path, pipe, model_key: str = "", backend: str | None = None, qdrant_url: str | None = None
    ) -> ImageIndex:
        root = Path(root)
        if (root / MANIFEST).exists():
            raise ValueError(f"There is already an index at {root}.")
        if root.exists() and any(root.iterdir()):
            raise ValueError(f"{root} is a folder that is not empty and not an index: choose a new path.")
        now = iso_date(time.time())
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "uuid": uuid.uuid4().hex,
            "model": model_record(pipe, model_key),
            "created": now,
            "updated": now,
            "generation": 0,
            "next_segment": 1,
            "count": 0,
            "segments": [],
        }
        (root / "segments").mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(root / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode())
        return cls(root, manifest, backend, qdrant_url)

    @classmethod
    def open(cls, root: str | Path, backend: str | None = None, qdrant_url: str | None = None) -> ImageIndex:
        return cls(Path(root), cls._read_manifest(Path(root)), backend, qdrant_url)

    @classmethod
    def open_or_create(
        cls, root: str | Path, pipe, model_key: str = "", backend: str | None = None, qdrant_url: str | None = None
    ) -> ImageIndex:
        if (Path(root) / MANIFEST).exists():
            index = cls.open(root, backend, qdrant_url)
            index.check_model(pipe)
            return index
        return cls.create(root, pipe, model_key, backend, qdrant_url)

    @staticmethod
    def _read_manifest(root: Path) -> dict:
        path = root / MANIFEST
        if not path.is_file():
            raise ValueError(
                f"No index at {root}: build one first (python -m pipelines.retrieval index DIR --index {root})."
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"The index manifest {path} can't be read: {error}") from None
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise ValueError(f"{path} is not a version-{VERSION} index of this app.")
        return manifest

    def _load(self) -> None:
        """Read every segment the manifest names. A writer in another process may delete
        an old segment just after we read its manifest: then read the new manifest."""
        for attempt in range(5):
            try:
                table = _Table(self.dim, self.manifest["count"])
                for segment in self.manifest["segments"]:
                    with np.load(self.root / "segments" / segment["file"], allow_pickle=False) as data:
                        table.n = table.stage(data["embeddings"], {name: data[name] for name in COLUMNS})
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
                time.sleep(0.05)
                self.manifest = self._read_manifest(self.root)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
                raise ValueError(
                    f"The index at {self.root} has a damaged segment file ({type(error).__name__}: {error}). "
                    "Restore it from a backup or build the index again."
                ) from None
        self.table = table
        self._row_by_id = {int(i): row for row, i in enumerate(table.ids[: table.n])}
        self._row_by_path = {p: row for row, p in enumerate(table.columns["path"][: table.n])}
        self._stamp = self._manifest_stamp()
        if self._backend is not None:
            self._sync_backend()

    def _manifest_stamp(self):
        try:
            stat = (self.root / MANIFEST).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def refresh(self) -> bool:
        """Reload if another process changed the index since we read it."""
        with self._lock:
            if self._manifest_stamp() == self._stamp:
                return False
            self.manifest = self._read_manifest(self.root)
            self._load()
            return True

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    def __enter__(self) -> ImageIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what is in it -----------------------------------------------------------

    @property
    def dim(self) -> int:
        return int(self.manifest["model"]["dim"])

    @property
    def model(self) -> dict:
        return self.manifest["model"]

    def __len__(self) -> int:
        return self.table.n

    def __contains__(self, sha256: str) -> bool:
        return item_id(sha256) in self._row_by_id

    @property
    def embeddings(self) -> np.ndarray:
        """(N, D) unit vectors, one row per image (a view: don't write to it)."""
        return self.table.embeddings[: self.table.n]

    def item(self, row: int, score: float | None = None) -> dict:
        columns = self.table.columns
        path = str(columns["path"][row])
        item = {
            "id": str(columns["sha256"][row]),
            "path": path,
            "name": Path(path).name,
            "width": int(columns["width"][row]),
            "height": int(columns["height"][row]),
            "bytes": int(columns["bytes"][row]),
            "added": iso_date(float(columns["added"][row])),
        }
        if score is not None:
            item["score"] = float(score)
        return item

    def items(self) -> list[dict]:
        return [self.item(row) for row in range(len(self))]

    def row(self, sha256: str) -> int:
        row = self._row_by_id.get(item_id(sha256)) if isinstance(sha256, str) and len(sha256) >= 15 else None
        if row is None:
            raise ValueError(f"No image with id {sha256!r} in this index.")
        return row

    def embedding(self, sha256: str) -> np.ndarray:
        return self.embeddings[self.row(sha256)]

    def check_model(self, pipe) -> None:
        """Raise ModelMismatchError unless ``pipe`` embeds into the space this index was built in."""
        built, given = self.model, model_record(pipe)
        if built["fingerprint"] != given["fingerprint"] or built["dim"] != given["dim"]:
            raise ModelMismatchError(
                f"This index was built with {built['id']}@{built['revision']} (fingerprint {built['fingerprint']}, "
                f"{built['dim']} dimensions) but the model in use is {given['id']}@{given['revision']} (fingerprint "
                f"{given['fingerprint']}, {given['dim']} dimensions). Their embeddings are not comparable, so the "
                f"results would be wrong: use the model the index was built with"
                f"{' (' + built['key'] + ')' if built.get('key') else ''}, or build a new index with this one."
            )

    # --- searching ---------------------------------------------------------------

    @property
    def backend(self):
        """The search backend (SEARCH_BACKEND, or the index's own choice), created and
        brought up to date on first use."""
        with self._lock:
            kind = search_backends.choose(self.backend_name, len(self))
            if self._backend is None or kind != self._backend_kind:
                if self._backend is not None:
                    self._backend.close()
                self._backend = search_backends.create(kind, self.root, self.manifest["uuid"], self.qdrant_url)
                self._backend_kind = kind
                self._sync_backend()
                self._backend.save()
            return self._backend

    def _sync_backend(self) -> None:
        self._backend.sync(self.table.ids[: self.table.n], self.embeddings)

    def search(self, query: np.ndarray, top_k: int = 10, exclude: Sequence[str] = ()) -> list[dict]:
        """The ``top_k`` images closest to the (D,) unit ``query``, best first, as dicts
        (id, path, name, width, height, bytes, added, score); ids in ``exclude`` are left out."""
        top_k = TOP_K.check("top_k", top_k)
        query = np.asarray(query, np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise ValueError(f"The query has {query.shape[0]} dimensions; this index holds {self.dim}.")
        self.refresh()
        with self._lock:
            excluded = {item_id(sha) for sha in exclude}
            scores, ids = self.backend.search(query[None, :], top_k + len(excluded))
            rows = [
                (self._row_by_id.get(int(i)), s)
                for i, s in zip(ids[0], scores[0], strict=True)
                if i != -1 and int(i) not in excluded
            ]
            return [self.item(row, score) for row, score in rows if row is not None][:top_k]

    def query(
        self,
        pipe,
        text: str | None = None,
        image=None,
        text_weight: float = 0.5,
        top_k: int = 10,
        exclude: Sequence[str] = (),
    ) -> list[dict]:
        """Search by text, by image, or both (see RetrievalPipeline.embed_query), after
        checking that ``pipe`` is the model this index was built with."""
        self.check_model(pipe)
        return self.search(pipe.embed_query(text=text, image=image, text_weight=text_weight), top_k, exclude)

    # --- adding and removing ---------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self):
        """Hold the index for writing: a lock in this process, an OS file lock across
        processes (where the OS has one)."""
        with self._write_lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / ".lock", "a+b") as lock:
                try:
                    import fcntl
                except ImportError:  # Windows: one process at a time is up to the user
                    fcntl = None
                if fcntl is not None:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        raise IndexBusyError(
                            f"Another process is writing to the index at {self.root}; try again when it has finished."
                        ) from None
                self.refresh()
                self._delete_orphans()
                yield

    def _delete_orphans(self) -> None:
        """Segments that no manifest names: written by a process killed before it switched."""
        named = {segment["file"] for segment in self.manifest["segments"]}
        for path in (self.root / "segments").glob("*"):
            if path.name not in named:
                path.unlink(missing_ok=True)

    def add(
        self,
        files: Iterable[str | Path],
        pipe,
        *,
        batch_size: int | None = None,
        progress: bool = False,
        on_batch: Callable[[int, int], None] | None = None,
        home: str | Path | None = None,
    ) -> AddReport:
        """Embed and add ``files`` (image paths; anything else is skipped and reported),
        a batch at a time, each batch committed to disk before the next starts.

        Files already indexed (same path, size and mtime, or same content) are not
        embedded again. Known content found at a new path is re-pointed there, keeping its
        embedding, when its old file is gone or lies outside ``home`` (the folder the index
        mirrors: an app moved or cloned again next to its old copy). ``progress`` shows a
        tqdm bar (which the UI mirrors); ``on_batch(done, total)`` is called after each
        committed batch."""
        from tqdm.auto import tqdm

        batch_size = check_number("batch_size", batch_size or settings.INDEX_BATCH_SIZE, 1, 4096)
        self.check_model(pipe)
        report = AddReport()
        with self._writing():
            todo, moved = self._triage([Path(f) for f in files], report, home)
            if moved:
                self._commit(moved, set(moved["sha256"]))
            bar = tqdm(total=len(todo), unit="img", desc="Indexing", disable=not progress, dynamic_ncols=True)
            # Decode the next batch on worker threads while the model embeds this one.
            with ThreadPoolExecutor(max_workers=2) as pool:
                batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
                pending = [pool.submit(_decode_all, batches[0])] if batches else []
                for number in range(len(batches)):
                    decoded = pending.pop().result()
                    if number + 1 < len(batches):
                        pending.append(pool.submit(_decode_all, batches[number + 1]))
                    good = []
                    for (path, sha, stat), (image, size, error) in zip(batches[number], decoded, strict=True):
                        if error:
                            report.skipped.append((str(path), error))
                        else:
                            good.append((path, sha, stat, image, size))
                    if good:
                        embeddings = pipe.embed_images([g[3] for g in good], batch_size=len(good))
                        now = time.time()
                        self._commit(
                            {
                                "embeddings": embeddings,
                                "sha256": [g[1] for g in good],
                                "path": [str(g[0]) for g in good],
                                "width": [g[4][0] for g in good],
                                "height": [g[4][1] for g in good],
                                "bytes": [g[2].st_size for g in good],
                                "mtime": [g[2].st_mtime for g in good],
                                "added": [now] * len(good),
                            },
                            set(),
                        )
                        report.added += [str(g[0]) for g in good]
                    bar.update(len(batches[number]))
                    if on_batch is not None:
                        on_batch(min((number + 1) * batch_size, len(todo)), len(todo))
            bar.close()
            if self._backend is not None:
                self._backend.save()
        return report

    def _triage(self, paths: list[Path], report: AddReport, home=None) -> tuple[list, dict | None]:
        """Split ``paths`` into new files to embed and known content at a new path (moved
        files, which keep their embeddings); count and report the rest."""
        home = Path(os.path.realpath(home)) if home is not None else None

        def stale(old: str) -> bool:  # the indexed file is gone, or not where the index now lives
            real = Path(os.path.realpath(old))
            return not real.exists() or (home is not None and home != real and home not in real.parents)

        todo, seen, moved_rows, moved_paths, gone = [], set(), [], [], set()
        columns = self.table.columns
        for path in paths:
            try:
                stat = path.stat()
                if not path.is_file():
                    raise OSError("not a regular file")
            except OSError as error:
                report.skipped.append((str(path), f"can't be read ({getattr(error, 'strerror', None) or error})"))
                continue
            row = self._row_by_path.get(str(path))
            if row is not None and columns["bytes"][row] == stat.st_size and columns["mtime"][row] == stat.st_mtime:
                report.unchanged += 1
                continue
            try:
                sha = content_hash(path)
            except OSError as error:
                report.skipped.append((str(path), f"can't be read ({error.strerror or error})"))
                continue
            known = self._row_by_id.get(item_id(sha))
            if known is not None or sha in seen:
                old_path = columns["path"][known] if known is not None else None
                if known is not None and old_path != str(path) and stale(old_path) and sha not in gone:
                    moved_rows.append(known)  # the file moved: keep its embedding, record the new place
                    moved_paths.append((str(path), stat))
                    gone.add(sha)
                else:
                    report.duplicates.append(str(path))
                continue
            seen.add(sha)
            todo.append((path, sha, stat))
        if not moved_rows:
            return todo, None
        moved = {name: self.table.columns[name][moved_rows] for name in COLUMNS}
        moved["embeddings"] = self.table.embeddings[moved_rows]
        moved["path"] = [p for p, _ in moved_paths]
        moved["mtime"] = [s.st_mtime for _, s in moved_paths]
        report.duplicates += [p for p, _ in moved_paths]
        return todo, moved

    def remove(self, keys: Iterable[str]) -> list[dict]:
        """Remove images by id (content hash) or by path; returns the removed items.
        Unknown keys are an error, and nothing is removed then."""
        with self._writing():
            rows = []
            for key in keys:
                key = str(key)
                row = self._row_by_path.get(key, self._row_by_path.get(str(Path(key).resolve())))
                if row is None:
                    row = self.row(key)
                rows.append(row)
            removed = [self.item(row) for row in sorted(set(rows))]
            if removed:
                self._commit(None, {item["id"] for item in removed})
            if self._backend is not None:
                self._backend.save()
            return removed

    def prune(self) -> list[dict]:
        """Remove the images whose file no longer exists."""
        gone = [
            str(sha)
            for sha, path in zip(
                self.table.columns["sha256"][: len(self)], self.table.columns["path"][: len(self)], strict=True
            )
            if not Path(path).exists()
        ]
        return self.remove(gone) if gone else []

    def _commit(self, new: dict | None, remove: set[str]) -> None:
        """Write ``new`` rows and drop the ``remove`` hashes: new segment files first, then
        the manifest naming them switched atomically, then the replaced files deleted."""
        table, segments = self.table, self.manifest["segments"]
        keep = np.ones(table.n, bool)
        if remove:
            keep[[self._row_by_id[item_id(sha)] for sha in remove]] = False
        n_new = 0 if new is None else len(new["embeddings"])
        staged = table if keep.all() else table.select(keep, n_new)
        end = staged.stage(new["embeddings"], new) if n_new else staged.n

        # Plan the segment list over the new rows: [start, count, file or None (to write)].
        plan, obsolete, start, old_start = [], [], 0, 0
        for segment in segments:
            count = int(keep[old_start : old_start + segment["count"]].sum())
            if count == segment["count"]:
                plan.append([start, count, segment["file"]])
            else:
                obsolete.append(segment["file"])
                if count:
                    plan.append([start, count, None])
            start, old_start = start + count, old_start + segment["count"]
        if n_new:
            plan.append([start, n_new, None])
        while len(plan) >= 2 and plan[-2][1] <= plan[-1][1] and plan[-2][1] + plan[-1][1] <= MAX_SEGMENT_ROWS:
            last = plan.pop()
            obsolete += [entry[2] for entry in (plan[-1], last) if entry[2]]
            plan[-1] = [plan[-1][0], plan[-1][1] + last[1], None]

        manifest = dict(self.manifest)
        for entry in plan:
            if entry[2] is None:
                entry[2] = f"seg-{manifest['next_segment']:06d}.npz"
                manifest["next_segment"] += 1
                self._write_segment(entry[2], staged.rows(entry[0], entry[0] + entry[1]))
        manifest.update(
            segments=[{"file": f, "count": c} for _, c, f in plan],
            count=end,
            generation=manifest["generation"] + 1,
            updated=iso_date(time.time()),
        )
        self._write_manifest(manifest)
        for name in obsolete:
            (self.root / "segments" / name).unlink(missing_ok=True)

        with self._lock:
            staged.n = end
            self.table, self.manifest = staged, manifest
            if remove:
                self._row_by_id = {int(i): row for row, i in enumerate(staged.ids[:end])}
                self._row_by_path = {p: row for row, p in enumerate(staged.columns["path"][:end])}
            else:
                for row in range(end - n_new, end):
                    self._row_by_id[int(staged.ids[row])] = row
                    self._row_by_path[staged.columns["path"][row]] = row
            self._stamp = self._manifest_stamp()
            if self._backend is not None:
                if search_backends.choose(self.backend_name, end) != self._backend_kind:
                    self._backend.close()
                    self._backend = None  # the next search picks the backend for the new size
                else:
                    self._sync_backend()

    def _write_segment(self, name: str, rows: dict[str, np.ndarray]) -> None:
        import io

        buffer = io.BytesIO()
        np.savez(buffer, **rows)
        atomic_write_bytes(self.root / "segments" / name, buffer.getvalue())

    def _write_manifest(self, manifest: dict) -> None:
        atomic_write_bytes(self.root / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode())

    def info(self) -> dict:
        """A summary for people: where, which model, how many images, which backend."""
        return {
            "path": str(self.root),
            "images": len(self),
            "model": self.model,
            "created": self.manifest["created"],
            "updated": self.manifest["updated"],
            "segments": len(self.manifest["segments"]),
            "backend": search_backends.choose(self.backend_name, len(self)),
        }


def _decode_all(batch: list) -> list[tuple]:
    return [_decode(path) for path, _sha, _stat in batch]


def _decode(path: Path) -> tuple:
    """(RGB image ready for the model, (width, height) as displayed, None) or (None, None, why not)."""
    from PIL import Image

    from runtime.inputs import load_image

    try:
        image = load_image(path)
        with Image.open(path) as header:  # the size before load_image's downscaling
            width, height = header.size
            orientation = header.getexif().get(0x0112, 1)
        if orientation in _EXIF_TRANSPOSED:
            width, height = height, width
        return image, (width, height), None
    except (ValueError, TypeError, OSError) as error:
        return None, None, _reason(error)


def _reason(error: Exception) -> str:
    """A short reason for the report: the pipeline's message without repeating the file name."""
    message = str(error)
    if "not an image" in message:
        return Notice("skip_not_image")
    if "damaged or truncated" in message:
        return Notice("skip_damaged")
    return message
