"""Classroom mode in a real browser (Debian's Chromium through Playwright): what the page does
after a request, on its own, is neither another request nor text the student typed.

The page follows every caption with Show the code, an event of its own with the caption among
its inputs: with a limit of three requests a minute, a student got one caption and a refusal,
and the prompt log held the model's captions as if the student had typed them."""

import json
import re
import shutil

import pytest

from tests.conftest import IMAGES, launch_app
from ui.i18n import EN

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
PASSWORD = "letmein"
CLASSROOM = f"""
tabs: [caption]
limits: {{requests_per_minute: 3}}
password: {PASSWORD}
prompt_log: {{enabled: true, file: prompts.jsonl}}
"""
PROMPTS = ["a photo of", "a picture of", "an image of"]  # three captions, as many as the limit allows


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classroom-browser")
    (folder / "lesson.yaml").write_text(CLASSROOM, encoding="utf-8")
    with launch_app(folder, "--classroom", str(folder / "lesson.yaml")) as url:
        yield url, folder / "classroom" / "prompts.jsonl"  # relative to the data dir


def test_show_the_code_is_not_another_request_in_the_page(classroom):
    url, log = classroom
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000})
        context.request.post(f"{url}login", form={"username": "lena", "password": PASSWORD})  # the page's cookie
        page = context.new_page()
        page.set_default_timeout(90_000)
        expect.set_options(timeout=90_000)
        page.goto(url)
        page.get_by_role("tab", name=EN["caption.tab"], exact=True).click()
        panel = page.get_by_role("tabpanel")
        panel.locator("input[type=file]").first.set_input_files(str(IMAGES / "cat.jpg"))
        panel.get_by_text(EN["common.advanced"]).click()
        panel.get_by_role("button", name=EN["explain.code_title"]).click()  # open Show the code
        record = (
            panel.locator(".block")
            .filter(has=page.locator("[data-testid=block-label]", has_text=EN["explain.record"]))
            .locator("a")
            .first
        )
        shown = None
        for prompt in PROMPTS:
            panel.get_by_label(EN["caption.prompt"]).fill(prompt)
            page.get_by_role("button", name=EN["caption.button"]).click()
            # The caption, then Show the code: its record is a new file each time.
            expect(record).to_have_attribute(
                "href", re.compile(".") if shown is None else re.compile(f"^(?!{re.escape(shown)}$)")
            )
            shown = record.get_attribute("href")
        expect(page.get_by_text(re.compile("requests in the last minute"))).to_have_count(0)
        browser.close()
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(e["endpoint"], e["prompt"]) for e in entries] == [("caption", p) for p in PROMPTS]
    assert all(set(e) == {"time", "student", "endpoint", "prompt"} for e in entries)  # no caption as typed text
