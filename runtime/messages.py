"""Messages with a stable code, so that the UI can say them in the page's language.

A pipeline refuses bad input with ``InputError`` (a ``ValueError``) and tells the user
something about a request with a ``Notice`` (``runtime.inputs.notify``). Each carries a
``code`` ("number_range") and its ``params`` ({"name": "width", "low": 64, ...}); the
text of every code lives once, in the catalogue: ``runtime/locales/<locale>/messages.json``,
one file per language. ``str()`` is the English text filled in with the params, the rule
and the bad value, as API clients and logs read it; the UI says the same code in the
page's language, with a parameter's name (``name="width"``) as the control's label on the
page (ui/messages.py).

In the English text, ```{name}``` in backticks (optionally followed by a colon) is a
parameter as the API names it (`max_new_tokens`); the page writes its control's label
there instead, in quotes ("“Max new tokens” must be ..."). A param given as
``{"en": ..., "zh-CN": ...}`` is said in each language (a phrase of the catalogue,
``said("view_where")``, or a script's name); ``str()`` reads its ``"en"``.

Nothing here imports the UI: pipelines stay usable without it. The catalogue is read on
first use, not at import.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

LOCALES_DIR = Path(__file__).parent / "locales"  # <locale>/messages.json: every coded message
LOCALES = ("en", "zh-CN")


@functools.cache
def catalogue(locale: str = "en") -> dict[str, str]:
    """The catalogue of ``locale`` ("en" or "zh-CN"): ``{code: text with {params}}``."""
    return json.loads((LOCALES_DIR / locale / "messages.json").read_text(encoding="utf-8"))


def english(code: str, params: dict) -> str:
    """The English text of ``code`` filled in with ``params``, as an API client reads it."""
    return catalogue("en")[code].format_map({key: _in_language(value) for key, value in params.items()})


def said(code: str, **values) -> dict[str, str]:
    """A phrase of the catalogue as a param said in each language, filled in with ``values``:
    ``{"en": "vision-language", "zh-CN": "视觉语言"}`` for a server's kind or a view's name."""
    return {locale: catalogue(locale)[code].format(**values) for locale in LOCALES}


def listed(items: list[str], locale: str = "en") -> str:
    """``items`` as a sentence lists them in ``locale``: "a, b and c" or "a、b、c"."""
    words = catalogue(locale)
    if len(items) < 2:
        return "".join(items)
    return words["list_and"].format(first=words["list_separator"].join(items[:-1]), last=items[-1])


def in_each(message) -> dict[str, str]:
    """A coded message (an ``InputError`` or ``Notice``) said in each language, as a param
    of another message: ``{"en": ..., "zh-CN": ...}``, parameters named as the API names them."""
    return {
        locale: catalogue(locale)[message.code].format_map(
            {key: _in_language(value, locale) for key, value in message.params.items()}
        )
        for locale in LOCALES
    }


def _in_language(value, locale: str = "en"):
    """A param as ``locale`` says it (its English when it has no text of that language)."""
    if isinstance(value, dict) and "en" in value:
        return value.get(locale, value["en"])
    return value


class InputError(ValueError):
    """A refused input: ``str(error)`` is the English message; ``code`` and ``params``
    let the UI say it in another language. Params are plain values (str, int, float)."""

    def __init__(self, code: str, **params):
        super().__init__(english(code, params))
        self.code = code
        self.params = params

    def __reduce__(self):  # pickled and copied whole (the default would call __init__ with the message only)
        return _input_error, (type(self), self.code, self.params)


class Notice(str):
    """A notice (not an error) with a code: a ``str`` (its English text), so that code
    which joins, compares or logs notices keeps working, with ``code`` and ``params``
    for the UI to translate."""

    code: str
    params: dict

    def __new__(cls, code: str, **params) -> Notice:
        notice = super().__new__(cls, english(code, params))
        notice.code = code
        notice.params = params
        return notice

    def __reduce__(self):
        return _notice, (type(self), self.code, self.params)


def _input_error(cls, code: str, params: dict) -> InputError:
    return cls(code, **params)


def _notice(cls, code: str, params: dict) -> Notice:
    return cls(code, **params)


def model_names(*checkpoints) -> dict:
    """Checkpoints as a message names them: ``{"en": their labels, "models": [[key, label], ...]}``;
    the UI writes each in the page's language (its localised display name, ui/messages.py),
    an API client reads the English labels."""
    return {"en": ", ".join(c.label for c in checkpoints), "models": [[c.key, c.label] for c in checkpoints]}
