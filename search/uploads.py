"""What visitors upload to the search collection: zip files unpacked as the hostile
input they may be, and images stored as normalised copies named by content.

A zip is refused as a whole when it would write outside the target folder (absolute
paths, ``..``), holds more than ``max_files`` files, or would unpack to more than
``max_bytes``; members that are links, encrypted, or images over ``max_pixels`` are
skipped and reported. Sizes come from the zip's directory, which ``zipfile`` enforces
while reading (it stops at the declared size and checks the CRC), so a member can't
unpack to more than it declared.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from runtime import settings
from runtime.files import atomic_write_bytes
from runtime.inputs import load_image

# Folders that archivers add and nobody means to index.
_JUNK = ("__MACOSX/",)
STORED_SIDE = 1024  # stored copies are at most this many pixels on their longest side


def is_zip(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".zip" or zipfile.is_zipfile(path)


def _safe_name(name: str) -> PurePosixPath:
    """The member's path relative to the target, or ValueError when it would escape it."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    if "\x00" in name or path.is_absolute() or (len(posix) > 1 and posix[1] == ":") or ".." in path.parts:
        raise ValueError(
            f"The zip file contains the unsafe path {name!r}, which would be written outside the folder it is "
            "unpacked into. The whole archive was refused."
        )
    return path


def extract_zip(zip_path: str | Path, target: str | Path, *, max_files: int | None = None,
                max_bytes: int | None = None, max_pixels: int | None = None) -> tuple[list[Path], list[tuple[str, str]]]:  # fmt: skip
    """Unpack the files of ``zip_path`` under ``target``; return (files written,
    [(member, why skipped)]). Raises ValueError, writing nothing, when a limit is hit."""
    from PIL import Image

    max_files = max_files or settings.MAX_ZIP_FILES
    max_bytes = max_bytes or settings.MAX_ZIP_BYTES
    max_pixels = max_pixels or settings.MAX_IMAGE_PIXELS
    name = Path(zip_path).name
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{name!r} is not a zip file that can be read ({error}).") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith(_JUNK)]
        # 1. Check the whole directory before writing a byte.
        for member in members:
            _safe_name(member.filename)
        if len(members) > max_files:
            raise ValueError(f"{name!r} holds {len(members):,} files; at most {max_files:,} are accepted per zip.")
        total = sum(m.file_size for m in members)
        if total > max_bytes:
            raise ValueError(f"{name!r} would unpack to {total:,} bytes; at most {max_bytes:,} are accepted per zip.")
        # 2. Unpack member by member, skipping what can't be an image we accept.
        root = Path(target).resolve()
        written, skipped = [], []
        for member in members:
            relative = _safe_name(member.filename)
            if any(part.startswith(".") for part in relative.parts):
                continue  # hidden files (.DS_Store, ._photo.jpg resource forks)
            if stat.S_ISLNK(member.external_attr >> 16):
                skipped.append((member.filename, "a symbolic link, not a file"))
                continue
            if member.flag_bits & 0x1:
                skipped.append((member.filename, "encrypted"))
                continue
            destination = (root / relative).resolve()
            if not destination.is_relative_to(root):  # belt and braces after _safe_name
                raise ValueError(f"The zip member {member.filename!r} escapes the target folder.")
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
                destination.unlink(missing_ok=True)
                skipped.append((member.filename, f"damaged in the zip ({error})"))
                continue
            # 3. Read only the image header: a decompression bomb is never decoded.
            try:
                with Image.open(destination) as image:
                    pixels = image.width * image.height
                    if pixels > max_pixels:
                        destination.unlink()
                        skipped.append((member.filename, f"{image.width}x{image.height} = {pixels:,} pixels, "
                                                         f"over the limit of {max_pixels:,}"))  # fmt: skip
                        continue
            except (OSError, ValueError, Image.DecompressionBombError):
                pass  # not an image: the indexer skips and reports it
            written.append(destination)
    return written, skipped


def store_images(files: Sequence[str | Path], folder: str | Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Copy readable images into ``folder`` as JPEG (at most STORED_SIDE px, metadata
    such as GPS position dropped), named by the hash of the copy so the same image is
    stored once; return (stored paths, [(file, why skipped)])."""
    stored, skipped = [], []
    for file in files:
        name = Path(str(file)).name
        try:
            image = load_image(file)
        except (ValueError, TypeError) as error:
            skipped.append((name, "not an image" if "not an image" in str(error) else str(error)))
            continue
        image.thumbnail((STORED_SIDE, STORED_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        target = Path(folder) / f"{hashlib.sha256(buffer.getvalue()).hexdigest()[:16]}.jpg"
        if not target.exists():
            atomic_write_bytes(target, buffer.getvalue())
        stored.append(target)
    return stored, skipped
