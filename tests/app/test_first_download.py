"""A user's first use of a tab, through the real app: `python app.py` with HF_ENDPOINT on a
local Hub stand-in (tests/standins.py), so a tab's model is downloaded over HTTP by
huggingface_hub while the request shows its progress: in the page, in Chromium (the
Caption tab), and as the API's progress events (the Ask tab); and a model the server
doesn't have is refused with one message in the client's language (the Chat tab)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from runtime.tiny import tiny_path
from tests.conftest import IMAGES, free_port, launch_app
from tests.standins import COMMIT, HubStandIn
from tools.loadtest import loopback_client

REPO = "Salesforce/blip-image-captioning-base"
VQA = "Salesforce/blip-vqa-base"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def online_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("first-download")
    with HubStandIn({REPO: tiny_path("tiny/blip-caption"), VQA: tiny_path("tiny/blip-vqa")}) as hub:
        hub.pace = 0.2  # a slow line: each download takes a few seconds, long enough to watch
        env = {
            "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(folder / "hf"),
            "MODEL_CAPTION": REPO,
            "MODEL_VQA": VQA,
            "MODEL_CHAT": "nobody/no-such-model",
            "FAST_PATH": "off",  # float32: the quickest load of a tiny model
            "MODELSCOPE_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        }
        (folder / "data").mkdir()
        with launch_app(folder / "data", env=env) as url:
            yield url, hub


def test_first_use_in_the_page_shows_the_download(online_app):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import expect, sync_playwright

    url, hub = online_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
        page.set_default_timeout(90_000)
        page.goto(url)
        page.get_by_role("tab", name="Caption").click()
        panel = page.get_by_role("tabpanel")
        panel.locator("input[type=file]").first.set_input_files(str(IMAGES / "cat.jpg"))
        expect(panel.locator("img").first).to_be_visible()
        page.get_by_role("button", name="Write a caption").click()
        expect(page.get_by_text("Downloading the model, once").first).to_be_visible(timeout=30_000)
        expect(panel.locator("textarea").last).not_to_have_value("", timeout=90_000)
        browser.close()
    assert hub.downloads(f"{REPO}/resolve/{COMMIT}/model.safetensors")


def test_first_use_downloads_the_model_with_progress_events(online_app):
    url, hub = online_app
    job = loopback_client(url).submit(image=handle_file(str(IMAGES / "cat.jpg")), question="what?", api_name="/vqa")
    seen = []
    while not job.done():
        for unit in job.status().progress_data or []:
            seen.append((unit.desc, unit.index, unit.length, unit.unit))
        time.sleep(0.05)
    assert isinstance(job.result(), str)
    downloading = [s for s in seen if s[0] and "Downloading the model" in s[0]]
    size = sum(p.stat().st_size for p in tiny_path("tiny/blip-vqa").iterdir())
    assert downloading and all(s[2] == size and s[3] == "bytes" for s in downloading), seen
    assert hub.downloads(f"{VQA}/resolve/{COMMIT}/model.safetensors")
    # The second use loads nothing: no progress, no request to the server.
    before = len(hub.requests)
    again = loopback_client(url).predict(image=handle_file(str(IMAGES / "cat.jpg")), question="what?", api_name="/vqa")
    assert isinstance(again, str) and len(hub.requests) == before


@pytest.mark.parametrize(("language", "words"), [("en", "was not found on the Hugging Face Hub"), ("zh-CN", "找不到")])
def test_a_missing_model_is_one_message_in_the_clients_language(online_app, language, words):
    url, _ = online_app
    client = loopback_client(url, headers={"Accept-Language": language})
    with pytest.raises(AppError, match=words) as caught:
        client.predict(message="hello", api_name="/chat")
    assert "nobody/no-such-model" in str(caught.value) and "Traceback" not in str(caught.value)
