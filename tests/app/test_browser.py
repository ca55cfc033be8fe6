"""The app in a real browser: Playwright drives Debian's Chromium (`.ci/run` installs it;
Playwright's own browser download is not possible offline). It uploads an example image
in the Caption tab and reads the caption, and writes a prompt in the Create tab and
sees the image and the warning that the prompt was cut to the model's length, saving a
screenshot of each (in PLAYGROUND_SCREENSHOTS if set)."""

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import IMAGES

CHROMIUM = os.getenv("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def page(app_url):
    if not Path(CHROMIUM).exists():
        if os.getenv("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: .ci/run installs it with apt-get install -y chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # the first use of each tab loads its model
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
        page.set_default_timeout(90_000)
        page.goto(app_url)
        yield page
        browser.close()


def screenshot(page, name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        assert image.width >= 1000 and image.height >= 600
    if folder := os.getenv("PLAYGROUND_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / name)
    return path


def test_caption_tab_in_a_browser(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Caption").click()
    panel = page.get_by_role("tabpanel")
    panel.locator("input[type=file]").first.set_input_files(str(IMAGES / "cat.jpg"))
    expect(panel.locator("img").first).to_be_visible()  # the upload shows
    page.get_by_role("button", name="Write a caption").click()
    caption = panel.get_by_role("textbox").last
    expect(caption).not_to_have_value("")
    assert len(caption.input_value().split()) >= 1
    screenshot(page, "caption.png", tmp_path)


def test_a_sampled_caption_shows_its_seed_and_the_seed_makes_it_again(page):
    import re

    from playwright.sync_api import expect

    page.get_by_role("tab", name="Caption").click()
    panel = page.get_by_role("tabpanel")
    panel.locator("input[type=file]").first.set_input_files(str(IMAGES / "cat.jpg"))
    panel.get_by_text("Advanced settings").click()
    panel.get_by_label("Sample instead of searching").check()
    status = panel.locator("div.prose.model-status")
    page.get_by_role("button", name="Write a caption").click()
    expect(status).to_contain_text("Sampled with seed")
    seed = re.search(r"Sampled with seed (\d+)", status.inner_text()).group(1)
    caption = panel.locator("textarea").last  # the output (the code panel's editor is no textarea)
    first = caption.input_value()
    assert first
    panel.get_by_text("Show the code").click()  # its program replays the sample with that seed
    expect(panel.locator(".cm-content").first).to_contain_text(f"torch.manual_seed({seed})")

    panel.get_by_label("Seed").fill(seed)  # the seed given: the same caption, and no seed line
    caption.fill("")
    page.get_by_role("button", name="Write a caption").click()
    expect(caption).to_have_value(first)
    expect(status).not_to_contain_text("Sampled with seed")
    panel.get_by_label("Seed").fill("-1")
    panel.get_by_label("Sample instead of searching").uncheck()


def test_create_tab_in_a_browser(page, tmp_path):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Create").click()
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("safety filter is on")).to_be_visible()
    # Longer than the 77 tokens CLIP reads: the image is made, and a warning says so.
    panel.get_by_role("textbox").first.fill("a watercolor fox in the snow " * 6)
    panel.get_by_role("button", name="Create", exact=True).click()
    image = panel.locator("img[src*='gradio_api/file=']").first
    expect(image).to_be_visible()
    expect(page.locator(".toast-body").filter(has_text="only its beginning was used").first).to_be_visible()
    # The picture really loads (visible comes first: under load, decoding can take a moment).
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)
    screenshot(page, "create.png", tmp_path)


def test_a_blocked_prompt_shows_the_reason(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Create").click()
    panel = page.get_by_role("tabpanel")
    panel.get_by_role("textbox").first.fill("a naked man")
    panel.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_text("which the safety filter of this app doesn't allow")).to_be_visible()
