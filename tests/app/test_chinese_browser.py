"""Search in Chinese in a real browser (Debian's Chromium through Playwright): the Chinese
page shows the Chinese examples and hides the English ones, a Chinese query from an
example searches, the English-only model says it can't read it (naming the models that
can), and a model that reads Chinese searches without that notice."""

import shutil

import pytest

from ui.tabs.search import CLASSIFY_EXAMPLES_ZH, QUERY_EXAMPLES, QUERY_EXAMPLES_ZH

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def page(app_url):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        page.goto(app_url + "?lang=zh-CN")
        page.wait_for_selector("text=多模态游乐场", timeout=60_000)
        page.get_by_role("tab", name="搜索").click()
        yield page
        browser.close()


def test_the_chinese_page_shows_the_chinese_examples(page):
    for chinese, english in zip(QUERY_EXAMPLES_ZH, QUERY_EXAMPLES, strict=True):
        expect(page.get_by_text(chinese, exact=True).first).to_be_visible()
        assert not page.get_by_text(english, exact=True).first.is_visible()  # in the page, hidden
    expect(page.get_by_text(CLASSIFY_EXAMPLES_ZH[0][1], exact=True).first).to_be_visible()
    expect(page.get_by_placeholder("一只猫")).to_be_visible()


def test_a_chinese_search_tells_which_model_reads_it(page):
    # The example fills the query; the English-only tiny CLIP searches and says it can't read it.
    page.get_by_text(QUERY_EXAMPLES_ZH[0], exact=True).first.click()
    query = page.get_by_placeholder("一只猫")
    expect(query).to_have_value(QUERY_EXAMPLES_ZH[0])
    query.press("Enter")
    toast = page.locator(".toast-body").filter(has_text="读不懂汉字")
    expect(toast.first).to_be_visible(timeout=60_000)
    assert "微型 SigLIP 2" in toast.first.inner_text()  # the model is named in Chinese too
    expect(page.locator(".model-status").filter(has_text="微型 CLIP").first).to_be_visible(timeout=60_000)


def test_a_model_that_reads_chinese_searches_without_the_notice(page):
    for close in page.locator(".toast-close").all():
        close.click()
    picker = page.locator("input[aria-label='模型']:visible").first  # the Search tab's
    picker.click()
    page.get_by_role("option", name="微型 SigLIP 2（随机）").click()
    page.get_by_placeholder("一只猫").fill("穿制服的女人")
    page.get_by_placeholder("一只猫").press("Enter")
    expect(page.locator(".model-status").filter(has_text="微型 SigLIP 2").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("· coins.jpg").first).to_be_visible(timeout=60_000)  # the hits, with their scores
    page.wait_for_timeout(1500)
    assert page.locator(".toast-body").filter(has_text="微型 SigLIP 2（随机）只学过").count() == 0
