"""A user's first use of a tab, through the real app: `python app.py` with HF_ENDPOINT on a
local Hub stand-in (tests/standins.py), so the Caption tab's model is downloaded over HTTP
by huggingface_hub while the request shows its progress (the page's progress bar and the
API's progress events are the same messages), and a model the server doesn't have is
refused with one message in the client's language."""

from __future__ import annotations

import time

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from runtime.tiny import tiny_path
from tests.conftest import IMAGES, free_port, launch_app
from tests.standins import HubStandIn
from tools.loadtest import loopback_client

REPO = "Salesforce/blip-image-captioning-base"


@pytest.fixture(scope="module")
def online_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("first-download")
    with HubStandIn({REPO: tiny_path("tiny/blip-caption")}) as hub:
        hub.pace = 0.1  # a slow line: the download takes a second or two, long enough to watch
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(folder / "hf"), "MODEL_CAPTION": REPO,
               "MODEL_VQA": "nobody/no-such-model", "FAST_PATH": "off",  # float32: the quickest load of a tiny model
               "MODELSCOPE_ENDPOINT": f"http://127.0.0.1:{free_port()}"}  # fmt: skip
        (folder / "data").mkdir()
        with launch_app(folder / "data", env=env) as url:
            yield url, hub


def test_first_use_downloads_the_model_with_progress_events(online_app):
    url, hub = online_app
    job = loopback_client(url).submit(image=handle_file(str(IMAGES / "cat.jpg")), api_name="/caption")
    seen = []
    while not job.done():
        for unit in job.status().progress_data or []:
            seen.append((unit.desc, unit.index, unit.length, unit.unit))
        time.sleep(0.05)
    assert isinstance(job.result(), str)
    downloading = [s for s in seen if s[0] and "Downloading the model" in s[0]]
    size = sum(p.stat().st_size for p in tiny_path("tiny/blip-caption").iterdir())
    assert downloading and all(s[2] == size and s[3] == "bytes" for s in downloading), seen
    assert hub.downloads("model.safetensors")
    # The second use loads nothing: no progress, no request to the server.
    before = len(hub.requests)
    assert isinstance(
        loopback_client(url).predict(image=handle_file(str(IMAGES / "cat.jpg")), api_name="/caption"), str
    )
    assert len(hub.requests) == before


@pytest.mark.parametrize(("language", "words"), [("en", "was not found on the Hugging Face Hub"), ("zh-CN", "找不到")])
def test_a_missing_model_is_one_message_in_the_clients_language(online_app, language, words):
    url, _ = online_app
    client = loopback_client(url, headers={"Accept-Language": language})
    with pytest.raises(AppError, match=words) as caught:
        client.predict(image=handle_file(str(IMAGES / "cat.jpg")), question="what is it?", api_name="/vqa")
    assert "nobody/no-such-model" in str(caught.value) and "Traceback" not in str(caught.value)
