"""A first-time user's walk through the whole page in a real browser, in English and in
Chinese: every tab opened, its example run (where one exists), every closed panel
opened, one bad input given; then the page is read as that user reads it. It fails on
a page error (an uncaught exception in the browser), a raw string key ("search.tab"),
a bare "Error" without a message, text in the other language, a registry key where
a name belongs (a task key in the Models table), a warning about a field the user never
touched, a panel the first-screen guide promises that the tab lacks, a tab a 390-px
phone hides, a caption cut short, a horizontal scrollbar on a 390-px phone, or a warning
in the server's log. Part of the walk runs offline with the tiny twins standing in for
the `cpu` profile's checkpoints, as users meet them without a network; the Evaluate
chart (a picture) is checked by its rendered tick label boxes. Each tab's screenshots, at 1280 and 390 px, are saved
under tests/artifacts/walkthrough/ (git-ignored; CI keeps them as artifacts), or
under PLAYGROUND_SCREENSHOTS when it is set.

One browser and the session's app (tests/conftest.py) serve both languages; the tabs'
own browser tests check their results in depth, so this walk only asks that each run
ends and reads well.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest

from runtime.registry import TASKS
from tests.conftest import IMAGES, ROOT
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
    // What models wrote (a chat's bubbles, a results table's cells: random words from the tiny
    // models, the probe set's English references) is the models' text, not the page's.
    if (!text || !el || el.closest("script, style, .cm-editor, textarea, [aria-hidden=true], [class*=toast], .sr-only, " +
        ".bubble-wrap, .message-wrap, .model-output")) continue;
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
    for body in toasts(page):
        message = re.sub(r"^(Error|错误|Warning|警告|Info|提示)\s*", "", body).strip()
        if not message:
            found.append(f"a notice without a message: {body!r}")
        elif any(other_language(line, locale) for line in message.splitlines()):
            found.append(f"a notice in the other language: {body!r}")
    return found


# A lowercase English word in a Chinese dropdown ("random", "gated", "base"): a word to
# translate, not a name (BLIP, SD-Turbo, ViT-B/16 and 256M keep capitals or digits).
LOWERCASE_WORD = re.compile(r"(?<![\w./-])[a-z]{3,}(?![\w./-])")
# A language named in its own language with its code, as Listen's language list has it.
ENDONYM = re.compile(r"^\S.* \([a-z]{2}\)$")


def dropdowns(page, panel, locale: str) -> list[str]:
    """Every visible dropdown of ``panel`` (the model pickers first of all), its value and,
    opened, its choices, read in the page's language: their text sits in inputs and in a
    list that opens on a click, where ``READ_PAGE`` doesn't see it."""
    found = []
    for box in panel.locator("input[role=combobox]:visible").all():
        shown = [box.input_value()]
        if box.is_enabled():
            box.click()
            page.wait_for_timeout(150)
            shown += [
                text.removeprefix("✓").strip()
                for text in page.locator("[role=listbox] [role=option]").all_inner_texts()
            ]
            page.keyboard.press("Escape")
        name = box.get_attribute("aria-label")
        for text in dict.fromkeys(shown):
            if locale == "zh-CN" and (LOWERCASE_WORD.search(text) or other_language(text, locale)):
                found.append(f"English in the dropdown {name!r}: {text!r}")
            if locale == "en" and other_language(text, locale) and not ENDONYM.match(text):
                found.append(f"Chinese in the dropdown {name!r}: {text!r}")
    return found


def toasts(page) -> list[str]:
    # Read in one go: a toast that closes itself between listing and reading would leave a
    # locator that waits for it.
    return [text.strip() for text in page.locator(".toast-body").all_inner_texts()]


PANELS_JS = """(el) => {
  // What a tab has: examples, and its closed-or-open panels by title.
  const titles = [...el.querySelectorAll('.label-wrap')].map(e => e.innerText.trim());
  const examples = [...el.querySelectorAll('.gallery-item, tr.tr-body')].some(e => e.checkVisibility());
  return {examples, titles};
}"""


