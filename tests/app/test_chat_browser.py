"""The Chat tab in a real browser (Debian's Chromium through Playwright), in each language:
an example fills the message and its images, Send writes the answer into the conversation,
the details count the image tokens, a follow-up is answered with the whole conversation
read, and New conversation clears it."""

import os
import shutil
from pathlib import Path

import pytest

from ui.tabs.chat import EXAMPLES, EXAMPLES_ZH

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")

PAGES = {
    "en": dict(
        title="Multimodal Playground",
        tab="Chat",
        send="Send",
        new="New conversation",
        why="Why this answer?",
        example=EXAMPLES[1][0],
        follow="Which one is larger?",
        used="Messages read",
        where="Show where it looked",
        share="of the attention",
    ),
    "zh-CN": dict(
        title="多模态游乐场",
        tab="对话",
        send="发送",
        new="新对话",
        why="为什么这样回答？",
        example=EXAMPLES_ZH[1][0],
        follow="哪一张更大？",
        used="读取的消息",
        where="显示它看了哪里",
        share="注意力占",
    ),
}


@pytest.mark.parametrize("lang", PAGES)
def test_a_conversation_about_two_images(browser, app_url, lang):
    words = PAGES[lang]
    page = browser.new_context(locale=lang).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url + f"?lang={lang}")
    page.wait_for_selector(f"text={words['title']}", timeout=60_000)
    page.get_by_role("tab", name=words["tab"], exact=True).click()

    page.get_by_text(words["example"], exact=True).filter(visible=True).first.click()  # the message and its two images
    chat = page.locator(".tabitem:visible")
    expect(chat.get_by_text("horse.jpg").filter(visible=True).first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)  # the example's values reach the server's copy of the inputs, as a person's pause
    chat.get_by_role("button", name=words["send"], exact=True).click()

    bot = chat.locator("[data-testid='bot']")
    expect(bot.first).to_be_visible(timeout=90_000)
    user = chat.locator("[data-testid='user']")  # a message's images and its text, each its own bubble
    expect(user.filter(has_text=words["example"])).to_have_count(1)
    expect(user.locator("img")).to_have_count(2)
    chat.get_by_role("button", name=words["why"]).first.click()
    expect(chat.get_by_text(words["used"]).first).to_be_visible(timeout=60_000)

    # The message box was cleared once answered; a follow-up reads the whole conversation.
    message = chat.locator("textarea:visible").first
    expect(message).to_have_value("", timeout=30_000)
    message.fill(words["follow"])
    chat.get_by_role("button", name=words["send"], exact=True).click()
    expect(bot).to_have_count(2, timeout=90_000)
    expect(user.filter(has_text=words["follow"])).to_have_count(1)
    # Where the answer looked: one map over each image of the conversation, with its share.
    chat.get_by_role("button", name=words["where"], exact=True).click()
    expect(chat.get_by_text(words["share"])).to_have_count(2, timeout=90_000)
    if folder := os.getenv("PLAYGROUND_SCREENSHOTS"):
        page.screenshot(path=str(Path(folder) / f"chat-{lang}.png"), full_page=True)

    chat.get_by_role("button", name=words["new"], exact=True).click()
    expect(bot).to_have_count(0, timeout=30_000)
    assert not errors, errors
    page.close()
