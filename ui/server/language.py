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
the ``Accept-Language`` header (API clients), else English; ``follow_page_language``
sets it for everything a request runs (input checks, the handler, its messages).
"""

from __future__ import annotations

import json

import gradio as gr
from gradio.route_utils import Request

from ui.i18n import EN, FROM_PAGE, PAGE_LOCALE, ZH
from ui.messages import text as translate_title
from ui.messages import translate

# Where the browser keeps the choices (localStorage): the language, and presenter mode
# (larger text and stronger contrast for a projector), remembered the same way.
STORAGE_KEY = "playground-locale"
PRESENTER_KEY = "playground-presenter"
# The cookie that tells the server the page's language: written before Gradio starts,
# again whenever Gradio sets <html lang>, and when the tab comes back into view (another
# tab of the same browser may have written its own language meanwhile).
COOKIE = "playground-locale"
LANGUAGE_SCRIPT = (
    "<script>(() => {\n"
    f'  try {{ if (localStorage.getItem("{PRESENTER_KEY}") === "on") document.documentElement.classList.add("presenter"); }} catch (e) {{}}\n'
    '  let locale = new URLSearchParams(location.search).get("lang");\n'
    f'  try {{ locale = locale || localStorage.getItem("{STORAGE_KEY}"); }} catch (e) {{}}\n'
    '  const chosen = locale === "en" || locale === "zh-CN";\n'
    "  let shown = chosen ? locale : navigator.language;\n"
    "  const tell = () => {\n"
    '    const lang = (shown || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";\n'
    f"    document.cookie = `{COOKIE}=${{lang}}; path=/; max-age=31536000; SameSite=Lax`;\n"
    "  };\n"
    "  tell();\n"
    "  new MutationObserver(() => { shown = document.documentElement.lang; tell(); })\n"
    '    .observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });\n'
    '  addEventListener("focus", tell);\n'
    '  document.addEventListener("visibilitychange", () => document.hidden || tell());\n'
    "  if (!chosen) return;\n"
    '  for (const [name, value] of [["language", locale], ["languages", [locale]]])\n'
    "    Object.defineProperty(navigator, name, { get: () => value, configurable: true });\n"
    "})();</script>"
)
# Gradio titles its toasts with their kind in English ("Error", "Warning") on every page;
# on a Chinese page they are put in Chinese as they appear. A file of the wrong type
# dropped on an audio or image input gets Gradio's own English toast listing a dozen MIME
# types ("Only audio/aac,audio/midi,... allowed."), checked in the browser before any
# request: it is said as the app says it, in the page's language, naming the formats.
TOAST_SCRIPT = (
    "<script>(() => {\n"
    f"  const names = {json.dumps({k: ZH[f'messages.toast_{k.lower()}'] for k in ('Error', 'Warning', 'Info', 'Success')}, ensure_ascii=False)};\n"
    f"  const kinds = {json.dumps({kind: {'en': EN[f'messages.{kind}_file_type'], 'zh-CN': ZH[f'messages.{kind}_file_type']} for kind in ('audio', 'image')}, ensure_ascii=False)};\n"
    "  const fix = () => {\n"
    '    const zh = (document.documentElement.lang || "").toLowerCase().startsWith("zh");\n'
    '    for (const text of document.querySelectorAll(".toast-message-text, .toast-text")) {\n'
    "      const found = /^Invalid file types?: (.*)\\. Only (.*) allowed\\.$/s.exec(text.textContent.trim());\n"
    "      const kind = found && ['audio', 'image'].find((k) => found[2].includes(k + '/'));\n"
    "      if (kind) text.textContent = kinds[kind][zh ? 'zh-CN' : 'en'].replace('{files}', found[1]);\n"
    "    }\n"
    "    if (!zh) return;\n"
    '    for (const title of document.querySelectorAll(".toast-title"))\n'
    "      for (const node of title.childNodes)\n"
    "        if (node.nodeType === 3 && names[node.textContent.trim()]) node.textContent = names[node.textContent.trim()] + ' ';\n"
    "  };\n"
    "  new MutationObserver(fix).observe(document.documentElement, { childList: true, subtree: true, characterData: true });\n"
    "})();</script>"
)
# A number typed into a slider's box beyond its range: Gradio sets it to the nearest end
# when the box loses focus; this says so, under the slider, in the page's language, instead
# of letting it change quietly (the server refuses such a value outright, naming the range).
RANGE_SCRIPT = (
    "<script>(() => {\n"
    f"  const say = {json.dumps({'en': EN['messages.range_changed'], 'zh-CN': ZH['messages.range_changed']}, ensure_ascii=False)};\n"
    "  const place = (input) => input.closest('.block') || input.parentElement;\n"
    "  const clear = (input) => place(input).querySelectorAll('.range-notice').forEach((n) => n.remove());\n"
    "  const check = (event) => {\n"
    "    const input = event.target;\n"
    "    if (!(input instanceof HTMLInputElement) || input.type !== 'number') return;\n"
    "    clear(input);\n"
    "    const value = parseFloat(input.value), low = parseFloat(input.min), high = parseFloat(input.max);\n"
    "    if (Number.isNaN(value) || !(value < low || value > high)) return;\n"
    "    const lang = (document.documentElement.lang || 'en').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';\n"
    "    const label = (input.getAttribute('aria-label') || '').replace(/^number input for /, '');\n"
    "    const notice = document.createElement('p');\n"
    "    notice.className = 'range-notice';\n"
    "    notice.setAttribute('role', 'status');\n"
    "    notice.textContent = say[lang].replace('{name}', `“${label}”`).replace('{low}', low).replace('{high}', high)\n"
    "      .replace('{value}', value).replace('{used}', value < low ? low : high);\n"
    "    place(input).appendChild(notice);\n"
    "  };\n"
    "  document.addEventListener('blur', check, true);  // before the slider's own blur handler changes it\n"
    "  document.addEventListener('keydown', (e) => e.key === 'Enter' && check(e), true);\n"
    "  document.addEventListener('input', (e) => e.target instanceof HTMLInputElement && e.target.type === 'number' && clear(e.target), true);\n"
    "})();</script>"
)
RANGE_CSS = ".range-notice { margin: 0.3em 0 0; font-size: var(--text-sm); color: var(--color-accent); }\n"
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
# Larger text everywhere (help texts included), bolder lines and darker text.
PRESENTER_CSS = """
html.presenter { font-size: 125%; }
html.presenter .gradio-container {
  --text-xxs: 14px; --text-xs: 15px; --text-sm: 17px; --text-md: 19px; --text-lg: 22px; --text-xl: 26px;
  --block-info-text-size: 16px; --block-label-text-size: 17px; --block-title-text-size: 18px;
  --body-text-color: #000; --body-text-color-subdued: #222; --block-border-width: 2px;
}
html.presenter.dark .gradio-container { --body-text-color: #fff; --body-text-color-subdued: #eee; }
html.presenter img, html.presenter canvas { image-rendering: auto; filter: contrast(1.15); }
"""


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


def follow_page_language(demo) -> None:
    """Answer each of ``demo``'s requests in its language (``locale_of``): set for the
    whole of Gradio's ``process_api`` (the inputs' checks, then the handler, which runs
    in a thread that inherits it), so every message, status line and table header the
    server writes for the request is in the page's language only."""
    process_api = demo.process_api

    async def in_page_language(*args, request: Request | list[Request] | None = None, **kwargs):
        first = request[0] if isinstance(request, list) and request else request
        token = PAGE_LOCALE.set(locale_of(first))
        page = FROM_PAGE.set(from_page(first))
        try:
            return await process_api(*args, request=request, **kwargs)
        except gr.Error as error:  # raised with the coded error it says (a classroom rule): said in this language
            if getattr(error, "said", None) is not None:
                error.message = translate(error.said)
            if getattr(error, "title_code", None):
                error.title = translate_title(error.title_code)
            raise
        finally:
            PAGE_LOCALE.reset(token)
            FROM_PAGE.reset(page)

    demo.process_api = in_page_language