def promised(page, locale: str) -> dict[str, set[str]]:
    """The panels the first-screen guide says each tab has: its table's third column."""
    rows = page.locator("table").filter(has_text=label("app.guide_panels", locale)).first.locator("tbody tr")
    found = {}
    for row in rows.all():
        cells = [c.inner_text().strip() for c in row.locator("td").all()]
        for name in cells[0].split(" · "):
            found[name.strip()] = {p.strip() for p in cells[2].split("·") if p.strip() and p.strip() != "—"}
    return found


def has(panels: dict, locale: str) -> set[str]:
    """The guide's names of what a tab has (``PANELS_JS``)."""
    out = {label("app.guide_examples", locale)} if panels["examples"] else set()
    for key, name in (("explain.how_title", "app.guide_how"), ("explain.code_title", "app.guide_code")):
        if any(label(key, locale) in title for title in panels["titles"]):
            out.add(label(name, locale))
    return out


def close_toasts(page) -> None:
    from playwright.sync_api import Error

    for close in page.locator(".toast-close").all():
        try:
            if close.is_visible():
                close.click(timeout=3_000)
        except Error:  # gone by itself meanwhile (its time was up)
            pass


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_a_first_walk_through_every_tab(pages, locale):
    from playwright.sync_api import Error

    open_page, errors = pages
    page = open_page(locale)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: list[str] = []
    guide = promised(page, locale)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: every tab in sight, none behind a menu
    page.wait_for_timeout(300)
    for tab in map(_tab_id, TABS):
        button = page.get_by_role("tab", name=label(f"{tab}.tab", locale), exact=True)
        if not button.count() or not button.is_visible():
            found.append(f"{tab}: its tab is hidden at 390 px")
    page.set_viewport_size({"width": 1280, "height": 900})
    for tab in map(_tab_id, TABS):
        page.get_by_role("tab", name=label(f"{tab}.tab", locale), exact=True).click()
        panel = page.locator(".tabitem:visible").first
        shown = has(panel.evaluate(PANELS_JS), locale)
        if guide.get(label(f"{tab}.tab", locale), set()) != shown:
            found.append(
                f"{tab}: the guide promises {sorted(guide.get(label(f'{tab}.tab', locale), set()))}, "
                f"the tab has {sorted(shown)}"
            )
        run, bad = STEPS[tab]
        if bad:  # nothing given yet: a message that says what is missing, never a crash
            panel.get_by_role("button", name=label(f"{bad}", locale), exact=True).first.click()
            toast = page.locator(".toast-body").first
            toast.wait_for()
            assert len(toast.inner_text().strip()) > 12, (tab, toast.inner_text())
            found += [f"{tab}: {p}" for p in problems(page, locale)]
            close_toasts(page)
        if tab == "listen":  # a file that is not audio: the app's sentence naming the formats, not MIME types
            not_audio = ARTIFACTS / "notes.txt"
            not_audio.write_text("not a sound")
            panel.locator(".source-selection button[aria-label='Upload file']").first.click()
            panel.locator("input[type=file]").first.set_input_files(str(not_audio))
            page.locator(".toast-body").first.wait_for()
            said = "\n".join(toasts(page))
            if "audio/" in said or "WAV" not in said:
                found.append(f"listen: a file that is not audio is refused as {said!r}")
            found += [f"{tab}: {p}" for p in problems(page, locale)]
            close_toasts(page)
        if run and locale == "en":  # the runs once: the Chinese walk reads the same tabs, panels and messages
            panel.locator(".gallery-item:visible, tr.tr-body:visible").first.click()
            panel.get_by_role("button", name=label(run, locale), exact=True).first.click()
            settle(page)
        if tab == "search" and locale == "en":  # a notice beside a result: the result stays readable
            found += notices_beside_results(page, panel)
            # Sort the collection: its examples' captions ("animal · 0.26 · coins.jpg") are read below
            panel.get_by_label(label("search.labels", locale)).first.fill("animal, food, space, person, object")
            panel.get_by_role("button", name=label("search.classify_collection", locale), exact=True).click()
            settle(page)
        if tab == "fusion" and locale == "en":  # a short training: its mistakes' captions are read below
            epochs = panel.locator(f"input[aria-label='number input for {label('fusion.epochs', locale)}']").first
            epochs.fill("3")
            epochs.press("Enter")
            panel.get_by_role("button", name=label("fusion.train", locale), exact=True).click()
            mistakes = panel.locator(".block").filter(has_text=label("fusion.mistakes", locale)).last
            mistakes.locator(".caption-label").first.wait_for(timeout=300_000)
            settle(page)
        if tab == "evaluate" and locale == "en":  # a default run: nothing said about fields the user never touched
            panel.get_by_role("button", name=label("evaluate.button", locale), exact=True).click()
            settle(page)
            found += [f"evaluate: a warning after a default run: {said!r}" for said in toasts(page)]
        close_toasts(page)  # read above; they would cover the panels' titles
        closed = panel.locator(".label-wrap:not(.open):visible")
        for _ in range(40):  # every panel, opened (the panels inside them too)
            if not closed.count():
                break
            close_toasts(page)  # one said meanwhile may sit over the panel's title
            with contextlib.suppress(Error):  # redrawn meanwhile (a run's last outputs): found again next time
                closed.first.click(timeout=5_000)
        page.wait_for_timeout(100)
        found += [f"{tab}: {p}" for p in problems(page, locale)]
        found += [f"{tab}: {p}" for p in dropdowns(page, panel, locale)]
        panel.screenshot(path=str(ARTIFACTS / f"{locale}-{tab}-1280.jpg"), quality=70)  # the whole tab
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(120)
        wide = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 0:
            found.append(f"{tab}: a horizontal scrollbar at 390 px ({wide} px too wide)")
        cut = panel.evaluate(CUT_CAPTIONS_JS)
        found += [f"{tab}: a caption cut short at 390 px: {text!r}" for text in cut]
        panel.evaluate("(el) => el.scrollIntoView()")
        page.screenshot(path=str(ARTIFACTS / f"{locale}-{tab}-390.jpg"), quality=70)  # a phone's first screen of it
        page.set_viewport_size({"width": 1280, "height": 900})
        close_toasts(page)
    found += models_panel(page, locale)
    if locale == "zh-CN":
        found += chinese_runs(open_page(locale))
    assert not errors, errors
    assert not found, "\n".join(dict.fromkeys(found))
    assert ZH  # both tables loaded


