"""Tasks on a model server (BACKEND_<TASK>): a real `transformers serve` on loopback with
the tiny SmolVLM and the tiny Whisper, an app started as a user would with BACKEND_CHAT
and BACKEND_SPEECH_RECOGNITION pointing at it (through a proxy that produces faults on
purpose), and the same answers as the in-process app (the session's `client`)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.app.fault_proxy import FaultProxy
from tests.app.test_chat_app import resend
from tests.conftest import IMAGES, free_port

AUDIO = IMAGES.parent / "audio"


@pytest.fixture(scope="module")
def tiny_paths():
    from runtime.tiny import tiny_path

    return {"vlm": str(tiny_path("tiny/smolvlm")), "whisper": str(tiny_path("tiny/whisper"))}


@pytest.fixture(scope="module")
def model_server(tiny_paths, tmp_path_factory):
    """`transformers serve` on a free loopback port (its models loaded on first request)."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "wb")  # noqa: SIM115
    serve = str(Path(sys.executable).parent / "transformers")  # the CLI of the transformers installed
    process = subprocess.Popen(
        [serve, "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("transformers serve did not start") from None
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(10)
    log.close()


@pytest.fixture(scope="module")
def proxy(model_server):
    faults = FaultProxy(model_server)
    yield faults
    faults.close()


@pytest.fixture(scope="module")
def replica_env(proxy, tiny_paths):
    """Chat (and the chat models of Caption and Ask) and speech recognition on the server;
    room in the queue for the load test's clients, which all come from this machine."""
    return {
        "BACKEND_CHAT": proxy.url + "/v1",
        "BACKEND_CHAT_MODEL": tiny_paths["vlm"],
        "BACKEND_SPEECH_RECOGNITION": proxy.url + "/v1",
        "BACKEND_SPEECH_RECOGNITION_MODEL": tiny_paths["whisper"],
        "BACKEND_TIMEOUT": "4",
        "BACKEND_RETRIES": "2",
        "QUEUE_PER_CLIENT": "64",
        "QUEUE_MAX_SIZE": "64",
    }


@pytest.fixture(scope="module")
def replica(replica_env):
    from tools.loadtest import start_app

    with start_app("tiny", env=replica_env) as (url, process):
        yield url, process


@pytest.fixture(scope="module")
def remote(replica):
    from tools.loadtest import loopback_client

    return loopback_client(replica[0])


@pytest.fixture(autouse=True)
def clean_script(request):
    if "proxy" in request.fixturenames:
        proxy = request.getfixturevalue("proxy")
        proxy.script.clear()
        proxy.seen.clear()


CHAT = dict(message="What is in this picture?", max_new_tokens=8, api_name="/chat")


def test_chat_on_the_server_gives_the_in_process_answer(remote, client, proxy):
    here = client.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)
    there = remote.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)
    assert there[0] == here[0] and there[0]  # greedy: the same tokens from the same weights and pixels
    details = there[2]
    assert details["device"] == "remote" and details["server"] == proxy.url + "/v1"
    assert details["prompt_tokens"] == here[2]["prompt_tokens"]  # the server counted the same prompt


def test_caption_and_answer_with_the_served_chat_model(remote, client):
    image = str(IMAGES / "cat.jpg")
    for endpoint, kwargs in (
        ("/caption", dict(num_beams=1, max_new_tokens=8)),
        ("/vqa", dict(question="What animal?")),
    ):
        here = client.predict(handle_file(image), model="tiny-smolvlm", api_name=endpoint, **kwargs)
        there = remote.predict(handle_file(image), model="tiny-smolvlm", api_name=endpoint, **kwargs)
        assert there == here, endpoint


