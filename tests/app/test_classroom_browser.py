"""Classroom mode in a real browser (Debian's Chromium through Playwright): what the page does
after a request, on its own, is neither another request nor text the student typed.

The page follows every caption with Show the code, an event of its own with the caption among
its inputs: with a limit of three requests a minute, a student got one caption and a refusal,
and the prompt log held the model's captions as if the student had typed them."""

import contextlib
import json
import re
import shutil

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.conftest import IMAGES, launch_app
from tools.loadtest import loopback_client
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


@contextlib.contextmanager
def caption_tab(url: str, name: str):
    """The Caption tab, for student ``name`` logged in, with an image and Show the code open:
    (page, the Show the code record's link)."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 1000})
        context.request.post(f"{url}login", form={"username": name, "password": PASSWORD})  # the page's cookie
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
        try:
            yield page, record
        finally:
            browser.close()


def mine(log, name: str) -> list[dict]:
    return [e for e in map(json.loads, log.read_text(encoding="utf-8").splitlines()) if e["student"] == name]


def test_one_caption_on_the_page_counts_once_and_logs_only_what_was_typed(classroom):
    """One click of Caption fires the caption, its status line and Show the code (with the
    caption among its inputs): one request against the student's limit, one line in the
    prompt log, holding the prompt the student typed and not the model's caption."""
    url, log = classroom
    with caption_tab(url, "mia") as (page, record):
        page.get_by_label(EN["caption.prompt"]).fill("a photo of")
        page.get_by_role("button", name=EN["caption.button"]).click()
        # The caption, then Show the code (which shows nothing without a caption), have run.
        expect(record).to_have_attribute("href", re.compile("."))
    # In the log, one line: what the student typed, not the model's caption.
    assert [set(e) for e in mine(log, "mia")] == [{"time", "student", "endpoint", "prompt"}]
    assert [(e["endpoint"], e["prompt"]) for e in mine(log, "mia")] == [("caption", "a photo of")]
    # The limit is three a minute: the page's caption took one, so two more are allowed, not one.
    client = loopback_client(url, auth=("mia", PASSWORD))
    ask = dict(prompt="an API caption", max_new_tokens=3, num_beams=1, api_name="/caption")
    for _ in range(2):
        assert client.predict(handle_file(str(IMAGES / "cat.jpg")), **ask)
    with pytest.raises(AppError, match="3 requests in the last minute"):
        client.predict(handle_file(str(IMAGES / "cat.jpg")), **ask)
    assert [("refused" in e, e["prompt"]) for e in mine(log, "mia")] == [
        (False, "a photo of"),
        (False, "an API caption"),
        (False, "an API caption"),
        (True, "an API caption"),
    ]


def test_show_the_code_is_not_another_request_in_the_page(classroom):
    url, log = classroom
    with caption_tab(url, "lena") as (page, record):
        shown = None
        for prompt in PROMPTS:
            page.get_by_label(EN["caption.prompt"]).fill(prompt)
            page.get_by_role("button", name=EN["caption.button"]).click()
            # The caption, then Show the code: its record is a new file each time.
            expect(record).to_have_attribute(
                "href", re.compile(".") if shown is None else re.compile(f"^(?!{re.escape(shown)}$)")
            )
            shown = record.get_attribute("href")
        expect(page.get_by_text(re.compile("requests in the last minute"))).to_have_count(0)
    entries = mine(log, "lena")
    assert [(e["endpoint"], e["prompt"]) for e in entries] == [("caption", p) for p in PROMPTS]
    assert all(set(e) == {"time", "student", "endpoint", "prompt"} for e in entries)  # no caption as typed text
