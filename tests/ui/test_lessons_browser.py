"""Lessons in a real browser (Debian's Chromium through Playwright), one in each language:
every Try it of the English "One space for pictures and words" switches to the Search
tab, fills it in and shows the result; every Try it of the Chinese contrastive lesson
trains in the Contrastive lab and shows its Chinese summary and matrix."""

import re
import shutil

import pytest

from ui.i18n import EN, ZH

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


def open_lesson(page, table: dict, title: str) -> None:
    page.get_by_role("tab", name=table["lessons.tab"], exact=True).click()
    page.get_by_label(re.compile(re.escape(title))).check()


def selected_tab(page) -> str:
    return page.locator("[role=tab][aria-selected=true]").first.inner_text().strip()


def block(page, label: str):
    """The component whose label is ``label``."""
    return page.locator(".block").filter(has=page.locator("[data-testid=block-label]", has_text=label)).first


def test_an_english_lesson_runs_the_search_tab(browser, app_url):
    page = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(90_000)
    expect.set_options(timeout=90_000)
    page.goto(app_url)
    page.wait_for_selector("h1:has-text('Multimodal Playground')")

    open_lesson(page, EN, "One space for pictures and words")
    panel = page.locator("#lesson-joint-embedding-1").locator("xpath=ancestor::div[contains(@class,'column')][2]")
    expect(panel).to_contain_text("cosine similarity")  # the step's English text; the Chinese one is hidden
    expect(page.get_by_text("余弦相似度", exact=False).first).to_be_hidden()
    expect(page.locator(".katex").first).to_be_visible()  # the formula is typeset

    # 1. The similarity matrix: four example photos and four sentences, in the CLIP lab (opened)
    page.locator("#lesson-joint-embedding-1").click()
    expect(block(page, EN["explain.matrix"]).locator("img")).to_be_visible()
    assert selected_tab(page) == EN["search.tab"]
    expect(page.get_by_label(EN["explain.matrix_texts"])).to_have_value(re.compile("a photo of a cup of coffee."))

    # 2. Search by text: the query is filled in and hits appear
    open_lesson(page, EN, "One space for pictures and words")
    page.locator("#lesson-joint-embedding-2").click()
    expect(page.get_by_label(EN["search.query"])).to_have_value("a rocket launch")
    expect(block(page, EN["search.results"]).locator("img").first).to_be_visible()

    # 3. Zero-shot classification of the cat, with four labels
    open_lesson(page, EN, "One space for pictures and words")
    page.locator("#lesson-joint-embedding-3").click()
    expect(block(page, EN["search.confidences"])).to_contain_text("horse")

    # 4. The PCA map with the query placed on it
    open_lesson(page, EN, "One space for pictures and words")
    page.locator("#lesson-joint-embedding-4").click()
    expect(page.get_by_label(EN["search.query"])).to_have_value("an animal")
    expect(block(page, EN["explain.map"]).locator("img")).to_be_visible()
    page.context.close()


def test_a_chinese_lesson_trains_in_the_contrastive_lab(browser, app_url):
    page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000}).new_page()
    page.set_default_timeout(90_000)
    expect.set_options(timeout=90_000)
    page.goto(app_url)
    page.wait_for_selector("text=多模态游乐场")

    title = "对比学习：CLIP 是怎样训练的"
    open_lesson(page, ZH, title)
    expect(page.get_by_text("每张图片给自己描述的分数", exact=False)).to_be_visible()  # the Chinese text
    expect(page.get_by_text("must score its own caption", exact=False)).to_be_hidden()
    summary = page.locator(".prose").filter(has_text="开始时为")
    previous = ""
    for number, batch in ((1, "8"), (2, "2"), (3, None), (4, None)):
        open_lesson(page, ZH, title)
        page.locator(f"#lesson-contrastive-learning-{number}").click()
        expect(summary.first).to_be_visible()
        assert selected_tab(page) == ZH["contrastive.tab"]
        page.wait_for_function(
            "(before) => { const s = [...document.querySelectorAll('.prose')].find("
            "e => e.innerText.includes('开始时为')); return s && s.innerText !== before; }",
            arg=previous,
        )
        text = summary.first.inner_text()
        assert "零样本准确率" in text and "τ" in text, text
        if batch is not None:
            expect(page.get_by_label(ZH["contrastive.batch_size"]).first).to_have_value(batch)
        if number == 3:  # the temperature is learned from 0.5: it has moved
            assert re.search(r"τ = 0\.(?!500)\d+", text), text
        expect(page.locator(".fusion-confusion table tr")).to_have_count(13)  # the 12 x 12 matrix and its header
        previous = text
    page.context.close()
