"""What visitors upload to the search collection: zip files unpacked as the hostile
input they may be, and images stored as normalised copies named by content.

One ``UploadBudget`` bounds a whole request (and, through the UI, a visitor over time):
the bytes its zips unpack to and the images it decodes. A zip is refused as a whole
when it would write outside the target folder (absolute paths, ``..``), holds more
than ``max_files`` files, or would unpack to more than the budget has left; sizes come
from the zip's directory, which ``zipfile`` enforces while reading (it stops at the
declared size and checks the CRC), so a member can't unpack to more than it declared.

Members are written under numbered names of their own (``00042.png``), never under
the archive's names: a file and a folder of the same name, a name over 255 bytes, two
thousand nested folders or two members with one name can't collide or fail on disk.
Every member that is not added says why (links, encrypted, hidden files, over the
pixel limit, damaged), and every distinct image is kept.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runtime import settings
from runtime.files import atomic_write_bytes
from runtime.inputs import load_image
from runtime.messages import InputError, Notice

# Folders that archivers add and nobody means to index.
_JUNK = ("__MACOSX/",)
STORED_SIDE = 1024  # stored copies are at most this many pixels on their longest side
_SUFFIX_CHARS = 10  # the member's own suffix kept on its numbered name (.png, .jpeg, ...)


@dataclass
class UploadBudget:
    """What one request may still unpack (bytes) and decode (images). ``max_bytes`` and
    ``max_images`` start from MAX_ZIP_BYTES and MAX_INDEX_UPLOAD; the Search tab lowers
    them to what the visitor has left this hour."""

    max_bytes: int
    max_images: int
    bytes_used: int = 0
    images_used: int = 0

    @classmethod
    def for_request(cls, max_bytes: int | None = None, max_images: int | None = None) -> UploadBudget:
        return cls(
            settings.MAX_ZIP_BYTES if max_bytes is None else max_bytes,
            settings.MAX_INDEX_UPLOAD if max_images is None else max_images,
        )

    def take_bytes(self, nbytes: int) -> bool:
        if self.bytes_used + nbytes > self.max_bytes:
            return False
        self.bytes_used += nbytes
        return True

    def take_image(self) -> bool:
        if self.images_used >= self.max_images:
            return False
        self.images_used += 1
        return True


def is_zip(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".zip" or zipfile.is_zipfile(path)


def distinct(paths: Iterable[str | Path]) -> list[Path]:
    """``paths`` without repeats: the same file named twice (``files=[f] * 5``), or two
    uploads of the same bytes, counts once."""
    seen_paths, seen_contents, kept = set(), set(), []
    for path in map(Path, paths):
        real = os.path.realpath(path)
        if real in seen_paths:
            continue
        seen_paths.add(real)
        try:
            digest = _digest(path)
        except OSError:
            digest = None  # left for the reader to report
        if digest is not None:
            if digest in seen_contents:
                continue
            seen_contents.add(digest)
        kept.append(path)
    return kept


def _digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _safe_name(name: str) -> PurePosixPath:
    """The member's path relative to the target, or ValueError when it would escape it."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if "\x00" in name or path.is_absolute() or (len(posix) > 1 and posix[1] == ":") or ".." in path.parts:
        raise InputError("zip_unsafe", member=repr(_shown(name)))
    return path