# Gallery captions (and other one-line labels) that the page cuts, with an ellipsis or at their box's foot.
CUT_CAPTIONS_JS = """(el) => [...el.querySelectorAll('.caption-label, .gallery .caption, figcaption')]
  .filter(e => e.checkVisibility() && (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1))
  .map(e => e.innerText.trim())"""


def chinese_runs(page) -> list[str]:
    """On a fresh Chinese page (the models' answers are random English words, which the walk
    would read as page text): Chinese sent to an English-only chat model gets the notice
    that names a model that reads it, and a default evaluation warns about nothing and
    writes its notes in Chinese."""
    from playwright.sync_api import Error

    found = []
    page.get_by_role("tab", name=label("chat.tab", "zh-CN"), exact=True).click()
    panel = page.locator(".tabitem:visible").first
    panel.get_by_label(label("chat.message", "zh-CN")).first.fill("请用一句话描述这张图片。")
    panel.get_by_role("button", name=label("chat.send", "zh-CN"), exact=True).first.click()
    with contextlib.suppress(Error):  # said before the answer is written (a notice lasts 10 s)
        page.locator(".toast-body").filter(has_text="汉字").first.wait_for(timeout=90_000)
    said = "\n".join(toasts(page))
    settle(page)
    if "汉字" not in said:
        found.append(f"chat: no notice that the model can't read Chinese ({said!r})")
    found += [f"chat: {p}" for p in problems(page, "zh-CN") if "notice" in p]
    close_toasts(page)
    page.get_by_role("tab", name=label("evaluate.tab", "zh-CN"), exact=True).click()
    panel = page.locator(".tabitem:visible").first
    panel.get_by_role("button", name=label("evaluate.button", "zh-CN"), exact=True).click()
    settle(page)
    found += [f"evaluate: a warning after a default run: {said!r}" for said in toasts(page)]
    summary = panel.locator(".prose").filter(has_text="v").all_inner_texts()
    found += [
        f"evaluate: the summary in English: {line!r}"
        for text in summary
        for line in text.splitlines()
        if other_language(line, "zh-CN")
    ]
    page.context.close()
    return found


