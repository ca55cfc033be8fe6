"""Input checks shared by every pipeline.

Pipelines are called by the UI and, through the API, by clients that send anything,
so each check raises ``ValueError`` (or ``TypeError``) with the rule and the bad
value, and the UI turns that into a message for the user.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random
import re
import struct
import threading
import unicodedata
import warnings
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime import settings
from runtime.memory import release_memory
from runtime.messages import InputError, Notice

# PIL warns above this many pixels and refuses above twice as many; _open turns the
# warning into a refusal, so nothing larger than the limit is ever decoded.
Image.MAX_IMAGE_PIXELS = settings.MAX_IMAGE_PIXELS
IMAGE_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP"}  # MPO: JPEG from phone cameras
MAX_SEED = 2**32 - 1

log = logging.getLogger("playground")
# Notices for the current request: things the user should know that are not errors
# (a prompt cut to the model's length, an image hidden by the safety filter). A
# context variable keeps concurrent requests apart; the UI shows them as warnings.
_notices: ContextVar[list[str] | None] = ContextVar("notices", default=None)


def notify(message: str) -> None:
    """Tell the user something about their request without failing it (logged too). A
    ``Notice`` (runtime/messages.py) is said in the page's language; plain text as it is."""
    log.info("notice: %s", message)
    notices = _notices.get()
    if notices is not None and message not in notices:  # said once, however many texts it concerns
        notices.append(message)


@contextlib.contextmanager
def collect_notices() -> Iterator[list[str]]:
    """Collect the ``notify`` messages of the code run inside the block."""
    notices: list[str] = []
    token = _notices.set(notices)
    try:
        yield notices
    finally:
        _notices.reset(token)


def load_image(image, name: str = "image", max_side: int | None = None) -> Image.Image:
    """Return ``image`` (a path, PIL image or HxW[xC] uint8 array) as an RGB PIL image
    that any model here can take: EXIF orientation applied, transparency flattened
    onto white, 16-bit and palette images converted, at most ``max_side`` pixels
    (MAX_IMAGE_SIDE, and never more) on its longest side.

    A file is decoded at the size it is needed at, as far as its format allows (JPEG:
    Pillow's ``draft`` scales the DCT by 1/2, 1/4 or 1/8 while decoding; others are
    shrunk by whole factors with ``reduce`` before any conversion), and only while
    ``DECODING`` holds room for its pixels: the decoded bytes of all requests in
    flight together stay under MAX_DECODE_BYTES."""
    max_side = min(max_side or settings.MAX_IMAGE_SIDE, settings.MAX_IMAGE_SIDE)
    if image is None:
        raise InputError("image_missing", name=name)
    if isinstance(image, (str, Path)):
        return _open(Path(image), name, max_side)
    if isinstance(image, np.ndarray):
        image = _from_array(image, name)
    elif not isinstance(image, Image.Image):
        raise InputTypeError(
            "image_kind",
            name=name,
            kind=type(image).__name__,
        )
    _check_size(image.width, image.height, name)
    return _prepare(image, max_side)


def _prepare(image: Image.Image, max_side: int) -> Image.Image:
    """Orient, shrink by a whole factor (so conversions work on few pixels), convert to
    RGB, resize to ``max_side``. explain/snippets.py's programs repeat these steps."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("1", "P"):  # reduce() takes neither
        image = image.convert("L" if image.mode == "1" else "RGBA" if "transparency" in image.info else "RGB")
    factor = max(image.size) // max_side
    if factor >= 2:
        image = _reduce_16bit(image, factor) if image.mode.startswith("I;16") else image.reduce(factor)
    image = _to_rgb(image)
    if max(image.size) > max_side:
        image = image.resize(_fit(image.size, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled to ``side`` on its longest side; the shorter side is rounded up, so
    the aspect ratio never grows (an image at the limit stays within it)."""
    width, height = size
    scale = side / max(width, height)
    if width >= height:
        return side, max(1, math.ceil(height * scale - 1e-9))
    return max(1, math.ceil(width * scale - 1e-9)), side