def _shown(name: str, limit: int = 120) -> str:
    """A member's name as a report shows it: at most ``limit`` characters."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def extract_zip(
    zip_path: str | Path,
    target: str | Path,
    *,
    budget: UploadBudget | None = None,
    max_files: int | None = None,
    max_pixels: int | None = None,
) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """Unpack the files of ``zip_path`` under ``target``; return ([(member, file written)],
    [(member, why skipped)]). Raises ValueError, writing nothing, when the archive is
    unsafe, holds too many files or would unpack to more than ``budget`` has left."""
    from PIL import Image

    budget = budget or UploadBudget.for_request()
    max_files = max_files or settings.MAX_ZIP_FILES
    max_pixels = max_pixels or settings.MAX_IMAGE_PIXELS
    name = Path(zip_path).name
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError("zip_unreadable", file=name, detail=str(error)) from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        # 1. Check the whole directory before writing a byte.
        for member in members:
            _safe_name(member.filename)
        if len(members) > max_files:
            raise InputError(
                "zip_too_many",
                file=name,
                count=len(members),
                limit=max_files,
            )
        wanted = [m for m in members if _why_not(m) is None]
        total = sum(m.file_size for m in wanted)
        if not budget.take_bytes(total):
            left = max(budget.max_bytes - budget.bytes_used, 0)
            raise InputError(
                "zip_over_budget",
                file=repr(name),
                total=total,
                left=left,
                per_request=settings.MAX_ZIP_BYTES,
                per_hour=settings.UPLOAD_BYTES_PER_HOUR,
            )
        # 2. Unpack member by member, under numbered names, skipping what can't be an image we accept.
        root = Path(target)
        root.mkdir(parents=True, exist_ok=True)
        written, skipped = [], []
        for number, member in enumerate(members):
            shown = _shown(member.filename)
            if (why := _why_not(member)) is not None:
                skipped.append((shown, why))
                continue
            suffix = PurePosixPath(member.filename.replace("\\", "/")).suffix[:_SUFFIX_CHARS]
            destination = root / f"{number:05d}{suffix if suffix.isascii() else ''}"
            try:
                with archive.open(member) as source, open(destination, "xb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as error:
                destination.unlink(missing_ok=True)
                skipped.append((shown, Notice("skip_damaged_zip", detail=type(error).__name__)))
                continue
            # 3. Read only the image header: a decompression bomb is never decoded.
            try:
                with Image.open(destination) as image:
                    pixels = image.width * image.height
                    if pixels > max_pixels:
                        destination.unlink()
                        skipped.append(
                            (
                                shown,
                                Notice(
                                    "skip_too_large",
                                    width=image.width,
                                    height=image.height,
                                    pixels=pixels,
                                    limit=max_pixels,
                                ),
                            )
                        )
                        continue
            except (OSError, ValueError, Image.DecompressionBombError):
                pass  # not an image: store_images skips and reports it
            written.append((member.filename, destination))
    return written, skipped


def _why_not(member: zipfile.ZipInfo) -> str | None:
    """Why a member is not unpacked at all, or None."""
    parts = PurePosixPath(member.filename.replace("\\", "/")).parts
    if member.filename.startswith(_JUNK):
        return Notice("skip_macos")
    if any(part.startswith(".") for part in parts):
        return Notice("skip_hidden")
    if stat.S_ISLNK(member.external_attr >> 16):
        return Notice("skip_link")
    if member.flag_bits & 0x1:
        return Notice("skip_encrypted")
    return None


def store_images(
    files: Sequence[str | Path | tuple[str, Path]],
    folder: str | Path,
    budget: UploadBudget | None = None,
    names: list[str] | None = None,
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Copy readable images into ``folder`` as JPEG (at most STORED_SIDE px, metadata
    such as GPS position dropped), named by the hash of the copy so the same image is
    stored once; return (stored paths, [(file, why skipped)]). ``files`` are paths, or
    (name to report, path) pairs; each decode takes one image of ``budget``. ``names``,
    when given, receives the name given for each stored path: what the page shows for it."""
    budget = budget or UploadBudget.for_request()
    stored, skipped = [], []
    for file in files:
        name, path = file if isinstance(file, tuple) else (Path(str(file)).name, file)
        if not budget.take_image():
            skipped.append(
                (
                    _shown(name),
                    Notice(
                        "skip_over_budget",
                        limit=budget.max_images,
                    ),
                )
            )
            continue
        try:
            image = load_image(path, max_side=STORED_SIDE)
        except (ValueError, TypeError) as error:
            # The message names the file it read: for a zip's member, its numbered copy.
            why = str(error).replace(repr(Path(path).name), repr(_shown(PurePosixPath(name).name, 60)))
            if "not an image" in why:
                why = Notice("skip_not_image")
            elif getattr(error, "code", None):  # said again with the name given, not the copy's
                why = Notice(error.code, **{**error.params, "file": _shown(PurePosixPath(name).name, 60)})
            skipped.append((_shown(name), why))
            continue
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        target = Path(folder) / f"{hashlib.sha256(buffer.getvalue()).hexdigest()[:16]}.jpg"
        if not target.exists():
            atomic_write_bytes(target, buffer.getvalue())
        stored.append(target)
        if names is not None:
            names.append(PurePosixPath(name).name)
    return stored, skipped
