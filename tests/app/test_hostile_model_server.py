"""A model server is untrusted input (issue 36, finding 5): whatever a hostile or broken
server sends, a call ends by its deadline, holds a bounded reply, goes to the server's
origin only, takes the image limits of uploads, and a malformed reply is a fault with a
message. The server here is the fault proxy with every reply scripted (no model needed)."""

from __future__ import annotations

import base64
import io
import json
import time
import tracemalloc

import pytest
from PIL import Image

from pipelines.remote import RemoteChatPipeline, RemoteTextToImagePipeline
from pipelines.vlm import TOP_ALTERNATIVES
from runtime import backends, settings
from runtime.backends import Backend, BackendError
from tests.app.fault_proxy import FaultProxy
from tests.conftest import IMAGES

TURNS = [{"role": "user", "text": "What is it?", "images": [str(IMAGES / "cat.jpg")]}]
SSE = "text/event-stream"


def chunk(content: str | None = "A", choices: bool = True, logprobs: list | None = None) -> bytes:
    """One server-sent event of a streamed chat completion."""
    choice = {"index": 0, "delta": {"content": content}, "logprobs": {"content": logprobs} if logprobs else None}
    event = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [choice] if choices else [],
    }
    return f"data: {json.dumps(event)}\n\n".encode()


def completion(content: str, logprobs: list | None = None) -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                    "logprobs": {"content": logprobs} if logprobs else None,
                }
            ],
        }
    ).encode()


def logprob(token: str, alternatives: int = 1) -> dict:
    return {
        "token": token,
        "logprob": -0.1,
        "bytes": None,
        "top_logprobs": [{"token": f"t{i}", "logprob": -1.0 - i, "bytes": None} for i in range(alternatives)],
    }


@pytest.fixture(scope="module")
def server():
    proxy = FaultProxy("http://127.0.0.1:9")  # every reply is scripted: nothing is forwarded
    yield proxy
    proxy.close()


@pytest.fixture
def chat(server, monkeypatch):
    """A chat pipeline on the scripted server, with small budgets so that tests are quick."""
    monkeypatch.setattr(settings, "BACKEND_TIMEOUT", 1.0)
    monkeypatch.setattr(settings, "BACKEND_RETRIES", 0)
    monkeypatch.setattr(settings, "BACKEND_DEADLINE", 1.5)
    monkeypatch.setattr(settings, "BACKEND_MAX_REPLY_BYTES", 2**20)
    backends.client.cache_clear()
    server.script.clear()
    server.seen.clear()
    server.bodies.clear()
    pipe = RemoteChatPipeline(Backend("chat", server.url + "/v1", "m"))
    assert backends.client(pipe.backend).chat.completions  # the client made (its imports done) before any clock starts
    yield pipe
    backends.client.cache_clear()


def streamed(pipe, **options) -> dict:
    return list(pipe.stream(TURNS, max_new_tokens=8, **options))[-1]


def test_a_trickle_under_the_read_timeout_is_cut_at_the_calls_deadline(chat, server):
    """A piece every 0.5 s never trips the 1 s read timeout; the call's 1.5 s deadline ends it."""
    body = completion("A cat")
    server.script[:] = [
        ("trickle", ("application/json", [body[i : i + 10] for i in range(0, len(body), 10)], 0.5)),
        ("trickle", (SSE, [chunk("A")] * 20, 0.5)),
    ]
    for call in (lambda: chat(TURNS, max_new_tokens=8), lambda: streamed(chat)):
        start = time.perf_counter()
        with pytest.raises(BackendError, match=r"took longer than the 1\.5 s one request may take"):
            call()
        assert time.perf_counter() - start < 4  # the deadline (and the checks before it), not 20 pieces x 0.5 s


def test_a_flood_is_cut_early_without_quadratic_work(chat, server):
    """A 50 MB stream: the answer is refused after the text that 8 tokens can spell, and a
    50 MB reply that isn't streamed is cut at BACKEND_MAX_REPLY_BYTES (1 MB here)."""
    server.script[:] = [("flood", (SSE, chunk("x" * 1000), 50_000))]
    start = time.perf_counter()
    with pytest.raises(BackendError, match="longer answer than the 8 tokens asked for"):
        streamed(chat)
    server.script[:] = [("flood", ("application/json", b" " * 100_000, 500))]  # 50 MB of JSON whitespace
    tracemalloc.start()
    with pytest.raises(BackendError, match=r"sent more than the 1 MB one answer may hold"):
        chat(TURNS, max_new_tokens=8)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - start < 10 and peak < 20 * 2**20, peak


