"""Every UI string, in English and Simplified Chinese, and the lookups that use them.

The strings are data: ``ui/locales/<locale>/<namespace>.json``, one file per language
and namespace (the key's prefix: ``caption.tab`` is ``"tab"`` in ``caption.json``), so
work on different tabs touches different files. The coded messages that pipelines raise
(``messages.*``) live below the UI, in ``runtime/locales/<locale>/messages.json``, where
``runtime.messages`` reads their English for the API; they load here with the rest. Gradio's ``gr.I18n`` takes only dicts
and translates only in the browser, so this module loads the files once, at import,
gives the tables to ``gr.I18n`` for component labels (``_("caption.tab")``) and looks
strings up itself for text the server writes (``t``, ``both``, ``bilingual``).

Text the server writes during a request is in that request's language only
(``page_language()``: ``ui/server/language.py`` sets it from the page's cookie or the
``Accept-Language`` header); written outside a request (while the page is built) it
holds both languages, and CSS shows the page's.

Both languages must have the same files and keys: a file that is not a JSON object of
strings, or a key that one language lacks, stops the import with an error naming the
file and the key. The browser side of the language switch is ``ui/server/language.py``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import gradio as gr

from runtime.messages import LOCALES_DIR as MESSAGES_DIR
from ui.server.language import page_language

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALES = ("en", "zh-CN")  # the first is the reference and the fallback


class LocaleError(ValueError):
    """A string table the app can't use: malformed, or out of step with the other language."""


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    table: dict[str, object] = {}
    for key, value in pairs:
        if key in table:
            raise ValueError(f"key {key!r} appears twice")
        table[key] = value
    return table


def _read(path: Path, name: str) -> dict[str, str]:
    """The strings of one file, keys prefixed with the namespace (the file's name)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique)
    except ValueError as error:  # not UTF-8, not JSON, or a key twice
        raise LocaleError(f"{name}: not a valid UTF-8 JSON string table: {error}") from None
    if not isinstance(data, dict):
        raise LocaleError(f"{name}: must hold a JSON object of strings")
    for key, value in data.items():
        if not isinstance(value, str):
            raise LocaleError(f"{name}: {path.stem}.{key} must be a string, not {type(value).__name__}")
    return {f"{path.stem}.{key}": value for key, value in data.items()}


def load(folder: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """``{locale: {key: string}}`` from ``folder/<locale>/*.json``; a ``LocaleError``
    names the file and key of anything malformed or present in one language only."""

    def name(locale: str, namespace: str = "") -> str:  # as the error shows it: ui/locales/en/caption.json
        return f"{folder.parent.name}/{folder.name}/{locale}/" + (f"{namespace}.json" if namespace else "")

    tables = {}
    for locale in LOCALES:
        tables[locale] = {}
        for path in sorted((folder / locale).glob("*.json")):
            tables[locale].update(_read(path, name(locale, path.stem)))
        if not tables[locale]:
            raise LocaleError(f"{name(locale)} holds no string tables")
    reference, *others = LOCALES
    for other in others:
        if unmatched := sorted(tables[reference].keys() ^ tables[other].keys()):
            key, namespace = unmatched[0], unmatched[0].split(".", 1)[0]
            has, lacks = (reference, other) if key in tables[reference] else (other, reference)
            more = f" ({len(unmatched) - 1} more keys in one language only)" if len(unmatched) > 1 else ""
            raise LocaleError(f"{name(lacks, namespace)}: lacks {key}, which {name(has, namespace)} has{more}")
    return tables


_PAGE, _CODED = load(), load(MESSAGES_DIR)  # the page's strings, the pipelines' coded messages
TABLES = {locale: _PAGE[locale] | _CODED[locale] for locale in LOCALES}
EN, ZH = TABLES["en"], TABLES["zh-CN"]

I18N = gr.I18n(**TABLES)
_ = I18N


def t(key: str, locale: str | None) -> str:
    """The string for ``key`` in ``locale`` ("zh-CN" or "zh" for Chinese, English otherwise),
    for text the server writes itself (tables, plot legends), where ``_`` can't reach."""
    return (ZH if (locale or "").lower().startswith("zh") else EN)[key]


def both(key: str, **values) -> str:
    """``key`` as inline HTML for Markdown the server writes (status lines): in the
    request's language during a request; outside one (while the page is built), in both
    languages, and CSS shows the one matching the page's language (ui/page/page.css)."""
    if (locale := page_language()) is not None:
        return html.escape(t(key, locale).format(**values), quote=False)
    return "".join(
        f'<span class="i18n-{lang}">{html.escape(table[key].format(**values), quote=False)}</span>'
        for lang, table in (("en", EN), ("zh", ZH))
    )


def bilingual(key: str, **values) -> str:
    """``key`` as plain text, for the few places that can show neither HTML nor ``_``
    (progress messages): in the request's language, or both outside a request."""
    if (locale := page_language()) is not None:
        return t(key, locale).format(**values)
    return " · ".join(table[key].format(**values) for table in (EN, ZH))
