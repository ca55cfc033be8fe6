"""The Chat tab through the API, as a client meets it: `python app.py --profile tiny`,
/chat called with gradio_client, a conversation carried on by sending its history back."""

import json

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.conftest import IMAGES


def resend(history: list[dict]) -> list[dict]:
    """The history /chat returned, ready to send back: gradio_client downloads a result's
    files and gives their local paths, so each is uploaded again with handle_file."""
    sent = []
    for message in history:
        content = []
        for item in message["content"]:
            if item.get("type") == "file":
                item = {**item, "file": handle_file(item["file"])}
            content.append(item)
        sent.append({**message, "content": content})
    return sent


def test_api_lists_chat_with_its_parameters(client):
    params = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/chat"]["parameters"]
    names = [p["parameter_name"] for p in params]
    assert names == [
        "message",
        "images",
        "history",
        "system_prompt",
        "max_new_tokens",
        "temperature",
        "top_p",
        "seed",
        "model",
    ]
    assert [p["parameter_name"] for p in params if not p["parameter_has_default"]] == ["message"]


def test_a_two_turn_conversation_about_two_images(client):
    answer, history, details = client.predict(
        message="What is different between these two pictures?",
        images=[handle_file(str(IMAGES / "cat.jpg")), handle_file(str(IMAGES / "horse.jpg"))],
        max_new_tokens=6,
        api_name="/chat",
    )
    assert isinstance(answer, str) and answer
    assert [m["role"] for m in history] == ["user", "assistant"]
    files = [item for item in history[0]["content"] if item.get("type") == "file"]
    assert len(files) == 2
    assert details["task"] == "chat" and details["images"] == 2 and details["image_tokens"] > 0
    assert details["output"] == answer
    assert [i["name"] for i in details["conversation"][0]["images"]] == ["cat.jpg", "horse.jpg"]

    answer2, history2, details2 = client.predict(
        message="And which one is larger?", history=resend(history), max_new_tokens=4, api_name="/chat"
    )
    assert [m["role"] for m in history2] == ["user", "assistant", "user", "assistant"]
    assert details2["messages_used"] == 3 and details2["images"] == 2
    assert details2["prompt_tokens"] > details["prompt_tokens"]


def test_chinese_message_with_the_model_that_reads_chinese(client):
    answer, _history, details = client.predict(
        message="这是什么动物？",
        images=[handle_file(str(IMAGES / "cat.jpg"))],
        model="tiny-gemma3",
        max_new_tokens=4,
        api_name="/chat",
    )
    assert details["model"] == "tiny-gemma3" and details["family"] == "gemma3"
    assert isinstance(answer, str)


def test_sampled_answers_replay_with_their_seed(client):
    kwargs = dict(
        message="Describe it.",
        images=[handle_file(str(IMAGES / "cat.jpg"))],
        max_new_tokens=6,
        temperature=1.2,
        top_p=0.95,
        api_name="/chat",
    )
    answer, _, details = client.predict(**kwargs, seed=-1)
    seed = details["parameters"]["seed"]
    assert isinstance(seed, int) and seed >= 0
    assert client.predict(**kwargs, seed=seed)[0] == answer


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(message=""), "message is empty"),
        (dict(message="hi", max_new_tokens=0), "max_new_tokens"),
        (dict(message="hi", temperature=3), "temperature"),
        (dict(message="hi", images=[handle_file(str(IMAGES / "cat.jpg"))] * 5), "5 images; the limit is 4"),
        (dict(message="hi", model="tiny-blip"), "must be one of"),
        (dict(message="hi", history=[{"role": "system", "content": "x"}]), "`history`: must be a list of messages"),
    ],
)
def test_bad_requests_get_a_message(client, kwargs, message):
    with pytest.raises(AppError, match=message):
        client.predict(**kwargs, api_name="/chat")


def test_a_file_in_the_history_must_be_an_upload(app_url):
    """A raw request (gradio_client would upload the client's own file) naming a file of the server."""
    from tests.app.test_bad_input import call_raw

    server_file = {"path": str(IMAGES / "cat.jpg"), "meta": {"_type": "gradio.FileData"}}
    history = [
        {"role": "user", "content": [{"type": "file", "file": server_file}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
    ]
    event, data = call_raw(app_url, "chat", json.dumps({"message": "what is it?", "history": history}))
    assert event == "error" and "not uploaded" in json.dumps(data)


def test_where_it_looked_maps_each_image(client):
    answer, history, details = client.predict(
        message="Compare them.",
        images=[handle_file(str(IMAGES / "cat.jpg")), handle_file(str(IMAGES / "horse.jpg"))],
        max_new_tokens=5,
        api_name="/chat",
    )
    record, gallery = client.predict(history=resend(history), details=details, api_name="/explain_chat")
    assert record["tokens"] == [t["token"] for t in details["tokens"]]
    assert [image["image"] for image in record["images"]] == [1, 2]
    for image in record["images"]:
        assert len(image["share"]) == len(details["tokens"]) and all(0 < s <= 1 for s in image["share"])
    assert len(gallery) == 2  # the whole answer's map over each image


def test_where_it_looked_needs_an_answer(client):
    with pytest.raises(AppError, match="no answer to explain"):
        client.predict(history=[], details=None, api_name="/explain_chat")


@pytest.mark.parametrize("model", ["tiny-smolvlm", "tiny-gemma3"])
def test_caption_and_ask_take_the_chat_models(client, model):
    # One tab compares BLIP with a VLM on the same image, under the keys Chat uses.
    cat = handle_file(str(IMAGES / "cat.jpg"))
    caption = client.predict(
        image=cat, model=model, prompt="a photo of", max_new_tokens=5, num_beams=1, api_name="/caption"
    )
    assert caption.startswith("a photo of")
    blip = client.predict(image=cat, max_new_tokens=5, api_name="/caption")
    assert isinstance(blip, str) and blip
    answer = client.predict(image=cat, question="What animal is this?", model=model, api_name="/vqa")
    assert isinstance(answer, str) and answer
    record, maps = client.predict(
        image=cat, question="What animal is this?", model=model, candidates="cat, dog", api_name="/explain_vqa"
    )
    assert record["family"] in ("idefics3", "gemma3") and record["answer"] == answer
    assert {a["answer"] for a in record["answers"]} == {"cat", "dog"} and len(maps) == len(record["steps"])
