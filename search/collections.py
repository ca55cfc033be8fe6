"""Each visitor's collection: the bundled gallery, the images they added, and the
library built with the command line, as on-disk indexes per embedding model.

The app makes one ``Collections`` (``ui.build_demo``) and the Search tab asks it
everything: which indexes a visitor searches (``sources``), the hits over all of them
(``search``), adding and removing images, the newest images to preview. Added images
are stored as normalised copies in ``<data dir>/uploads/<scope>``, so that every
model's index is built from the same files; a scope is "shared" (a laptop, a
classroom) or one per session (GALLERY_MODE=session, the default on a public Space).
Open indexes are kept in memory, least recently used closed first.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime import settings
from runtime.files import atomic_write_text
from runtime.inputs import notify
from runtime.messages import LOCALES, InputError, Notice, in_each, said
from search.index import ImageIndex, content_hash, scan
from search.uploads import UploadBudget, distinct, extract_zip, is_zip, store_images

MAX_OPEN_INDEXES = 32  # open indexes kept in memory (sessions come and go)
PUBLIC_FIELDS = ("id", "name", "score", "width", "height", "added", "source")
# Beside a visitor's stored copies (named by content, 19bf0d9a10783742.jpg): the name
# each was uploaded under, which is what the page shows. Hidden, so no scan indexes it.
NAMES_FILE = ".names.json"


@dataclass
class Added:
    """What adding files did: images added, images already there, and (name, why) per skipped file."""

    added: int = 0
    already: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # (name given, where it already is, its name there): content the collection holds already
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)


class Collections:
    def __init__(
        self,
        data_dir: Path | None = None,
        bundled: Path | None = None,
        gallery_mode: str | None = None,
        library: str | None = None,
    ):
        self.data_dir = Path(data_dir or settings.DATA_DIR)
        self.bundled = Path(bundled or settings.EXAMPLE_IMAGES_DIR)
        self.gallery_mode = gallery_mode or settings.GALLERY_MODE
        self.library_path = settings.SEARCH_INDEX if library is None else library
        self._open: OrderedDict[tuple[str, str], ImageIndex] = OrderedDict()
        self._library: ImageIndex | None = None
        self._lock = threading.Lock()

    # --- Where things are -------------------------------------------------------

    def scope(self, session: str | None) -> str:
        """ "shared", or one folder per session (by a hash: the session id stays secret)."""
        if self.gallery_mode == "session" and session:
            return "sessions/" + hashlib.sha256(session.encode()).hexdigest()[:24]
        return "shared"

    def upload_folder(self, session: str | None) -> Path:
        """Where this visitor's added images go."""
        return self.data_dir / "uploads" / self.scope(session)

    def names(self, session: str | None) -> dict[str, str]:
        """{stored file name: the name it was uploaded under} for this visitor's images."""
        try:
            names = json.loads((self.upload_folder(session) / NAMES_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return names if isinstance(names, dict) else {}

    def _name(self, session: str | None, stored: dict[str, str]) -> None:
        """Record (or with a None value, forget) the upload names of stored copies."""
        with self._lock:
            names = self.names(session)
            names.update(stored)
            names = {k: v for k, v in names.items() if v is not None}
            atomic_write_text(self.upload_folder(session) / NAMES_FILE, json.dumps(names, ensure_ascii=False))

    def named(self, hits: list[dict], session: str | None) -> list[dict]:
        """``hits`` with each of the visitor's own images under the name it was uploaded as."""
        names = self.names(session) if any(hit.get("source") == "yours" for hit in hits) else {}
        return [
            {**hit, "name": names.get(Path(hit["path"]).name, hit["name"])} if hit.get("source") == "yours" else hit
            for hit in hits
        ]

    # --- Indexes ------------------------------------------------------------------

    def index(self, scope: str, folder: Path, pipe, model_key: str, create: bool = True) -> ImageIndex | None:
        """The index of ``scope`` for ``pipe``'s model, brought in line with ``folder`` the
        first time this process opens it; None when there is nothing to index and
        ``create`` is false (a visitor who only searches leaves nothing on disk)."""
        slot = (scope, pipe.fingerprint)
        root = self.data_dir / "indexes" / scope / pipe.fingerprint
        with self._lock:
            if slot in self._open:
                self._open.move_to_end(slot)
                return self._open[slot]
            if not create and not folder.is_dir() and not (root / "index.json").exists():
                return None
            index = ImageIndex.open_or_create(root, pipe, model_key)
            if folder.is_dir():  # re-points images indexed at an old place of the folder (a moved app)
                index.add(scan([folder]), pipe, progress=True, home=folder)
            index.prune()  # files deleted while the app was down
            self._open[slot] = index
            while len(self._open) > MAX_OPEN_INDEXES:
                self._open.popitem(last=False)[1].close()
            return index

    def library(self, pipe) -> ImageIndex | None:
        """The index named by SEARCH_INDEX (built with the command line), when it was built
        with ``pipe``'s model; otherwise a notice, and it sits this search out."""
        if not self.library_path:
            return None
        try:
            with self._lock:
                if self._library is None:
                    self._library = ImageIndex.open(self.library_path)
            self._library.check_model(pipe)
        except ValueError as error:
            notify(f"The library index (SEARCH_INDEX) is not searched: {error}")
            return None
        return self._library

    def sources(self, pipe, model_key: str, session: str | None, create: bool = False) -> dict[str, ImageIndex]:
        """{source: index} a visitor searches: the bundled gallery, their own images
        (absent until they add some) and the SEARCH_INDEX library."""
        found = {"bundled": self.index("bundled", self.bundled, pipe, model_key)}
        mine = self.index(self.scope(session), self.upload_folder(session), pipe, model_key, create)
        if mine is not None:
            found["yours"] = mine
        library = self.library(pipe)
        if library is not None:
            found["library"] = library
        return found

    # --- Searching ------------------------------------------------------------------

    @staticmethod
    def owner(sources: dict[str, ImageIndex], image_id: str) -> str | None:
        """Which source holds the image ``image_id``."""
        return next((name for name, index in sources.items() if image_id in index), None)

    @staticmethod
    def search(sources: dict[str, ImageIndex], query: np.ndarray, top_k: int, exclude=()) -> list[dict]:
        """The best ``top_k`` hits over every source, best first, each tagged with its source."""
        hits = [
            {**hit, "source": name} for name, index in sources.items() for hit in index.search(query, top_k, exclude)
        ]
        return sorted(hits, key=lambda hit: -hit["score"])[:top_k]

    @staticmethod
    def public(hits: list[dict]) -> list[dict]:
        """Hits for API clients: no server paths, and where each image comes from."""
        return [{k: hit[k] for k in PUBLIC_FIELDS} for hit in hits]

    def embeddings(self, pipe, session: str | None) -> tuple[list[Path], np.ndarray]:
        """(paths, (N, D) embeddings) of a visitor's whole collection, for the embedding map."""
        indexes = [self.index("bundled", self.bundled, pipe, "")]
        indexes.append(self.index(self.scope(session), self.upload_folder(session), pipe, "", create=False))
        indexes = [index for index in indexes if index is not None]
        paths = [Path(item["path"]) for index in indexes for item in index.items()]
        return paths, np.concatenate([index.embeddings for index in indexes])

    # --- Changing a visitor's images ----------------------------------------------------

    def add(
        self, paths: list[str], pipe, model_key: str, session: str | None, budget: UploadBudget | None = None
    ) -> Added:
        """Unpack zips, store the images as copies, embed them into this visitor's index.
        The same file given twice counts once; ``budget`` (one request's, by default)
        bounds the bytes unpacked and the images decoded, and what it used is left in it."""
        paths = distinct(paths)
        if len(paths) > settings.MAX_INDEX_UPLOAD:
            raise InputError(
                "too_many_files",
                limit=settings.MAX_INDEX_UPLOAD,
                count=len(paths),
            )
        budget = budget or UploadBudget.for_request()
        sources = self.sources(pipe, model_key, session, create=True)
        mine = sources["yours"]
        skipped, refused_zips = [], []
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="unzip-", dir=self.data_dir) as unpacked:
            images = []
            for number, path in enumerate(paths):
                if not is_zip(path):
                    images.append(path)
                    continue
                try:
                    written, refused = extract_zip(path, Path(unpacked) / str(number), budget=budget)
                except InputError as error:  # the whole archive: unsafe, too many files, over the budget
                    refused_zips.append(error)
                    skipped.append((path.name, Notice(error.code, **error.params)))
                    continue
                images += [(f"{path.name}/{member}", file) for member, file in written]
                skipped += [(f"{path.name}/{member}", why) for member, why in refused]
            if refused_zips and len(refused_zips) == len(paths):  # nothing to add: why, for each archive
                if len(refused_zips) == 1:
                    raise refused_zips[0]
                reasons = [in_each(error) for error in refused_zips]
                raise InputError(
                    "zips_refused",
                    reasons={locale: " ".join(reason[locale] for reason in reasons) for locale in LOCALES},
                )
            if len(images) > settings.MAX_INDEX_UPLOAD:
                raise InputError(
                    "too_many_images",
                    limit=settings.MAX_INDEX_UPLOAD,
                    count=len(images),
                )
            images, duplicates = self._new_content(images, sources)
            folder = self.upload_folder(session)
            there = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
            given: list[str] = []  # the name each stored copy was given
            stored, refused = store_images(images, folder, budget, given)
            skipped += refused
        elsewhere, names, fresh = len(duplicates), self.names(session), {}
        for path, name in zip(stored, given, strict=True):
            if path.name in there or path.name in fresh:  # the visitor's own: the same copy, stored once
                duplicates.append((name, "yours", names.get(path.name) or fresh.get(path.name) or path.name))
            else:
                fresh[path.name] = name
        self._name(session, fresh)
        report = mine.add(stored, pipe, progress=True)
        if duplicates:
            more = " ..." if len(duplicates) > 5 else ""
            notify(
                Notice(
                    "duplicates",
                    names=", ".join(f"{name} = {known}" for name, _, known in duplicates[:5]) + more,
                )
            )
        # The index names a file it could not embed by its stored copy: a path on the server.
        later = [(Path(path).name, why) for path, why in report.skipped]
        return Added(len(report.added), len(stored) - len(report.added) + elsewhere, [*skipped, *later], duplicates)

    @staticmethod
    def _new_content(images: list, sources: dict[str, ImageIndex]) -> tuple[list, list]:
        """``images`` (paths or (name, path) pairs) less those whose bytes an index other
        than the visitor's own holds already (the bundled gallery, the library): the
        content hash is the index's id, so a bundled image uploaded again is found
        whatever it is called. Returns (new images, [(name, source, name there)])."""
        others = {name: index for name, index in sources.items() if name != "yours"}
        new, duplicates = [], []
        for file in images:
            name, path = file if isinstance(file, tuple) else (Path(str(file)).name, file)
            try:
                digest = content_hash(Path(path))
            except OSError:
                new.append(file)  # store_images reports it
                continue
            owner = next((source for source, index in others.items() if digest in index), None)
            if owner is None:
                new.append(file)
            else:
                index = others[owner]
                duplicates.append((name, owner, index.item(index.row(digest))["name"]))
        return new, duplicates

    def remove(self, image_id: str, pipe, model_key: str, session: str | None) -> Path:
        """Remove an image this visitor added, from every model's index of theirs; returns its file."""
        sources = self.sources(pipe, model_key, session)
        mine = sources.get("yours")
        owner = self.owner(sources, image_id)
        if owner in ("bundled", "library") and (mine is None or image_id not in mine):
            raise InputError("not_yours", where=said(f"where_{owner}"))
        if mine is None or image_id not in mine:
            raise InputError("unknown_image", id=image_id)
        path = Path(mine.item(mine.row(image_id))["path"])
        scope = self.scope(session)
        with self._lock:
            opened = [index for (s, _), index in self._open.items() if s == scope]
        for index in opened:
            if image_id in index:
                index.remove([image_id])
        path.unlink(missing_ok=True)
        self._name(session, {path.name: None})
        return path

    def browse(self, session: str | None, limit: int) -> list[dict]:
        """The newest images of this visitor's collection, theirs first, each as {id, name,
        path, source}: what the collection gallery shows and a click there selects."""
        names, mine = self.names(session), self.upload_folder(session)
        return [
            {
                "id": content_hash(path),
                "name": names.get(path.name, path.name) if path.parent == mine else path.name,
                "path": str(path),
                "source": "yours" if path.parent == mine else "bundled",
            }
            for path in self.newest(session, limit)
        ]

    def newest(self, session: str | None, limit: int) -> list[Path]:
        """The newest images of this visitor's collection: theirs first, then the bundled ones."""
        files = []
        for folder in (self.upload_folder(session), self.bundled):
            if folder.is_dir():
                found = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
                files += sorted(found, key=lambda p: -p.stat().st_mtime)
        return files[:limit]
