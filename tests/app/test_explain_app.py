"""The explain endpoints of the running app (tiny profile), through gradio_client."""

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.conftest import IMAGES

ENDPOINTS = {
    "/explain_caption": ["image"],
    "/explain_vqa": ["image", "question"],
    "/explain_text_to_image": ["prompt"],
    "/similarity_matrix": ["images"],
    "/embedding_map": [],
}
CAT_SIZE = (451, 300)


@pytest.fixture
def cat():
    return handle_file(str(IMAGES / "cat.jpg"))


def has_aspect_ratio(path, size) -> bool:
    width, height = Image.open(path).size
    return abs(height - width * size[1] / size[0]) <= 1


def test_explain_endpoints_and_their_required_parameters(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name, required in ENDPOINTS.items():
        params = api[name]["parameters"]
        assert [p["parameter_name"] for p in params][: len(required)] == required
        assert [p["parameter_name"] for p in params if not p["parameter_has_default"]] == required
    # /text_to_image keeps its parameters and gains two optional ones at the end
    names = [p["parameter_name"] for p in api["/text_to_image"]["parameters"]]
    assert names[-2:] == ["decoder", "timeline"] and names[0] == "prompt"


def test_explain_caption_gives_steps_and_heatmaps(client, cat):
    record, maps = client.predict(image=cat, max_new_tokens=6, seed=8, api_name="/explain_caption")
    steps = record["steps"]
    assert [s["name"] for s in record["strategies"]] == ["greedy", "beam", "sampling"]
    assert record["strategies"][2]["seed"] == 8
    for step in steps:
        assert set(step) >= {"token", "probability", "alternatives"}
        assert step["alternatives"][0]["token"] == step["token"]  # greedy: the most probable
        assert all(set(a) == {"token", "probability"} for a in step["alternatives"])
    assert len(maps) == len(steps)
    assert all(has_aspect_ratio(item["image"], CAT_SIZE) for item in maps)
    assert record["text"] == client.predict(image=cat, max_new_tokens=6, num_beams=1, api_name="/caption")


@pytest.mark.parametrize("model", ["tiny-blip-vqa", "tiny-vilt"])
def test_explain_vqa_gives_answers_steps_and_heatmaps(client, cat, model):
    record, maps = client.predict(image=cat, question="What animal is this?", model=model, api_name="/explain_vqa")
    probabilities = [a["probability"] for a in record["answers"]]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 <= p <= 1 for p in probabilities)
    assert record["steps"] and all({"token", "probability", "alternatives"} <= set(s) for s in record["steps"])
    assert len(maps) == len(record["steps"]) + len(record["question_tokens"])
    assert all(has_aspect_ratio(item["image"], CAT_SIZE) for item in maps)
    answer = client.predict(image=cat, question="What animal is this?", model=model, api_name="/vqa")
    assert answer in {s["text"] for s in record["strategies"]}


def test_text_to_image_default_shape_is_unchanged_and_the_timeline_is_optional(client):
    plain = client.predict(prompt="a red fox", seed=7, num_inference_steps=3, api_name="/text_to_image")
    assert [item["caption"] for item in plain] == ["seed 7"]
    timeline = client.predict(
        prompt="a red fox", seed=7, num_inference_steps=3, timeline=True, api_name="/text_to_image"
    )
    assert [item["caption"] for item in timeline] == ["seed 7", "step 1/3", "step 2/3", "step 3/3"]
    assert Image.open(timeline[0]["image"]).tobytes() == Image.open(plain[0]["image"]).tobytes()
    fast = client.predict(prompt="a red fox", seed=7, num_inference_steps=3, decoder="taesd", api_name="/text_to_image")
    assert Image.open(fast[0]["image"]).size == Image.open(plain[0]["image"]).size


def test_explain_text_to_image_gives_per_word_maps_and_the_timeline(client):
    record, words, frames = client.predict(
        prompt="a red fox", seed=7, num_inference_steps=3, width=96, height=64, api_name="/explain_text_to_image"
    )
    assert [item["caption"] for item in words] == ["a", "red", "fox"] == [w["word"] for w in record["words"]]
    assert [item["caption"] for item in frames] == ["step 1/3", "step 2/3", "step 3/3"]
    assert all(has_aspect_ratio(item["image"], (96, 64)) for item in words)
    assert record["seed"] == 7 and len(record["sigmas"]) == 4


def test_the_timeline_streams_while_the_image_forms(client):
    job = client.submit(prompt="a red fox", seed=3, num_inference_steps=4, api_name="/explain_text_to_image")
    record, _words, frames = job.result(timeout=120)
    updates = job.outputs()
    assert len(updates) >= 2  # frames arrived before the end, then the whole explanation
    assert [item["caption"] for item in frames] == [f"step {k}/4" for k in range(1, 5)] == record["frames"]


def test_similarity_matrix_agrees_with_classify(client, cat):
    coffee = handle_file(str(IMAGES / "coffee.jpg"))
    texts = "a photo of a cat.\na photo of a dog.\na photo of a bird."
    record, heatmap = client.predict(images=[cat, coffee], texts=texts, api_name="/similarity_matrix")
    assert record["texts"] == texts.splitlines() and len(record["probabilities"]) == 2
    for row in record["probabilities"]:
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
    classified = client.predict(image=cat, labels="cat, dog, bird", api_name="/classify")
    confidences = {c["label"]: c["confidence"] for c in classified["confidences"]}
    assert record["probabilities"][0] == pytest.approx([confidences[k] for k in ("cat", "dog", "bird")], abs=1e-5)
    assert Image.open(heatmap).size[0] > 300


def test_embedding_map_places_a_text_or_an_image(client, cat):
    picture, record = client.predict(query="a cat", api_name="/embedding_map")
    assert record["query"]["label"] == "a cat" and record["points"] and Image.open(picture).size[0] > 300
    _, record = client.predict(image=cat, top_k=1, api_name="/embedding_map")
    assert record["nearest"] == ["cat.jpg"]


BAD_REQUESTS = [
    (dict(image=None, api_name="/explain_caption"), "No image"),
    (dict(image="cat", question=" ", api_name="/explain_vqa"), "question is empty"),
    (dict(prompt="", api_name="/explain_text_to_image"), "prompt is empty"),
    (dict(images=["cat"], texts="\n", api_name="/similarity_matrix"), "No texts"),
    (dict(images=[], texts="a cat", api_name="/similarity_matrix"), "No images"),
    (dict(query="", api_name="/embedding_map"), "search text or give a query image"),
]


@pytest.mark.parametrize(("request_", "message"), BAD_REQUESTS, ids=[r["api_name"] + "-" + m for r, m in BAD_REQUESTS])
def test_bad_input_gets_a_message(client, cat, request_, message):
    request_ = {k: ([cat] if v == ["cat"] else cat if v == "cat" else v) for k, v in request_.items()}
    with pytest.raises(AppError, match=message):
        client.predict(**request_)
