"""The app as users and API clients meet it: `python app.py --profile tiny` on a free
port, every endpoint called through gradio_client, bad input answered with a message
while the app keeps serving."""

import subprocess
import sys

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.conftest import IMAGES, ROOT

ENDPOINTS = {
    "/caption": ["image"],
    "/vqa": ["image", "question"],
    "/text_to_image": ["prompt"],
    "/search_by_text": ["query"],
    "/search_by_image": ["image"],
    "/classify": ["image", "labels"],
}


@pytest.fixture
def cat():
    return handle_file(str(IMAGES / "cat.jpg"))


def test_public_api_names_and_required_parameters(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(ENDPOINTS) <= set(api)
    assert not [name for name in api if "lambda" in name]  # no internal event leaks into the API
    for name, required in ENDPOINTS.items():
        params = api[name]["parameters"]
        assert [p["parameter_name"] for p in params][: len(required)] == required
        assert [p["parameter_name"] for p in params if not p["parameter_has_default"]] == required


def test_caption(client, cat):
    caption = client.predict(image=cat, api_name="/caption")
    assert isinstance(caption, str)
    assert caption == client.predict(image=cat, api_name="/caption")


def test_caption_with_every_option(client, cat):
    caption = client.predict(
        image=cat,
        model="tiny-blip",
        prompt="a photo of",
        max_new_tokens=8,
        num_beams=1,
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        seed=3,
        api_name="/caption",
    )
    assert caption.startswith("a photo of")


@pytest.mark.parametrize("model", ["tiny-blip-vqa", "tiny-vilt"])
def test_vqa(client, cat, model):
    assert isinstance(client.predict(image=cat, question="What animal is this?", model=model, api_name="/vqa"), str)


def test_text_to_image_gives_the_size_and_count_asked_for(client):
    from PIL import Image

    result = client.predict(prompt="a red fox", seed=7, width=128, height=64, num_images=2, api_name="/text_to_image")
    assert [item["caption"] for item in result] == ["seed 7", "seed 8"]
    assert all(Image.open(item["image"]).size == (128, 64) for item in result)


def test_search_by_text_and_image(client, cat):
    hits = client.predict(query="a cat", top_k=5, api_name="/search_by_text")
    assert len(hits) == 5 and all(item["caption"] for item in hits)
    hits = client.predict(image=cat, api_name="/search_by_image")
    assert hits[0]["caption"].endswith("cat.jpg")  # the image itself is in the gallery
    assert float(hits[0]["caption"].split(" · ")[0]) == pytest.approx(1.0, abs=1e-3)


def test_classify_returns_confidences_that_sum_to_one(client, cat):
    result = client.predict(image=cat, labels="cat, dog, bird", api_name="/classify")
    confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert set(confidences) == {"cat", "dog", "bird"}
    assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-4)
    assert result["label"] == max(confidences, key=confidences.get)


def test_added_images_become_searchable(client, tmp_path):
    from PIL import Image

    path = tmp_path / "green-square.png"
    Image.new("RGB", (80, 80), (10, 200, 30)).save(path)
    client.predict(files=[handle_file(str(path))], api_name="/add_to_gallery")
    hits = client.predict(image=handle_file(str(path)), top_k=1, api_name="/search_by_image")
    assert float(hits[0]["caption"].split(" · ")[0]) == pytest.approx(1.0, abs=1e-3)


BAD_REQUESTS = [
    (dict(image=None, api_name="/caption"), "No image"),
    (dict(image="cat", question="   ", api_name="/vqa"), "question is empty"),
    (dict(prompt="", api_name="/text_to_image"), "prompt is empty"),
    (dict(prompt="a cat", width=100, api_name="/text_to_image"), "divisible by 8"),
    (dict(query="", api_name="/search_by_text"), "empty"),
    (dict(image="cat", labels="cat", api_name="/classify"), "at least two"),
    (dict(image="cat", model="blip-huge", api_name="/caption"), "blip-huge"),
    (dict(image="text", api_name="/caption"), "not an image"),
]


@pytest.mark.parametrize(("request_", "message"), BAD_REQUESTS, ids=[r["api_name"] + "-" + m for r, m in BAD_REQUESTS])
def test_bad_input_gets_a_message_and_the_app_keeps_serving(client, cat, tmp_path, request_, message):
    request_ = dict(request_)
    if request_.get("image") == "cat":
        request_["image"] = cat
    elif request_.get("image") == "text":
        (tmp_path / "notes.png").write_text("not an image")
        request_["image"] = handle_file(str(tmp_path / "notes.png"))
    with pytest.raises(AppError, match=message):
        client.predict(**request_)
    assert isinstance(client.predict(image=cat, api_name="/caption"), str)


def test_importing_the_app_loads_no_model():
    # Not even PyTorch: the page answers within seconds, each model loads on first use.
    code = (
        "import app, sys; from pipelines.cache import MODELS; assert not MODELS.loaded(); "
        "assert not {'torch', 'transformers', 'diffusers'} & set(sys.modules), sorted(sys.modules); print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