def _reduce_16bit(image: Image.Image, factor: int) -> Image.Image:
    """A 16-bit greyscale image shrunk by ``factor`` (block means), as 32-bit floats: no
    float64 copy of the full-size image is made."""
    array = np.asarray(image)  # (H, W) uint16
    height, width = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    blocks = array[:height, :width].reshape(height // factor, factor, width // factor, factor)
    return Image.fromarray(blocks.mean(axis=(1, 3), dtype=np.float32), mode="F")


class DecodeBudget:
    """Bytes of decoded pixels that all requests together may hold at once while images
    are read: a request that would go over waits for others to finish (``timeout``
    seconds at most, then a message), so eight concurrent uploads of a small file that
    decodes to 40 MP can't take the server's memory. Big reads hand the memory back to
    the system when they are done (glibc would keep it)."""

    def __init__(self, limit: int, timeout: float = 60.0):
        self.limit, self.timeout = limit, timeout
        self.in_use = 0
        self.peak = 0  # the most held at once (for tests and the load test)
        self._condition = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int, name: str = "image") -> Iterator[None]:
        nbytes = min(nbytes, self.limit)  # one image never waits for more than all of it
        with self._condition:
            if not self._condition.wait_for(lambda: self.in_use + nbytes <= self.limit, timeout=self.timeout):
                raise ImageRefused(
                    "decode_busy",
                    name=name,
                )
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            with self._condition:
                self.in_use -= nbytes
                self._condition.notify_all()
            if nbytes >= BIG_DECODE:
                release_memory()


# Decoded bytes per pixel, as Pillow stores a mode, plus one converted copy of the same
# size (to RGB or to 8 bits): what decoding and converting one pixel can hold at once.
_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
BIG_DECODE = 64 * 2**20  # reads at least this large hand their memory back afterwards
DECODING = DecodeBudget(settings.MAX_DECODE_BYTES)


def _decoded_bytes(image: Image.Image) -> int:
    return image.width * image.height * (_PIXEL_BYTES.get(image.mode, 4) + 4)