def notices_beside_results(page, panel) -> list[str]:
    """Notices leave results readable. The Search tab's zero-shot classification shows its
    confidences; then adding the same picture to the collection says it is there already:
    at 1280 px that notice keeps out of the confidences' column, so no scrolling brings one
    under the other. On a 390-px phone (one column) a pile of notices, five buttons pressed
    with nothing given, takes at most a third of the screen."""
    found = []
    box = panel.locator("input[type=file]")  # the query image, the files to add, the folder, Classify's image
    box.nth(3).set_input_files(str(IMAGES / "cat.jpg"))
    page.wait_for_timeout(1_000)
    panel.get_by_label(label("search.labels", "en")).last.fill("cat, dog, rocket")
    panel.get_by_role("button", name=label("search.classify", "en"), exact=True).click()
    settle(page)
    close_toasts(page)
    box.nth(1).set_input_files(str(IMAGES / "cat.jpg"))  # "Images or zip files to add": a bundled one
    page.wait_for_timeout(1_000)
    panel.get_by_role("button", name=label("search.add", "en"), exact=True).click()
    page.locator(".toast-body").first.wait_for(timeout=30_000)  # "Already in the collection ..."
    column = panel.locator(".block").filter(has_text=label("search.confidences", "en")).last.bounding_box()
    for toast in page.locator(".toast-body").all():
        over = toast.bounding_box()
        if over and over["x"] < column["x"] + column["width"] and column["x"] < over["x"] + over["width"]:
            found.append(f"search: a notice over the confidences' column at 1280 px: {toast.inner_text()!r}")
    settle(page)
    close_toasts(page)
    page.set_viewport_size({"width": 390, "height": 844})
    panel.get_by_label(label("search.labels", "en")).last.fill("")
    for button in ("search.by_image", "search.by_text", "search.classify_collection", "search.classify", "search.add"):
        panel.get_by_role("button", name=label(button, "en"), exact=True).click()
        page.wait_for_timeout(300)
    page.locator(".toast-body").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1_000)
    pile = page.locator(".toast-wrap").bounding_box()
    if pile["height"] > 844 / 3 + 1:
        found.append(f"search: a pile of notices {pile['height']:.0f} px high on an 844-px phone screen")
    page.set_viewport_size({"width": 1280, "height": 900})
    close_toasts(page)
    return found


def models_panel(page, locale: str) -> list[str]:
    """The Models and memory panel: tasks by name (never a registry key), and Unload with
    nothing picked says so."""
    from playwright.sync_api import Error

    found = []
    page.get_by_text(label("models.title", locale), exact=True).first.click()
    page.wait_for_timeout(1500)
    panel = page.locator(".label-wrap.open").filter(has_text=label("models.title", locale)).locator("xpath=..")
    cells = [c.strip() for c in panel.locator("table td").all_inner_texts()]
    found += [f"models: a raw task key {cell!r} in the table" for cell in cells if cell in TASKS]
    found += [f"models: {p}" for p in problems(page, locale)]
    close_toasts(page)
    panel.get_by_role("button", name=label("models.unload_all", locale), exact=True).click()
    page.wait_for_timeout(1500)  # nothing loaded, so nothing picked
    panel.get_by_role("button", name=label("models.unload", locale), exact=True).click()
    with contextlib.suppress(Error):  # on a busy machine the answer takes a while
        page.locator(".toast-body").first.wait_for(timeout=15_000)
    if not any(len(said) > 12 for said in toasts(page)):
        found.append("models: Unload with nothing picked says nothing")
    close_toasts(page)
    return found


