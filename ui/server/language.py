"""The language switch's browser side: the page is rendered, from its first paint, in the
language the reader chose.

Switching a running page (Gradio's ``changeLocale``, which its Settings panel calls)
leaves inactive tabs and some component texts in the old language, so the switch
(``SWITCH_LOCALE_JS``) stores the choice in the browser and reloads the page.
``LanguageScript``, an ASGI middleware, puts ``LANGUAGE_SCRIPT`` at the top of the page;
before Gradio starts, it makes the browser report the stored language (or the one in
the address, ``?lang=zh-CN``), and Gradio renders that language throughout.
``LOCALE_JS`` reads back the language the page is shown in. The strings themselves are
in ``ui/locales`` (see ``ui/i18n.py``).

The server learns each request's language (``locale_of``) from a cookie the page keeps
equal to the language it shows (``COOKIE``, written by ``LANGUAGE_SCRIPT``), else from
the ``Accept-Language`` header (API clients), else English: ui/server/security.py's
EventGuard says the inputs' refusals in it, and ui/chain.py sets it around each call of
a handler (``request_language``), where ``page_language()`` reads it back for the
handler's messages, status lines and tables (ui/i18n.py).
"""

from __future__ import annotations

import contextlib
import json
from contextvars import ContextVar
from pathlib import Path

from runtime.messages import catalogue

# The language of the request being served ("en" or "zh-CN"); None outside a request.
PAGE_LOCALE: ContextVar[str | None] = ContextVar("page_locale", default=None)
# Whether the request comes from the page (it sends its language cookie) rather than an
# API client: the page names parameters by their controls' labels, the API by its own.
FROM_PAGE: ContextVar[bool] = ContextVar("from_page", default=False)

# Where the browser keeps the choices (localStorage): the language, and presenter mode
# (larger text and stronger contrast for a projector), remembered the same way.
STORAGE_KEY = "playground-locale"
PRESENTER_KEY = "playground-presenter"
# The cookie that tells the server the page's language: written before Gradio starts,
# again whenever Gradio sets <html lang>, and when the tab comes back into view (another
# tab of the same browser may have written its own language meanwhile).
COOKIE = "playground-locale"
# The three scripts live in ui/page/*.js; the values they need go in as JSON, by name.
PAGE = Path(__file__).resolve().parents[1] / "page"


def page_script(name: str, **values) -> str:
    """``ui/page/<name>.js`` as a <script> element, each ``__KEY__`` in it replaced by
    ``values["key"]`` written as JSON (strings quoted, Chinese kept as it is)."""
    source = (PAGE / f"{name}.js").read_text(encoding="utf-8")
    for key, value in values.items():
        source = source.replace(f"__{key.upper()}__", json.dumps(value, ensure_ascii=False))
    return f"<script>{source}</script>"


LANGUAGE_SCRIPT = page_script("language", presenter_key=PRESENTER_KEY, storage_key=STORAGE_KEY, cookie=COOKIE)
# Gradio titles its toasts with their kind in English ("Error", "Warning") on every page;
# on a Chinese page they are put in Chinese as they appear. A file of the wrong type
# dropped on an audio or image input gets Gradio's own English toast listing a dozen MIME
# types ("Only audio/aac,audio/midi,... allowed."), checked in the browser before any
# request: it is said as the app says it, in the page's language, naming the formats.
TOAST_SCRIPT = page_script(
    "toast",
    names={kind: catalogue("zh-CN")[f"toast_{kind.lower()}"] for kind in ("Error", "Warning", "Info", "Success")},
    kinds={
        kind: {"en": catalogue("en")[f"{kind}_file_type"], "zh-CN": catalogue("zh-CN")[f"{kind}_file_type"]}
        for kind in ("audio", "image")
    },
)
# A number typed into a slider's box beyond its range: Gradio sets it to the nearest end
# when the box loses focus; this says so, under the slider, in the page's language, instead
# of letting it change quietly (the server refuses such a value outright, naming the range).
RANGE_SCRIPT = page_script("range", say={locale: catalogue(locale)["range_changed"] for locale in ("en", "zh-CN")})
# The page's language as the switch names it.
LOCALE_JS = "() => ((document.documentElement.lang || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en')"
# The switch: remember the choice (in the address where storage is refused) and reload.
SWITCH_LOCALE_JS = f"""(locale) => {{
  const url = new URL(location.href);
  url.searchParams.delete("lang");
  try {{ localStorage.setItem("{STORAGE_KEY}", locale); }} catch (e) {{ url.searchParams.set("lang", locale); }}
  location.replace(url.href);
  return locale;
}}"""


# Presenter mode: the switch's value from the page, and the switch itself (no reload).
PRESENTER_JS = "() => document.documentElement.classList.contains('presenter')"
SWITCH_PRESENTER_JS = f"""(on) => {{
  document.documentElement.classList.toggle("presenter", !!on);
  try {{ localStorage.setItem("{PRESENTER_KEY}", on ? "on" : "off"); }} catch (e) {{}}
  return on;
}}"""


class LanguageScript:
    """ASGI middleware adding ``LANGUAGE_SCRIPT`` (and ``TOAST_SCRIPT``, ``RANGE_SCRIPT``) to the top of the app's page (the HTML
    that holds ``window.gradio_config``); every other response passes untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        start: dict | None = None
        chunks: list[bytes] = []

        async def rewrite(message):
            nonlocal start
            if message["type"] == "http.response.start":
                if b"text/html" in dict(message.get("headers", [])).get(b"content-type", b""):
                    start = message  # held back until the body is complete
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(chunks)
                if b"window.gradio_config" in body:
                    scripts = LANGUAGE_SCRIPT + TOAST_SCRIPT + RANGE_SCRIPT
                    body = body.replace(b"<head>", b"<head>" + scripts.encode(), 1)
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                return await send({"type": "http.response.body", "body": body})
            await send(message)

        await self.app(scope, receive, rewrite)


def locale_of(request) -> str:
    """The language to answer a request in, "en" or "zh-CN": the page's (its cookie),
    else the first of English or Chinese that ``Accept-Language`` names, by weight (an
    API client's choice), else English."""
    if request is None:
        return "en"
    cookies = getattr(request, "cookies", None) or {}
    if cookies.get(COOKIE) in ("en", "zh-CN"):
        return cookies[COOKIE]
    headers = getattr(request, "headers", None) or {}
    ranges = []
    for position, part in enumerate((headers.get("accept-language") or "").split(",")):
        tag, _, weight = part.strip().partition(";q=")
        try:
            ranges.append((-float(weight or 1), position, tag.strip().lower()))
        except ValueError:
            continue
    for _weight, _position, tag in sorted(ranges):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"


def from_page(request) -> bool:
    """Whether ``request`` comes from the app's page (it carries the language cookie)."""
    return (getattr(request, "cookies", None) or {}).get(COOKIE) in ("en", "zh-CN")


def page_language() -> str | None:
    """The language of the request being served, or None while the page is being built."""
    return PAGE_LOCALE.get()


@contextlib.contextmanager
def request_language(request):
    """The request's language (``locale_of``) and whether it comes from the page, for the
    code run inside: every message it writes is in that language. ``None`` (outside a
    request: a test, the app itself) leaves them as they stand."""
    if request is None:
        yield
        return
    locale, page = PAGE_LOCALE.set(locale_of(request)), FROM_PAGE.set(from_page(request))
    try:
        yield
    finally:
        PAGE_LOCALE.reset(locale)
        FROM_PAGE.reset(page)
