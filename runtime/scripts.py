"""Which writing systems a text is written in, and whether a model can read them.

A model reads only the scripts its tokenizer and training data covered: OpenAI's CLIP,
Stable Diffusion's CLIP text encoder, BLIP and the English MMS voice saw English, so
Chinese characters reach them as unknown or byte tokens and the result is noise with
a confident score. Each checkpoint declares the scripts it reads (``Checkpoint.scripts``
in runtime/registry.py); ``ScriptCheck``, which the model cache hands to each pipeline,
tells the user (``runtime.inputs.notify``) when a text holds letters of another script,
and names the models in the picker that do read it.

Scripts are Unicode's (the ``regex`` module's ``\\p{Script=...}``, from the Unicode
Character Database): only letters count, so digits, punctuation, spaces and emoji,
which every tokenizer passes through, never raise a notice.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from runtime.inputs import notify
from runtime.messages import LOCALES, Notice, catalogue, listed, said

# The scripts told apart, by their Unicode names; letters of any other script count as "Other".
KNOWN = (
    "Latin",
    "Han",
    "Hiragana",
    "Katakana",
    "Hangul",
    "Cyrillic",
    "Greek",
    "Arabic",
    "Hebrew",
    "Devanagari",
    "Bengali",
    "Tamil",
    "Thai",
)
# How a notice names each script (and "Other"): script_name_<script> in the catalogue,
# runtime/locales/<locale>/messages.json.
# Scripts that write a word or syllable per character.
_CHARACTER_SCRIPTS = {"Han", "Hiragana", "Katakana", "Hangul"}
# Every script above: what a model trained on many languages (SigLIP 2's WebLI) reads.
MANY = KNOWN
# A model that reads everything (or declares nothing) is never checked.
ANY: tuple[str, ...] = ()


@functools.cache
def _runs():
    """Runs of letters of one script. The ``regex`` module is imported here, on the first
    text checked: its import is a quarter to half a second of the app's start-up."""
    import regex

    pattern = "|".join(f"(?P<{name}>[\\p{{Script={name}}}&&\\p{{L}}]+)" for name in KNOWN) + r"|(?P<Other>\p{L}+)"
    return regex.compile(pattern, regex.V1)


def scripts_of(text: str) -> Counter:
    """Letters per script in ``text``: Counter({"Han": 3, "Latin": 5}). Digits, punctuation
    and symbols belong to no script here."""
    counts: Counter = Counter()
    for match in _runs().finditer(text or ""):
        counts[match.lastgroup] += len(match.group())
    return counts


def main_script(text: str) -> str | None:
    """The script most of the text is in, counted in words: a Chinese, Japanese or Korean
    character counts as one, as does a run of letters of an alphabet ("我的iPhone很好" is
    four characters and one word: Chinese). Ties go to Chinese. None without letters."""
    units: Counter = Counter()
    for match in _runs().finditer(text or ""):
        script = match.lastgroup
        units[script] += len(match.group()) if script in _CHARACTER_SCRIPTS else 1
    if not units:
        return None
    return max(units, key=lambda s: (units[s], s == "Han"))


def language_of(text: str) -> str:
    """A coarse language tag from the script: "zh" for Chinese characters without kana
    (Japanese) or Hangul (Korean), "ja", "ko", else "en" for Latin and anything else."""
    counts = scripts_of(text)
    if counts["Hiragana"] or counts["Katakana"]:
        return "ja"
    if counts["Hangul"]:
        return "ko"
    return "zh" if main_script(text) == "Han" else "en"


def unreadable(text: str, reads: Iterable[str]) -> list[str]:
    """The scripts of ``text`` that a model reading ``reads`` was not trained on, most
    letters first; [] when it reads them all, or when ``reads`` is empty (undeclared)."""
    reads = set(reads)
    if not reads:
        return []
    return [script for script, _ in scripts_of(text).most_common() if script not in reads]


def describe(scripts: Iterable[str]) -> dict[str, str]:
    """``scripts`` named in each language, as a message's param says them:
    ``{"en": "Chinese characters and Cyrillic", "zh-CN": "汉字、西里尔字母"}``."""
    scripts = list(scripts)

    def names(locale: str) -> list[str]:  # kana once, for Hiragana and Katakana alike
        return list(dict.fromkeys(catalogue(locale)[f"script_name_{s.lower()}"] for s in scripts))

    return {locale: listed(names(locale), locale) for locale in LOCALES}


@dataclass(frozen=True)
class ScriptCheck:
    """The scripts a pipeline's model reads, and who reads what it doesn't: the model
    cache builds one per loaded checkpoint. With no scripts declared it checks nothing."""

    model: str = ""  # the model's name, as the picker shows it
    reads: tuple[str, ...] = ANY
    # The other models in the picker that read all the given scripts: their checkpoints
    # (said by their display names in the page's language), or their names.
    readers: Callable[[set[str]], list] = field(default=lambda missing: [], compare=False)
    key: str = ""  # the model's registry key, for its display name in the page's language

    def reads_all(self, text: str) -> bool:
        return not unreadable(text, self.reads)

    def check(self, text: str, what: str) -> bool:
        """Notify the user when ``text`` (the ``what``: "search text", "label", "prompt")
        has letters this model was not trained on; returns whether it reads it all."""
        missing = unreadable(text, self.reads)
        if not missing:
            return True
        notify(self.message(missing, what))
        return False

    def message(self, missing: list[str], what: str) -> Notice:
        """The notice, with the scripts' names in both languages (``{"en": ..., "zh-CN": ...}``
        params) for the UI to say it in Chinese."""
        others = self.readers(set(missing))
        names = [getattr(other, "label", other) for other in others]
        both, unread = describe(self.reads), describe(missing)
        model = {"en": self.model, "zh-CN": self.model} if self.model else said("this_model")
        if self.key:
            model["models"] = [[self.key, self.model]]
        if others:
            readers = {locale: catalogue(locale)["list_separator"].join(names) for locale in LOCALES}
            if all(hasattr(other, "key") for other in others):
                readers["models"] = [[other.key, other.label] for other in others]
            return Notice("script_unreadable", model=model, reads=both, missing=unread, name=what, readers=readers)
        return Notice("script_unreadable_nobody", model=model, reads=both, missing=unread, name=what)