def test_logprobs_are_kept_one_per_token_asked_with_few_alternatives(chat, server, monkeypatch):
    """100,000 logprob tokens (8 MB) for 8 tokens asked, each with 2,000 alternatives in the
    stream: the details keep 8 tokens with at most TOP_ALTERNATIVES alternatives each."""
    monkeypatch.setattr(settings, "BACKEND_MAX_REPLY_BYTES", 16 * 2**20)
    backends.client.cache_clear()
    many = [logprob("A") for _ in range(100_000)]
    wide = [logprob("A", alternatives=2000)]
    server.script[:] = [
        ("reply", ("application/json", completion("A cat", many))),
        ("trickle", (SSE, [chunk("A", logprobs=wide)] * 3 + [b"data: [DONE]\n\n"], 0)),
    ]
    for result in (chat(TURNS, max_new_tokens=8), streamed(chat)):
        assert len(result["tokens"]) <= 8
        assert all(len(token["alternatives"]) <= TOP_ALTERNATIVES for token in result["tokens"])
    assert {json.loads(body)["top_logprobs"] for body in server.bodies} == {TOP_ALTERNATIVES}  # asked for few


def test_a_redirect_to_another_origin_is_not_followed(chat, server):
    """A 307 to another server would re-post the conversation with its image: refused before
    sending; a redirect within the server is followed."""
    elsewhere = FaultProxy("http://127.0.0.1:9")
    try:
        server.script[:] = [("redirect", (307, elsewhere.url + "/v1/chat/completions"))]
        with pytest.raises(BackendError, match=rf"redirected the request to another address \({elsewhere.url}\)"):
            chat(TURNS, max_new_tokens=8)
        assert elsewhere.bodies == []  # nothing reached it
    finally:
        elsewhere.close()
    server.script[:] = [
        ("redirect", (307, server.url + "/v1/chat/completions/")),
        ("reply", ("application/json", completion("A cat"))),
    ]
    assert chat(TURNS, max_new_tokens=8)["answer"] == "A cat"
    assert server.bodies[0] == server.bodies[1]  # the same request, re-posted to the same server


def test_a_stream_without_choices_is_a_fault_not_an_empty_answer(chat, server):
    server.script[:] = [("trickle", (SSE, [chunk(choices=False)] * 3 + [b"data: [DONE]\n\n"], 0))]
    with pytest.raises(BackendError, match=r"isn't an OpenAI-compatible reply \(no answer in its stream\)"):
        streamed(chat)


def test_a_server_image_takes_the_limits_of_an_upload(server, monkeypatch):
    """An 8,000 x 8,000 PNG (64 M pixels, over the 40 M limit) for a 64 x 64 request: refused
    from its header, before its pixels are decoded; one of the size asked for is taken."""
    from pipelines.safety import SafetyFilter

    monkeypatch.setattr(settings, "BACKEND_RETRIES", 0)
    backends.client.cache_clear()
    server.script.clear()

    def reply(image: Image.Image) -> tuple:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]
        return ("reply", ("application/json", json.dumps({"created": 0, "data": data}).encode()))

    pipe = RemoteTextToImagePipeline(Backend("text_to_image", server.url + "/v1", "m"), safety=SafetyFilter(on=False))
    server.script[:] = [reply(Image.new("L", (8000, 8000))), reply(Image.new("RGB", (64, 64), (200, 10, 10)))]
    with pytest.raises(BackendError, match="sent an image of 8000x8000 where 64x64 was asked for"):
        pipe("a red square", width=64, height=64, num_inference_steps=1)
    image = pipe("a red square", width=64, height=64, num_inference_steps=1)[0]
    assert image.size == (64, 64) and image.getpixel((0, 0)) == (200, 10, 10)
    backends.client.cache_clear()


@pytest.mark.parametrize(
    "code, params",
    [
        ("server_deadline", {"seconds": "300"}),
        ("server_too_large", {"limit": "16 MB"}),
        ("server_overlong", {"tokens": 8}),
        ("server_redirect", {"target": "http://elsewhere:8000"}),
        ("server_image", {"got": "8000x8000", "asked": "64x64"}),
    ],
)
def test_each_fault_is_said_in_both_languages(code, params):
    from ui.messages import translate

    error = BackendError(code, Backend("text_to_image", "http://vlm:8000/v1", "m"), **params)
    english, chinese = translate(error, "en"), translate(error, "zh-CN")
    assert english == str(error) and "m at vlm:8000" in english and "{" not in english
    assert "文生图服务器（m at vlm:8000）" in chinese and "{" not in chinese and chinese != english
