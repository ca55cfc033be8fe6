"""The page in a real browser (Debian's Chromium through Playwright): it follows the
browser's language, the English / 简体中文 switch really switches and is remembered,
no raw translation key shows anywhere, and text the server writes follows the switch."""

import shutil

import pytest

from ui.i18n import EN, ZH

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


def no_raw_keys(page) -> bool:
    text = page.locator("body").inner_text()  # what a reader sees (the page's source holds the keys)
    return "__i18n__" not in text and "translation_metadata" not in text


# The tabs in the order the app shows them, in each language.
TAB_IDS = ["caption", "ask", "chat", "create", "search", "listen", "fusion", "contrastive", "evaluate", "lessons"]
ENGLISH_TABS = [EN[f"{tab}.tab"] for tab in TAB_IDS]
CHINESE_TABS = [ZH[f"{tab}.tab"] for tab in TAB_IDS]


def tabs(page) -> list[str]:
    return [tab.inner_text().strip() for tab in page.get_by_role("tab").all()]


def test_the_page_follows_the_browser_and_the_switch(browser, app_url):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("text=多模态游乐场", timeout=60_000)
    expect(page.get_by_label("简体中文")).to_be_checked()
    assert tabs(page) == CHINESE_TABS and no_raw_keys(page)

    # The switch reloads the page in English, every tab and every component with it.
    page.get_by_text("English", exact=True).click()
    page.wait_for_selector("h1:has-text('Multimodal Playground')", timeout=60_000)
    expect(page.get_by_label("English")).to_be_checked()
    assert tabs(page) == ENGLISH_TABS and no_raw_keys(page)
    expect(page.get_by_text("Drop Image Here").first).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "en"

    page.reload()  # remembered, although the browser prefers Chinese
    page.wait_for_selector("h1:has-text('Multimodal Playground')", timeout=60_000)
    assert tabs(page) == ENGLISH_TABS
    context.close()


def test_the_address_can_name_the_language(browser, app_url):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(app_url + "?lang=zh-CN")  # e.g. a link a teacher hands out
    page.wait_for_selector("text=多模态游乐场", timeout=60_000)
    assert tabs(page) == CHINESE_TABS
    page.get_by_text("English", exact=True).click()  # the switch wins over the address
    page.wait_for_selector("h1:has-text('Multimodal Playground')", timeout=60_000)
    assert "lang=" not in page.url and tabs(page) == ENGLISH_TABS
    context.close()


def test_text_the_server_writes_is_in_the_pages_language(browser, app_url):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="Fusion lab").click()
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_selector(".fusion-confusion >> text=mismatch", timeout=60_000)
    expect(page.locator(".fusion-table tr")).to_have_count(2, timeout=60_000)  # a header and the finished run

    page.get_by_text("简体中文", exact=True).click()  # reloads: the session's table starts again
    page.wait_for_selector("text=多模态游乐场", timeout=60_000)
    page.get_by_role("tab", name="融合实验室").click()
    page.get_by_role("button", name="训练", exact=True).click()
    page.wait_for_selector(".fusion-confusion >> text=不匹配", timeout=60_000)
    expect(page.locator(".fusion-table")).to_contain_text("早期融合")
    header = page.locator(".model-status").first  # status lines too: the Chinese half shows, the English one not
    expect(header.locator(".i18n-zh")).to_contain_text("模型：微型随机模型")
    expect(header.locator(".i18n-en")).to_be_hidden()
    assert no_raw_keys(page)
    context.close()


def test_the_page_scripts_work_in_the_pages_language(browser, app_url):
    """ui/page/*.js, which the server puts on the page: presenter mode is switched at once
    and remembered from the first paint, and a number typed into a slider's box beyond its
    range is named under the slider, in the page's language, as Gradio moves it to the end."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("text=多模态游乐场", timeout=60_000)
    presenter = "document.documentElement.classList.contains('presenter')"
    assert not page.evaluate(presenter)
    page.get_by_label(ZH["app.presenter"]).check()
    assert page.evaluate(presenter)
    page.reload()
    page.wait_for_selector("text=多模态游乐场", timeout=60_000)
    assert page.evaluate(presenter)  # before Gradio has drawn anything: no flash of small text

    box = page.locator("input[type=number][max]").first  # the first slider's box in the Caption tab's settings
    advanced = page.locator("button.label-wrap", has_text=ZH["common.advanced"]).first
    for _ in range(5):  # clicked again if a click landed while the page was still being drawn
        if "open" not in (advanced.get_attribute("class") or ""):
            advanced.click()
        page.wait_for_timeout(1000)
        if box.is_visible():
            break
    expect(box).to_be_visible()
    high = box.get_attribute("max")
    notice = page.locator(".range-notice").first
    for _ in range(5):  # a box Gradio redraws while the page settles loses what was typed: type again
        box.fill(str(float(high) * 10 + 7))
        box.press("Tab")  # the notice is written as the box loses focus
        if notice.is_visible():
            break
        page.wait_for_timeout(1000)
    expect(notice).to_be_visible()
    assert f"{high}：" in notice.inner_text() and "已改为" in notice.inner_text(), notice.inner_text()
    context.close()