def _open(path: Path, name: str, max_side: int) -> Image.Image:
    if not path.is_file():
        raise InputError("image_not_found", name=name, file=path.name)
    if path.stat().st_size == 0:
        raise InputError("image_empty", name=name, file=path.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                image_format = opened.format
                if image_format not in IMAGE_FORMATS:
                    raise ImageRefused(
                        "image_format",
                        name=name,
                        format=str(image_format),
                        formats=", ".join(sorted(IMAGE_FORMATS)),
                    )
                _check_size(opened.width, opened.height, name)  # before decoding a single pixel
                opened.seek(0)  # first frame of an animated GIF or WEBP
                if image_format in ("JPEG", "MPO") and max(opened.size) > max_side:
                    opened.draft(opened.mode, _fit(opened.size, max_side))  # decode at 1/2, 1/4 or 1/8 size
                with DECODING.reserve(_decoded_bytes(opened), name):
                    opened.load()
                    image = _prepare(opened, max_side)
                    if image is opened:
                        image = opened.copy()  # the file is closed on leaving the block
    except UnidentifiedImageError:
        raise InputError(
            "image_unreadable",
            name=name,
            file=path.name,
            formats=", ".join(sorted(IMAGE_FORMATS)),
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(
            "image_bomb",
            name=name,
            limit=settings.MAX_IMAGE_PIXELS,
        ) from None
    except ImageRefused:
        raise
    except (OSError, SyntaxError, EOFError, ValueError, struct.error, IndexError) as error:
        # truncated or corrupt data; PIL's plugins raise any of these on bad bytes
        raise InputError(
            "image_damaged",
            name=name,
            file=path.name,
            detail=str(error),
        ) from None
    return image


def _from_array(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or 0 in array.shape:
        raise InputError("array_shape", name=name, shape=str(array.shape))
    _check_size(array.shape[1], array.shape[0], name)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
            raise InputError("array_dtype", name=name, dtype=str(array.dtype))
        array = np.array(array, dtype=np.float32)  # a copy: the caller's array stays as it is
        if not np.isfinite(array).all():
            raise InputError("array_not_finite", name=name)
        top = 1.0 if array.max(initial=0) <= 1.0 else 255.0 if array.max() <= 255 else float(array.max())
        array *= 255.0 / top
        array = np.clip(array, 0, 255, out=array).round().astype(np.uint8)
    return Image.fromarray(array)


class InputTypeError(InputError, TypeError):
    """An input of the wrong type (a cleared number box sends none): a TypeError with a code."""


class ImageRefused(InputError):
    """An image refused for what it is (its format, its size), or while the server is busy."""


class ImageSizeError(ImageRefused):
    """An image with no pixels, too many, or an extreme aspect ratio."""


def _check_size(width: int, height: int, name: str) -> None:
    if width < 1 or height < 1:
        raise ImageSizeError("image_no_pixels", name=name, width=width, height=height)
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise ImageSizeError(
            "image_too_large",
            name=name,
            width=width,
            height=height,
            pixels=width * height,
            limit=settings.MAX_IMAGE_PIXELS,
        )
    ratio = max(width, height) / min(width, height)
    if ratio > settings.MAX_ASPECT_RATIO:
        raise ImageSizeError(
            "image_aspect",
            name=name,
            width=width,
            height=height,
            ratio=round(ratio),
            limit=round(settings.MAX_ASPECT_RATIO),
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: stretch to 8 bits instead of clipping to white (in
        # 32-bit floats, on an image already shrunk to the size it is needed at).
        array = np.array(image, dtype=np.float32)
        low, high = float(array.min()), float(array.max())
        if high > low:
            array -= low
            array *= 255.0 / (high - low)
        else:
            array[...] = 0
        image = Image.fromarray(array.round().astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


def check_text(text, name: str, max_chars: int | None = None) -> str:
    """Strip ``text``, drop control characters, and refuse it when empty or too long."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputTypeError("text_type", name=name, kind=type(text).__name__)
    max_chars = max_chars or settings.MAX_TEXT_CHARS
    # Control characters (and lone surrogates) become spaces; format characters such
    # as the zero-width joiner stay, since emoji and some scripts need them. NFC makes
    # "é" typed as e + accent the same text (and length) as a precomposed "é".
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    cleaned = unicodedata.normalize("NFC", cleaned)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise InputError("text_empty", name=name)
    if len(cleaned) > max_chars:
        raise InputError(
            "text_too_long",
            name=name,
            length=len(cleaned),
            limit=max_chars,
        )
    return cleaned


def identity(name) -> str:
    """A person's name as the app tells people apart (a classroom student, a login), so
    that one person has one allowance however the name is typed: NFKC (full-width and
    compatibility forms as their plain letters), invisible characters (zero-width spaces
    and joiners, soft hyphens, BOMs: Unicode's format characters) and control characters
    dropped, case folded, runs of spaces as one, accents dropped and letters of other
    scripts that look like Latin ones read as those (``latin_lookalikes``): "Cara",
    "CARA", "ca\u200bra", "Cára" and "Cаra" (a Cyrillic а) are one student. Names in
    the scripts written without spaces keep their marks (ド is not ト)."""
    if not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc", "Cs", "Co", "Cn"))
    text = _without_accents(" ".join(text.casefold().split()))
    lookalikes = latin_lookalikes()
    return "".join(lookalikes.get(ch, ch) for ch in text)


# Scripts written without spaces: a mark makes another letter there (ド, not ト), and the
# confusables table must not read their characters as Latin letters.
UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")


def _unspaced(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(UNSPACED_SCRIPTS)


def _without_accents(text: str) -> str:
    """``text`` with the combining marks dropped from every letter but those of the unspaced
    scripts (Hangul syllables come apart into letters and are put back together by NFC)."""
    kept, base = [], ""
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and not _unspaced(base):
            continue
        kept.append(ch)
        base = base if unicodedata.combining(ch) else ch
    return unicodedata.normalize("NFC", "".join(kept))


# Blocks where letters look like Latin ones that NFKC keeps apart: IPA and phonetic small
# capitals (ɴᴜᴅᴇ), Latin Extended-D (ꜱ), enclosed and regional-indicator letters (🅽, 🇳).
_LETTER_BLOCKS = ((0x0250, 0x02AF), (0x1D00, 0x1DBF), (0xA720, 0xA7FF), (0xAB30, 0xAB6F), (0x1F100, 0x1F1FF))


@functools.cache
def latin_lookalikes() -> dict[str, str]:
    """{character: the ASCII letter or digit it looks like}: from Unicode's confusables
    table (UTS #39) as the confusable_homoglyphs package ships it (Cyrillic а, е, о, р,
    с, х, Greek ο, ν, math and full-width letters, ...: about 1,300 characters, none of
    the unspaced scripts'), and the letters whose Unicode name says which Latin letter
    they are, which that table leaves out: "LATIN LETTER SMALL CAPITAL N" (ɴ), "NEGATIVE
    SQUARED LATIN CAPITAL LETTER N" (🅽), "REGIONAL INDICATOR SYMBOL LETTER N" (🇳), ..."""
    from confusable_homoglyphs import confusables

    table = {}
    for char, homoglyphs in confusables.confusables_data.items():
        if len(char) != 1 or char.isascii() or _unspaced(char):
            continue
        for glyph in homoglyphs:
            if len(glyph["c"]) == 1 and glyph["c"].isascii() and glyph["c"].isalnum():
                table[char] = glyph["c"].lower()
                break
    named = re.compile(r"\bLATIN\b.*\b(?:LETTER|CAPITAL) ([A-Z])$|^REGIONAL INDICATOR SYMBOL LETTER ([A-Z])$")
    for start, end in _LETTER_BLOCKS:
        for code in range(start, end + 1):
            if match := named.search(unicodedata.name(chr(code), "")):
                table[chr(code)] = (match.group(1) or match.group(2)).lower()
    return table


def check_number(name: str, value, low: float, high: float, integer: bool = True):
    """Return ``value`` as an int (or float) after checking low <= value <= high."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputTypeError(
            "number_type",
            name=name,
            low=low,
            high=high,
            value=repr(value),
        )
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):  # ints are finite, however big
        raise InputError(
            "number_range",
            name=name,
            low=low,
            high=high,
            value=str(value),
        )
    if integer and float(value) != int(value):
        raise InputError("number_whole", name=name, value=value)
    if not low <= value <= high:
        raise InputError(
            "number_range",
            name=name,
            low=low,
            high=high,
            value=value,
        )
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class Range:
    """The inclusive range a number option must be in, declared once beside the code that
    checks it (``check``); the UI builds the option's slider from the same ends."""

    low: float
    high: float
    integer: bool = True

    @property
    def ends(self) -> tuple[float, float]:
        """(low, high): a slider's minimum and maximum."""
        return self.low, self.high

    def check(self, name: str, value):
        """``value`` as an int (or float) after checking ``low <= value <= high``."""
        return check_number(name, value, self.low, self.high, self.integer)


def check_flag(name: str, value) -> bool:
    """A yes/no option: a bool (or 0/1, as some clients send them)."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise InputTypeError("flag_type", name=name, value=repr(value))


def note_truncation(tokenizer, text: str, max_tokens: int, name: str) -> bool:
    """Tell the user when ``text`` is longer than the ``max_tokens`` the model reads
    (the tokenizer then cuts it); return whether it is."""
    # tokenize() rather than __call__: the latter logs its own warning about the length.
    count = len(tokenizer.tokenize(text)) + tokenizer.num_special_tokens_to_add()
    if count <= max_tokens:
        return False
    notify(
        Notice(
            "text_truncated",
            name=name,
            count=count,
            limit=max_tokens,
        )
    )
    return True


def is_random_seed(seed) -> bool:
    """None or -1: the caller asks for a random seed."""
    return seed is None or (not isinstance(seed, bool) and isinstance(seed, (int, float)) and seed == -1)


def check_seed(seed) -> int:
    """A seed in [0, 2**32 - 1]; None or -1 draws a random one (and returns it, so
    the result can be reproduced)."""
    if is_random_seed(seed):
        return random.randint(0, MAX_SEED)
    return check_number("seed", seed, 0, MAX_SEED)


# What separates the items of a typed list: the ASCII comma and semicolon, their
# full-width forms (，；) and the enumeration comma (、) that Chinese lists use, and new lines.
LIST_SEPARATORS = re.compile(r"[,;，；、﹐﹑]")
# Full-width digits and Latin letters (Ａ-Ｚ, ａ-ｚ, ０-９) and the ideographic space, as
# Chinese and Japanese input methods type them: the same text as their ASCII forms.
_HALF_WIDTH = {
    **{code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)},
    **{code: code - 0xFEE0 for code in range(0xFF21, 0xFF3B)},
    **{code: code - 0xFEE0 for code in range(0xFF41, 0xFF5B)},
    0x3000: 0x20,
}


def half_width(text: str) -> str:
    """Full-width digits and Latin letters as ASCII ("３只猫" -> "3只猫"); Chinese
    punctuation (，。？) is left as it is."""
    return text.translate(_HALF_WIDTH)


def split_items(text: str, name: str) -> list[str]:
    """A typed list -> its unique, non-empty items in order: "猫，狗、鸟" and "cat, dog; bird"
    both give three, as do three lines. Full-width digits and letters become ASCII."""
    check_text(text, name)  # empty, too long or not text: refused as such
    text = text.replace("\r\n", "\n").replace("\n", ",")  # a new line separates items too
    text = half_width(check_text(text, name))
    return list(dict.fromkeys(item.strip() for item in LIST_SEPARATORS.split(text) if item.strip()))


def parse_labels(labels) -> list[str]:
    """Labels separated by commas (also ，、；;), or a list -> unique, non-empty labels in order."""
    if isinstance(labels, (list, tuple)):
        labels = "\n".join(str(label) for label in labels)
    parsed = split_items(labels, "list of labels")
    if len(parsed) < 2:
        raise InputError(
            "labels_too_few",
            got=", ".join(parsed),
        )
    if len(parsed) > settings.MAX_LABELS:
        raise InputError(
            "labels_too_many",
            limit=settings.MAX_LABELS,
            count=len(parsed),
        )
    return parsed
