"""The text-to-image safety filter: a prompt blocklist and an image safety checker.

- The blocklist refuses a prompt that contains a listed word or phrase, before any
  work is done, in the languages the app speaks (English, Chinese, and Japanese words
  too). Matching ignores case, accents, look-alike letters (Cyrillic е, small capitals
  ɴᴜᴅᴇ), invisible characters, common letter-for-digit swaps ("s3x"), masked letters
  ("n*de") and spacing ("n.u.d.e", "na k ed"); a teacher edits the list
  (``SAFETY_BLOCKLIST``, one entry per line) and it is re-read when it changes. The
  classroom also reads Chat's text with it (classroom/policy.py).
- The image checker is the Stable Diffusion safety checker (CompVis, released with
  Rombach et al., 2022): a CLIP ViT-L/14 image embedding is compared by cosine
  similarity with 17 embedded unsafe concepts (plus 3 "special care" ones that make
  the others stricter), each with its own threshold. It runs on every generated
  image, whatever the model (SD, SD-Turbo, SDXL-Turbo); a flagged image is replaced
  by a notice image and never returned.
- Optionally (``SAFETY_NUDENET=on``), NudeNet's nudity detector (a YOLOv8n on ONNX
  Runtime, its weights in its package) gives a second opinion on every image.

Both form ``SafetyFilter``, a component of the text-to-image pipeline (as diffusers
runs its safety checker inside the pipeline): ``TextToImagePipeline.__call__`` checks
the prompt at its first step and screens the images at its last, so every caller gets
it (the Create tab, the API, the explain views, the evaluation) and none can forget it.
The model cache gives each text-to-image pipeline its filter as it loads it.

``SAFETY_FILTER=off`` turns both off for research; the app then logs a warning and
shows one in the UI.
"""

from __future__ import annotations

import functools
import logging
import re
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import regex  # Unicode properties (scripts, default-ignorable characters) that re lacks
from PIL import Image, ImageDraw, ImageFont

from runtime import settings
from runtime.inputs import latin_lookalikes
from runtime.messages import InputError

if TYPE_CHECKING:
    import torch

HIDDEN = "hidden by the safety filter"  # image.info["safety"] of a replaced image
# Digits and symbols that stand in for letters inside a word ("s3x", "su!c!de", "s€x").
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "€": "e",
        "!": "i",
        "|": "l",
        "£": "l",
    }
)
_STAND_INS = "@$€!|£"  # symbols read as letters only between letters: "sex!" stays "sex"
# Word endings an entry also matches: plural, past, -ing, -er, -ness ("murdered", "nakedness").
_WORD_ENDINGS = ("s", "es", "d", "ed", "ing", "er", "ers", "ness", "ly", "y")
_ENDINGS = rf"(?:{'|'.join(_WORD_ENDINGS)})?"
# A run of them (Unicode script extensions, so that the kana length mark counts): a word of
# its own, whatever letters touch it ("一个nude女人"), and left with its marks (ド stays ド).
_UNSPACED_RUN = r"([\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]+)"
# Characters that show nothing: format characters (zero-width space, soft hyphen, BOM) and
# Unicode's other default-ignorable ones (the Hangul fillers of "nuㅤde", variation selectors).
_INVISIBLE = r"[\p{Cf}\p{Default_Ignorable_Code_Point}]"
# A masked letter inside a word ("n*de"): read as any letter, in a word at least half letters.
_MASK = "*"
# English function words, never joined to their neighbours: "a hero in a cape" is not heroin.
_FUNCTION_WORDS = frozenset(
    ["a", "an", "and", "as", "at", "by", "for", "in", "is", "it", "of", "on", "or", "the", "to"]
)


def is_hidden(image: Image.Image) -> bool:
    """Whether ``image`` is the notice that replaced a flagged image."""
    return image.info.get("safety") == HIDDEN


# --- The prompt blocklist -------------------------------------------------------