def test_transcript_on_the_server_is_what_its_model_reads(remote, tiny_paths):
    """The server decodes each window with Whisper's plain generate (no timestamps); the
    app sends a clip window by window, cut in its quiet parts, so nothing is dropped."""
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from pipelines.remote import RemoteSpeechRecognitionPipeline
    from runtime.audio import load_audio
    from runtime.backends import Backend

    clip = str(AUDIO / "multimodal-models.ogg")  # 36 s: two windows
    text = remote.predict(audio=handle_file(clip), api_name="/transcribe")
    model = WhisperForConditionalGeneration.from_pretrained(tiny_paths["whisper"]).eval()
    processor = WhisperProcessor.from_pretrained(tiny_paths["whisper"])
    waveform = load_audio(clip, 16_000)
    windows = RemoteSpeechRecognitionPipeline(Backend("speech_recognition", "http://x/v1", "m")).windows(waveform)
    assert len(windows) == 2 and windows[-1][1] == len(waveform) and windows[0][1] == windows[1][0]
    expected = []
    for start, end in windows:
        features = processor(waveform[start:end], sampling_rate=16_000, return_tensors="pt").input_features
        with torch.inference_mode():
            expected.append(processor.batch_decode(model.generate(features), skip_special_tokens=True)[0].strip())
    assert text == " ".join(t for t in expected if t)


def test_views_of_the_models_insides_say_they_need_it_here(remote):
    answer, history, details = remote.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)
    with pytest.raises(AppError, match="needs the model in this process"):
        remote.predict(history=resend(history), details=details, api_name="/explain_chat")
    with pytest.raises(AppError, match="needs the model in this process"):
        remote.predict(handle_file(str(IMAGES / "cat.jpg")), model="tiny-smolvlm", api_name="/explain_caption")


def test_a_failing_server_is_retried_and_the_next_request_works(remote, proxy):
    proxy.script[:] = [("status", 503), ("status", 503)]  # two failures, then the real server
    assert remote.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)[0]
    assert proxy.seen[:3] == ["status", "status", "pass"]
    proxy.seen.clear()
    proxy.script[:] = [("status", 503)] * 3
    with pytest.raises(AppError, match=r"failed \(503\) \(tried 3 times\)"):
        remote.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)
    assert remote.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)[0]  # back: it works


@pytest.mark.parametrize(
    "script, message",
    [
        ([("status", 429)] * 3, r"busy \(429 Too Many Requests\)"),
        (["garbage"] * 3, "isn't an OpenAI-compatible"),
        ([("cut", 300)], "closed the connection in the middle of its answer"),
    ],
)
def test_faults_give_a_clear_message(remote, proxy, script, message):
    proxy.script[:] = script
    with pytest.raises(AppError, match=message):
        remote.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)


def test_a_slow_or_stopped_server_answers_in_bounded_time(proxy, tiny_paths, monkeypatch):
    from pipelines.remote import RemoteChatPipeline
    from runtime import backends, settings

    monkeypatch.setattr(settings, "BACKEND_TIMEOUT", 1.0)
    monkeypatch.setattr(settings, "BACKEND_RETRIES", 0)
    backends.client.cache_clear()
    turns = [{"role": "user", "text": "Hi", "images": [str(IMAGES / "cat.jpg")]}]
    slow = RemoteChatPipeline(backends.Backend("chat", proxy.url + "/v1", tiny_paths["vlm"]))
    assert backends.client(slow.backend).chat.completions  # the client made (its imports done) before the clock starts
    proxy.script[:] = [("delay", 3)]
    start = time.perf_counter()
    with pytest.raises(backends.BackendError, match="did not answer within 1 s"):
        slow(turns, max_new_tokens=2)
    assert time.perf_counter() - start < 2.5
    stopped = RemoteChatPipeline(backends.Backend("chat", f"http://127.0.0.1:{free_port()}/v1", "m"))
    with pytest.raises(backends.BackendError, match="can't be reached"):
        stopped(turns, max_new_tokens=2)
    backends.client.cache_clear()


def test_the_status_line_and_models_panel_say_where_a_task_runs(models, monkeypatch):
    from runtime import settings
    from ui.components import model_status
    from ui.tabs.models import servers_summary

    monkeypatch.setattr(settings, "BACKENDS", {"chat": "http://vlm:8000/v1"})
    monkeypatch.setattr(settings, "BACKEND_MODELS", {"chat": "HuggingFaceTB/SmolVLM-256M-Instruct"})
    for task in ("chat", "caption"):  # Caption's chat models are the chat server's
        line = model_status(task, "tiny-smolvlm")
        assert "runs on the model server at vlm:8000 (HuggingFaceTB/SmolVLM-256M-Instruct)" in line
    blip = model_status("caption", "tiny-blip")  # BLIP stays here, loaded or not
    assert "Tiny BLIP" in blip and "model server" not in blip
    summary = servers_summary()
    assert "chat" in summary and "vlm:8000" in summary and "speech recognition" in summary


