"""A first-time user's walk through the whole page in a real browser, in English and in
Chinese: every tab opened, its example run (where one exists), every closed panel
opened, one bad input given; then the page is read as that user reads it. It fails on
a page error (an uncaught exception in the browser), a raw string key ("search.tab"),
a bare "Error" without a message, text in the other language, or a horizontal
scrollbar on a 390-px phone. Each tab's screenshots, at 1280 and 390 px, are saved
under tests/artifacts/walkthrough/ (git-ignored; CI keeps them as artifacts), or
under PLAYGROUND_SCREENSHOTS when it is set.

One browser and the session's app (tests/conftest.py) serve both languages; the tabs'
own browser tests check their results in depth, so this walk only asks that each run
ends and reads well.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT
from ui.demo import TABS, _tab_id
from ui.i18n import EN, ZH, t

ARTIFACTS = Path(os.getenv("PLAYGROUND_SCREENSHOTS") or ROOT / "tests" / "artifacts") / "walkthrough"
# Per tab: the button its example runs with, and the button that, pressed before any input,
# must answer with a message (a bad input). None: the tab has no such step here (the labs
# train for a while; their own tests run them).
STEPS = {
    "caption": ("caption.button", "caption.button"),
    "ask": ("ask.button", "ask.button"),
    "chat": (None, "chat.send"),
    "create": ("create.button", "create.button"),
    "search": ("search.by_text", "search.by_image"),
    "listen": ("listen.button", "listen.button"),
    "fusion": (None, None),
    "contrastive": (None, None),
    "evaluate": (None, None),
    "lessons": (None, None),
}
# What an English page may show in Chinese: the language switch, and names.
ENGLISH_PAGE_ALLOWS = {"简体中文", "中文"}
NAMESPACES = "|".join(sorted({key.split(".")[0] for key in EN}))
KEY = re.compile(rf"\b(?:{NAMESPACES})\.[a-z0-9_.]+\b")
HAN = re.compile(r"[\u4e00-\u9fff]")
# An English sentence: four words or more, two of them common function words.
ENGLISH = re.compile(r"\b(?:the|a|an|of|to|is|and|with|for|in|on|your|this|it)\b", re.IGNORECASE)

READ_PAGE = """() => {
  // The visible text of every leaf block, as a reader sees it (hidden halves of bilingual text left out;
  // notices are read on their own; Gradio's screen-reader status line is not on the screen).
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement, text = node.textContent.trim();
    if (!text || !el || el.closest("script, style, .cm-editor, textarea, [aria-hidden=true], [class*=toast], .sr-only")) continue;
    if (!el.checkVisibility || !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
    out.push(text);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def pages(browser, app_url):
    errors: list[str] = []

    def open_page(locale: str):
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("pageerror", lambda error: errors.append(f"{locale}: {error}"))
        page.goto(app_url + ("?lang=zh-CN" if locale == "zh-CN" else "?lang=en"))
        page.wait_for_selector("button[role=tab]")
        return page

    return open_page, errors


def label(key: str, locale: str) -> str:
    return t(key, locale)


def settle(page) -> None:
    """Wait for the running event (if any) to finish: no status tracker is busy."""
    page.wait_for_timeout(150)
    page.wait_for_function(
        "() => ![...document.querySelectorAll('[data-testid=status-tracker]')].some(e =>"
        " e.offsetParent && /pending|generating/.test(e.className))",
        timeout=90_000,
    )


def other_language(text: str, locale: str) -> bool:
    if locale == "en":
        return bool(HAN.search(text)) and text.strip() not in ENGLISH_PAGE_ALLOWS
    # ASCII-only text is allowed on the Chinese page where it is a name (BLIP, cat.jpg); a sentence is not.
    return not HAN.search(text) and len(text.split()) >= 4 and len(ENGLISH.findall(text)) >= 2


def problems(page, locale: str) -> list[str]:
    found = []
    for text in page.evaluate(READ_PAGE):
        if KEY.search(text) and any(key in EN for key in KEY.findall(text)):
            found.append(f"raw string key: {text!r}")
        if text.strip().rstrip(":.!") in ("Error", "错误"):
            found.append(f"a bare {text!r}")
        if other_language(text, locale):
            found.append(f"the other language: {text!r}")
    for toast in page.locator(".toast-body").all():
        body = toast.inner_text().strip()
        message = re.sub(r"^(Error|错误|Warning|警告|Info|提示)\s*", "", body).strip()
        if not message:
            found.append(f"a notice without a message: {body!r}")
        elif any(other_language(line, locale) for line in message.splitlines()):
            found.append(f"a notice in the other language: {body!r}")
    return found


def close_toasts(page) -> None:
    for close in page.locator(".toast-close").all():
        if close.is_visible():
            close.click()


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_a_first_walk_through_every_tab(pages, locale):
    open_page, errors = pages
    page = open_page(locale)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: list[str] = []
    for tab in map(_tab_id, TABS):
        page.get_by_role("tab", name=label(f"{tab}.tab", locale), exact=True).click()
        panel = page.locator(".tabitem:visible").first
        run, bad = STEPS[tab]
        if bad:  # nothing given yet: a message that says what is missing, never a crash
            panel.get_by_role("button", name=label(f"{bad}", locale), exact=True).first.click()
            toast = page.locator(".toast-body").first
            toast.wait_for()
            assert len(toast.inner_text().strip()) > 12, (tab, toast.inner_text())
            found += [f"{tab}: {p}" for p in problems(page, locale)]
            close_toasts(page)
        if run and locale == "en":  # the runs once: the Chinese walk reads the same tabs, panels and messages
            panel.locator(".gallery-item:visible, tr.tr-body:visible").first.click()
            panel.get_by_role("button", name=label(run, locale), exact=True).first.click()
            settle(page)
        closed = panel.locator(".label-wrap:not(.open):visible")
        for _ in range(40):  # every panel, opened (the panels inside them too)
            if not closed.count():
                break
            closed.first.click(timeout=5_000)
        page.wait_for_timeout(100)
        found += [f"{tab}: {p}" for p in problems(page, locale)]
        panel.screenshot(path=str(ARTIFACTS / f"{locale}-{tab}-1280.jpg"), quality=70)  # the whole tab
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(120)
        wide = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 0:
            found.append(f"{tab}: a horizontal scrollbar at 390 px ({wide} px too wide)")
        panel.evaluate("(el) => el.scrollIntoView()")
        page.screenshot(path=str(ARTIFACTS / f"{locale}-{tab}-390.jpg"), quality=70)  # a phone's first screen of it
        page.set_viewport_size({"width": 1280, "height": 900})
        close_toasts(page)
    assert not errors, errors
    assert not found, "\n".join(dict.fromkeys(found))
    assert ZH  # both tables loaded