def test_the_server_log_has_no_stray_warnings(app_process, pages):
    """After the walks, the app's log (what `make run` shows) holds no warning a user can't
    act on: libraries' notes about torchvision, tokenizer lengths or deprecations."""
    log = Path(app_process[1].log_path).read_text(errors="replace")
    stray = [
        line
        for line in log.splitlines()
        if re.search(
            r"torchvision|Token indices sequence length|UserWarning|DeprecationWarning|FutureWarning|"
            r"\[transformers\]|\bwarn(ing)?\b",
            line,
            re.IGNORECASE,
        )
    ]
    assert not stray, "\n".join(stray)


@pytest.fixture(scope="module")
def offline_url(tmp_path_factory):
    """`make run` offline (profile auto, no model in the cache), for both languages: the
    second finds the stand-ins the first loaded, whose notices must follow its own page."""
    from tools.loadtest import start_app

    folder = tmp_path_factory.mktemp("offline")
    env = {"HF_HOME": str(folder / "hf"), "HF_HUB_OFFLINE": "1"}  # an empty cache: nothing downloaded yet
    (folder / "data").mkdir()
    with start_app("auto", env=env, data_dir=folder / "data") as (url, _):
        yield url


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_offline_stand_ins_are_said_in_the_page_language(browser, offline_url, locale):
    """`make run` offline (profile auto, no model in the cache): the tiny twins stand in for
    the `cpu` checkpoints, and the notice saying so, and the notices that name models, are
    in the page's language."""
    from playwright.sync_api import Error

    page = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    page.goto(offline_url + ("?lang=zh-CN" if locale == "zh-CN" else "?lang=en"))
    page.wait_for_selector("button[role=tab]")
    found = []
    for tab in ("caption", "ask"):
        page.get_by_role("tab", name=label(f"{tab}.tab", locale), exact=True).click()
        panel = page.locator(".tabitem:visible").first
        panel.locator(".gallery-item:visible, tr.tr-body:visible").first.click()
        with contextlib.suppress(Error):  # the example's picture reaches the input
            panel.locator("[data-testid=image] img").first.wait_for(timeout=10_000)
        page.wait_for_timeout(1_000)
        panel.get_by_role("button", name=label(f"{tab}.button", locale), exact=True).first.click()
        settle(page)
        with contextlib.suppress(Error):  # the status line is refreshed after the run
            panel.locator(".model-status").filter(has_text="⚠").first.wait_for(timeout=60_000)
        status = "\n".join(panel.locator(".model-status").all_inner_texts())
        if "⚠" not in status:
            found.append(f"{tab}: no notice that a tiny model stands in ({status!r})")
        found += [f"{tab}: {p}" for p in problems(page, locale) if "random" not in p]
        found += [f"{tab}: {p}" for p in dropdowns(page, panel, locale)]
        close_toasts(page)
    page.context.close()
    assert not found, "\n".join(dict.fromkeys(found))


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_the_evaluate_chart_reads_in_the_page_language(locale):
    """The Evaluate chart (a picture, so read here rather than in the page): titles and
    ticks in the page's language, and no two tick labels of a panel overlapping."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from evaluation import probes, report, runner
    from ui.tabs.evaluate import chart_words

    probe_set = probes.load_probes()
    predictions = {r["id"]: r["prediction"] for r in runner.reference_predictions(probe_set)}
    results = runner.evaluate(("caption", "vqa", "retrieval"), predictions=predictions, use_judges=False)
    figure = report.chart([results, results], words=chart_words(locale))
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    found = []
    for axes in figure.axes:
        ticks = [tick for tick in axes.get_xticklabels() if tick.get_text()]
        boxes = [tick.get_window_extent(renderer) for tick in ticks]
        for i in range(len(boxes) - 1):
            if boxes[i].overlaps(boxes[i + 1]):
                found.append(f"{axes.get_title()}: {ticks[i].get_text()!r} overlaps {ticks[i + 1].get_text()!r}")
        for text in [axes.get_title(), *(tick.get_text() for tick in ticks)]:
            # Metric names (BLEU-4, CIDEr, R@5) are names; words are in the page's language.
            words = re.sub(r"BLEU-4|CIDEr|CLIPScore|R@\d+|÷\d+|VQA", "", text)
            if locale == "zh-CN" and re.search(r"[A-Za-z]{3,}", words):
                found.append(f"English on the Chinese chart: {text!r}")
            if locale == "en" and HAN.search(text):
                found.append(f"Chinese on the English chart: {text!r}")
    assert not found, "\n".join(dict.fromkeys(found))


def figure_words(figure) -> list[str]:
    """What a matplotlib figure writes: titles, axis labels, legend entries."""
    found = []
    for axes in figure.axes:
        found += [axes.get_title(), axes.get_xlabel(), axes.get_ylabel()]
        if legend := axes.get_legend():
            found += [text.get_text() for text in legend.get_texts()]
    return [text for text in found if text]


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_the_clip_lab_figures_read_in_the_page_language(monkeypatch, locale):
    """The Search tab's CLIP lab draws its similarity matrix and its embedding map as
    pictures: their titles, axes and legends are in the page's language ("余弦相似度",
    not "cosine similarity"), whatever the texts compared."""
    import numpy as np

    from explain import clip as explain_clip
    from ui.messages import words
    from ui.server.language import PAGE_LOCALE
    from ui.tabs.search import rescale_matrix

    figures = []
    draw = explain_clip.figure_to_image
    monkeypatch.setattr(explain_clip, "figure_to_image", lambda figure: figures.append(figure) or draw(figure))
    record = {
        "images": ["cat.jpg", "coins.jpg"],
        "texts": ["a photo of a cat.", "a photo of coins."],
        "cosine": [[0.31, 0.02], [0.05, 0.29]],
        "temperature": 0.01,
        "probabilities": [[1.0, 0.0], [0.0, 1.0]],
    }
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(4, 8))
    token = PAGE_LOCALE.set(locale)
    try:
        rescale_matrix((record, []), 0.5)  # as the temperature slider redraws it
        for label in ("a cat", explain_clip.IMAGE_QUERY):
            paths = [ROOT / "assets" / f"{i}.jpg" for i in range(4)]  # not read: thumbnails are skipped
            explain_clip.embedding_map(paths, gallery, gallery[0], label, 2, words("explain.figure."))
    finally:
        PAGE_LOCALE.reset(token)
    assert len(figures) == 3
    found = []
    for figure in figures:
        for text in figure_words(figure):
            english = re.sub(r"a cat|softmax|τ", "", text)  # the query typed, and the function's name
            if locale == "zh-CN" and re.search(r"[A-Za-z]{3,}", english):
                found.append(f"English on the Chinese page's figure: {text!r}")
            if locale == "en" and HAN.search(text):
                found.append(f"Chinese on the English page's figure: {text!r}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_listen_says_who_reads_chinese_and_its_status_names_that_voice(models, locale):
    """Chinese text is read by the Chinese voice, numbers in Chinese: the intro says so (not
    "numbers become English words" alone), and after a Chinese read-aloud the status line
    names that voice, not the picker's English one."""
    from ui.components import model_status
    from ui.server.language import PAGE_LOCALE
    from ui.speech import voice_key

    intro = label("speak.intro", locale)
    assert "Kokoro" in intro and "VITS" in intro
    token = PAGE_LOCALE.set(locale)
    try:
        status = model_status("text_to_speech", voice_key("图片里有3枚火箭。", "tiny-vits"))
        english = model_status("text_to_speech", voice_key("There are 3 rockets.", "tiny-vits"))
    finally:
        PAGE_LOCALE.reset(token)
    assert "Kokoro" in status and "VITS" not in status
    assert "VITS" in english