def _without_accents(text: str) -> str:
    """``text`` with accents dropped from every letter but those of the unspaced scripts
    (where a mark makes another letter: ド is not ト)."""
    parts = regex.split(_UNSPACED_RUN, text)  # [other, unspaced, other, ...]
    return "".join(
        part if i % 2 else "".join(ch for ch in unicodedata.normalize("NFKD", part) if not unicodedata.combining(ch))
        for i, part in enumerate(parts)
    )


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces, as the blocklist reads a prompt:
    NFKC (full-width and other compatibility forms as plain letters), invisible
    characters dropped (zero-width spaces and joiners, soft hyphens, BOMs, Hangul
    fillers), look-alike letters of other scripts read as Latin ones (Unicode's
    confusables, and letters whose name says so: small capitals), accents dropped, a
    run of Chinese, Japanese or Korean a word of its own, runs of single characters
    joined ("n u d e" -> "nude"), digits and symbols inside a word read as the letters
    they stand for ("pr0n", "su!c!de", "s€x"), a masked letter kept ("n*de")."""
    text = unicodedata.normalize("NFKC", text)
    text = regex.sub(_INVISIBLE, "", text)  # U+200B, U+00AD, U+2060, U+FEFF, U+3164, ...
    lookalikes = latin_lookalikes()
    text = "".join(lookalikes.get(ch, ch) for ch in text.casefold())
    text = _without_accents(regex.sub(_UNSPACED_RUN, r" \1 ", text))
    # Words are runs of letters and digits, plus the stand-in symbols, which count only in
    # a word that has letters ("$ex"); elsewhere ("0$") they are dropped first, so that
    # normalising twice changes nothing. A mask inside a word stays in it ("n*de").
    stand_ins = re.escape(_STAND_INS)
    letter = rf"(?:[^\W_]|[{stand_ins}])"
    tokens = re.findall(rf"{letter}+(?:{re.escape(_MASK)}+{letter}+)*", text)
    tokens = [t.strip("!|€£" + _MASK) for t in tokens]  # at a word's edge they are punctuation: "sex!" -> "sex"
    tokens = [t if any(c.isalpha() for c in t) else re.sub(rf"[{stand_ins}]", "", t) for t in tokens]
    words, run = [], ""
    for word in filter(None, tokens):
        if len(word) == 1 and word.isascii():
            run += word
            continue
        words += [run, word] if run else [word]
        run = ""
    words += [run] if run else []
    # Digits are read as letters only in a word that has letters ("s3x", not "2024").
    words = [w.translate(_LEET) if any(c.isalpha() for c in w) else w for w in words]
    return " ".join(w for w in (re.sub(rf"[{stand_ins}]", "", w) for w in words) if w)


class Blocklist:
    """Words and phrases a prompt may not contain. In the list (one entry per line):

    - ``word`` matches the whole word with its usual endings ("murder": murders,
      murdered, murderer), also spelt across spaces ("se xy", "na k ed") or spaced out;
    - ``word*`` matches any word that starts with it ("naked*": nakedness, nakedwoman);
    - ``*word*`` matches anywhere, inside other words too ("*porn*"): only for words
      that no innocent word contains;
    - an entry in a script written without spaces (Chinese, Japanese) matches anywhere;
    - ``!phrase`` is allowed, read as if absent before the others are looked for: an
      innocent word that contains an entry ("!ヌードル", noodle, beside "ヌード").

    A word with masked letters ("n*de", "p**n") matches when some letters in their place
    would ("nude", "porn"), if at least half of it is letters ("****" is no word)."""

    def __init__(self, terms: Iterable[str]):
        words, stems, anywhere, unspaced, allowed = set(), set(), set(), set(), set()
        for raw in terms:
            term = raw.strip()
            if term.startswith("!"):
                allowed.add(normalise(term[1:]))
                continue
            kind = (
                "anywhere"
                if term.startswith("*") and term.endswith("*") and len(term) > 2
                else ("stem" if term.endswith("*") else "word")
            )
            term = normalise(term.strip("*"))
            if not term:
                continue
            if not term.isascii():
                unspaced.add(term.replace(" ", ""))
            else:
                {"word": words, "stem": stems, "anywhere": anywhere}[kind].add(term)
        self.terms = sorted(words | stems | anywhere | unspaced)
        alternatives = [rf"{re.escape(t)}{_ENDINGS}" for t in sorted(words)] + [
            rf"{re.escape(t)}\w*" for t in sorted(stems)
        ]
        self._words = re.compile(r"\b(?:" + "|".join(alternatives) + r")\b") if alternatives else None
        # Neighbours written as one match a word only as it is listed, not with its endings:
        # "go red" is not "gored".
        exact = [re.escape(t) for t in sorted(words)] + [rf"{re.escape(t)}\w*" for t in sorted(stems)]
        self._joined = re.compile(r"^(?:" + "|".join(exact) + r")$") if exact else None
        self._anywhere = sorted(anywhere)
        self._unspaced = sorted(unspaced)
        # What a masked word is compared with, letter by letter: each listed word with each of
        # its endings, by length; and the stems.
        self._forms: dict[int, list[str]] = {}
        for form in sorted(t + ending for t in words for ending in ("", *_WORD_ENDINGS)):
            self._forms.setdefault(len(form), []).append(form)
        self._stems = sorted(stems)
        self._allowed = [
            re.compile(rf"(?<![^\W\d_]){re.escape(a)}(?![^\W\d_])" if a.isascii() else re.escape(a))
            for a in sorted(filter(None, allowed), key=len, reverse=True)
        ]

    @classmethod
    def from_file(cls, path: Path) -> Blocklist:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls(line.split("#", 1)[0].strip() for line in lines)

    def find(self, text: str) -> str | None:
        """The first listed term that ``text`` contains, or None."""
        normalised = normalise(text)
        for allowed in self._allowed:
            normalised = allowed.sub(" ", normalised)
        words = normalised.split()
        # The text, each masked word ("n*de"), then each two and three neighbours written as
        # one ("se xy", "na k ed").
        if self._words is not None and (match := self._words.search(normalised)):
            return match.group(0)
        for word in dict.fromkeys(words):  # each once
            if _MASK in word and (form := self._unmask(word)):
                return form
        if self._joined is not None:
            for candidate in [*_joined(words, 2), *_joined(words, 3)]:
                if self._joined.match(candidate):
                    return candidate
        squashed = normalised.replace(" ", "")
        return next((term for term in [*self._anywhere, *self._unspaced] if term in squashed), None)

    def _unmask(self, word: str) -> str | None:
        """The listed word, stem or part that masked ``word`` spells when its masks are letters."""
        if word.count(_MASK) * 2 > len(word):
            return None
        for form in self._forms.get(len(word), []):
            if _fits(word, form):
                return form
        for stem in self._stems:
            if _fits(word[: len(stem)], stem):
                return stem
        return next(
            (
                term
                for term in self._anywhere
                for i in range(len(word) - len(term) + 1)
                if _fits(word[i : i + len(term)], term)
            ),
            None,
        )


def _fits(masked: str, form: str) -> bool:
    """Whether ``masked`` is ``form`` with some letters masked."""
    return len(masked) == len(form) and all(c in (f, _MASK) for c, f in zip(masked, form, strict=True))


def _joined(words: list[str], n: int) -> Iterator[str]:
    """Each ``n`` neighbouring words written as one, unless one of them is a function word."""
    for i in range(len(words) - n + 1):
        if not _FUNCTION_WORDS.intersection(words[i : i + n]):
            yield "".join(words[i : i + n])


@functools.cache
def _load_blocklist(path: Path, mtime: float) -> Blocklist:
    return Blocklist.from_file(path)


def blocklist() -> Blocklist:
    """The configured blocklist, re-read whenever its file changes."""
    path = Path(settings.SAFETY_BLOCKLIST)
    try:
        return _load_blocklist(path, path.stat().st_mtime)
    except OSError as error:
        # Fail closed: a missing list must not silently let everything through.
        raise RuntimeError(
            f"The safety filter's blocklist {path} can't be read ({error.strerror}). "
            "Set SAFETY_BLOCKLIST to a readable file, or SAFETY_FILTER=off for research use."
        ) from None


def check_prompt(prompt: str, name: str = "prompt") -> None:
    """Refuse ``prompt`` (an ``InputError``, a ValueError) when it contains a blocked term."""
    term = blocklist().find(prompt)
    if term is not None:
        raise InputError(
            "prompt_blocked",
            name=name,
            term=term,
        )


# --- The image checker ----------------------------------------------------------


class SafetyChecker:
    """Flags unsafe images with the Stable Diffusion safety checker."""

    def __init__(self, model, image_processor, model_id: str = ""):
        self.model = model.eval()
        self.image_processor = image_processor
        self.model_id = model_id

    @classmethod
    def from_pretrained(
        cls, model_id: str, *, revision: str = "main", device: str = "cpu", dtype=None, local_files_only=False
    ) -> SafetyChecker:
        import torch  # not at import time: the app's page starts without PyTorch
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPImageProcessorPil

        # Its log line says a black image is returned; here a notice image is.
        logging.getLogger(StableDiffusionSafetyChecker.__module__).setLevel(logging.ERROR)
        hub = dict(revision=revision, local_files_only=local_files_only)
        model = StableDiffusionSafetyChecker.from_pretrained(model_id, dtype=dtype or torch.float32, **hub).to(device)
        return cls(model, CLIPImageProcessorPil.from_pretrained(model_id, **hub), model_id)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def __call__(self, images: list[Image.Image]) -> list[bool]:
        """One flag per image: True when it shows one of the unsafe concepts."""
        import torch

        if not images:
            return []
        pixels = self.image_processor(images=images, return_tensors="pt")["pixel_values"]  # (N, 3, 224, 224)
        # The checker also blacks out flagged images in the array it is given; it gets
        # a placeholder, since flagged images are replaced by a notice here instead.
        with torch.inference_mode():
            clip_input, placeholder = pixels.to(self.device, self.model.dtype), torch.zeros(len(images), 1)
            _, flags = self.model(clip_input=clip_input, images=placeholder)
        return [bool(flag) for flag in flags]


class NudityDetector:
    """A second opinion beside the checker (``SAFETY_NUDENET=on``): NudeNet's detector
    (notAI-tech, MIT licence; a YOLOv8n of 12 MB run by ONNX Runtime at 320x320, its
    weights inside the ``nudenet`` package, so it works offline). An image is flagged
    when the detector finds one of ``EXPOSED`` with at least ``threshold`` confidence;
    its other classes (faces, covered parts, feet) flag nothing."""

    EXPOSED = frozenset(
        {
            "FEMALE_BREAST_EXPOSED",
            "FEMALE_GENITALIA_EXPOSED",
            "MALE_GENITALIA_EXPOSED",
            "BUTTOCKS_EXPOSED",
            "ANUS_EXPOSED",
        }
    )

    def __init__(self, detector, threshold: float = 0.5):
        self.detector, self.threshold = detector, threshold

    @classmethod
    def load(cls, threshold: float = 0.5) -> NudityDetector:
        try:
            from nudenet import NudeDetector
        except ImportError:  # fail closed: asked for, it must run
            raise RuntimeError(
                "SAFETY_NUDENET=on needs the nudenet package: pip install nudenet==3.4.2 (or set SAFETY_NUDENET=off)."
            ) from None
        return cls(NudeDetector(), threshold)

    def found(self, image: Image.Image) -> list[dict]:
        """What the detector finds in ``image``: [{"class", "score", "box"}, ...]."""
        import numpy as np

        return self.detector.detect(np.asarray(image.convert("RGBA")))  # it converts RGBA to its BGR

    def __call__(self, images: list[Image.Image]) -> list[bool]:
        return [
            any(d["class"] in self.EXPOSED and d["score"] >= self.threshold for d in self.found(image))
            for image in images
        ]


@functools.cache
def nudity_detector() -> NudityDetector:
    """The detector, loaded on first use (about 0.4 s), once per process."""
    return NudityDetector.load(settings.SAFETY_NUDENET_THRESHOLD)


def screen(checker: SafetyChecker, images: list[Image.Image], detector: Callable | None = None):
    """``images`` with those ``checker`` (or ``detector``, when given) flags replaced by
    notice images, and how many were."""
    flags = checker(images)
    if detector is not None:
        flags = [a or b for a, b in zip(flags, detector(images), strict=True)]
    screened = [notice_image(*image.size) if flagged else image for image, flagged in zip(images, flags, strict=True)]
    return screened, sum(flags)


class SafetyFilter:
    """The safety component of a text-to-image pipeline: the prompt blocklist, checked
    before any work, and the image checker, run on every image made. ``checker`` is the
    checker itself or a function that loads it (``on_load`` says when a load starts), so
    that it is loaded the first time an image needs it. ``on`` is a flag or a function
    that reads the app's setting at each call; off lets everything pass."""

    def __init__(self, on: bool | Callable[[], bool] = True, checker: SafetyChecker | Callable | None = None):
        self._on = on
        self._checker = checker

    @property
    def on(self) -> bool:
        return bool(self._on() if callable(self._on) else self._on)

    def check_prompt(self, prompt: str, name: str = "prompt") -> None:
        if self.on:
            check_prompt(prompt, name)

    def checker(self, on_load: Callable | None = None) -> SafetyChecker | None:
        """The image checker, loaded now if it is not yet (None when the filter is off), and
        the nudity detector with ``SAFETY_NUDENET=on``, so that either is refused before any work."""
        if not self.on or self._checker is None:
            return None
        if settings.SAFETY_NUDENET == "on":
            nudity_detector()
        if isinstance(self._checker, SafetyChecker):
            return self._checker
        return self._checker(on_load)

    def screen(self, images: list[Image.Image]) -> tuple[list[Image.Image], int]:
        """``images`` with the flagged ones replaced by notice images, and how many were: by
        the checker, and by the nudity detector too with ``SAFETY_NUDENET=on``."""
        checker = self.checker()
        if checker is None:
            return images, 0
        return screen(checker, images, nudity_detector() if settings.SAFETY_NUDENET == "on" else None)


def notice_image(width: int, height: int) -> Image.Image:
    """What is shown instead of a flagged image: a grey card that says why."""
    image = Image.new("RGB", (width, height), (226, 229, 234))
    draw = ImageDraw.Draw(image)
    side = min(width, height)
    # A "no entry" sign above the text, both scaled to the image.
    radius, cx, cy = side // 6, width // 2, height // 2 - side // 8
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=(190, 40, 40), width=max(1, side // 40))
    draw.line(
        (cx - radius * 0.7, cy + radius * 0.7, cx + radius * 0.7, cy - radius * 0.7),
        fill=(190, 40, 40),
        width=max(1, side // 40),
    )
    font = ImageFont.load_default(size=max(8, side // 18))
    text = textwrap.fill(
        "Hidden by the safety filter. Try another prompt or seed.", width=max(12, width // max(8, side // 30))
    )
    draw.multiline_text((cx, cy + radius + side // 20), text, fill=(60, 60, 60), font=font, anchor="ma", align="center")
    image.info["safety"] = HIDDEN
    return image