def test_fifty_clients_over_two_replicas_and_one_server(replica, replica_env, proxy):
    """The load test's clients spread over two replicas sharing one model server: none fails,
    and the replicas' memory levels off (`python -m tools.loadtest --replicas 2 --compare`
    reports requests/s against one replica; docs/deploying.md has a measurement)."""
    from tools.loadtest import run, start_app

    with start_app("tiny", env=replica_env) as (url_b, process_b):
        result = run(
            [replica[0], url_b],
            clients=50,
            seconds=5,
            max_requests=300,
            endpoints=("chat", "caption"),
            pid=[replica[1].pid, process_b.pid],
        )
    print(result.markdown())
    assert result.errors == 0, result.error_messages
    assert result.successes >= 50 and set(result.latency_ms) == {"chat", "caption", "all"}  # every client, both
    memory = result.rss_mb
    assert memory["second_half_growth"] < max(96, 0.1 * memory["warm"]), memory


def test_token_probabilities_come_from_the_servers_logprobs(proxy):
    """vLLM and SGLang send logprobs (transformers serve does not): streamed or not, each
    token's probability and its alternatives reach the details, as in the process."""
    import json
    import math

    from pipelines.remote import RemoteChatPipeline
    from runtime.backends import Backend

    def logprob(token, value, alternatives):
        return {
            "token": token,
            "logprob": value,
            "bytes": None,
            "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in alternatives],
        }

    content = [logprob("A", -0.1, [("A", -0.1), ("The", -2.5)]), logprob(" cat", -0.7, [(" cat", -0.7)])]
    reply = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": {"content": content},
                "message": {"role": "assistant", "content": "A cat"},
            }
        ],
        "usage": {"prompt_tokens": 70, "completion_tokens": 2, "total_tokens": 72},
    }
    chunks = [
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "logprobs": {"content": [item]}}],
        }
        for text, item in zip(("A", " cat"), content, strict=True)
    ]
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    pipe = RemoteChatPipeline(Backend("chat", proxy.url + "/v1", "m"))
    turns = [{"role": "user", "text": "What is it?", "images": [str(IMAGES / "cat.jpg")]}]
    proxy.script[:] = [
        ("reply", ("application/json", json.dumps(reply).encode())),
        ("reply", ("text/event-stream", stream.encode())),
    ]
    for result in (pipe(turns), list(pipe.stream(turns))[-1]):
        assert result["answer"] == "A cat"
        assert [t["token"] for t in result["tokens"]] == ["A", " cat"]
        assert result["tokens"][0]["probability"] == round(math.exp(-0.1), 4)
        assert [a["token"] for a in result["tokens"][0]["alternatives"]] == ["A", "The"]


def test_show_the_code_replays_a_served_answer(remote):
    from explain import snippets

    _answer, _history, details = remote.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)
    program = snippets.snippet(details)
    compile(program, "replay.py", "exec")  # a whole program
    assert "OpenAI(base_url=SERVER" in program and details["server"] in program
    assert "max_tokens=8" in program and "temperature=0.0" in program


def test_a_server_fault_and_the_view_that_needs_the_model_are_said_in_chinese(replica, proxy):
    """As every message: a client that reads Chinese (the Chinese page, or Accept-Language)."""
    from tools.loadtest import loopback_client

    chinese = loopback_client(replica[0], headers={"Accept-Language": "zh-CN"})
    proxy.script[:] = [("status", 429)] * 3
    with pytest.raises(AppError, match=r"视觉语言服务器（.*）正忙（429 请求过多）（已尝试 3 次）"):
        chinese.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)
    with pytest.raises(AppError, match="这个视图（“看了哪里”）需要在本进程中运行的模型"):
        _, history, details = chinese.predict(images=[handle_file(str(IMAGES / "cat.jpg"))], **CHAT)
        chinese.predict(history=resend(history), details=details, api_name="/explain_chat")
