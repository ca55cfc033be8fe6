"""Create through the API, with the app in this process (the ``live`` fixture), so the test
can hold its denoiser between steps (issue 36, finding 2): a request over the budget is
refused up front, the Stop button cancels the event, and a cancelled job (Stop, or a
client that left) ends its denoising loop, freeing the model for the next visitor."""

import threading
import uuid
from types import SimpleNamespace

import httpx
import pytest
from gradio_client.exceptions import AppError

from pipelines.text_to_image import TextToImagePipeline
from runtime.batching import DEVICE_LOCK


def test_a_request_over_the_budget_is_refused_with_the_numbers(live):
    with pytest.raises(AppError, match=r"52\.4 megapixel-steps .*CREATE_MAX_MEGAPIXEL_STEPS"):
        live.predict(prompt="a red fox", num_inference_steps=50, width=1024, height=1024, api_name="/text_to_image")


def test_the_stop_button_cancels_image_creation(live):
    dependencies = live.config["dependencies"]
    create = next(n for n, d in enumerate(dependencies) if d.get("api_name") == "text_to_image")
    create_id = dependencies[create]["id"]
    assert any(create_id in (d.get("cancels") or []) for d in dependencies)


@pytest.fixture
def held(models, monkeypatch):
    """The tiny SD UNet, each step waiting for the test to let it run (``gate``), counting the
    steps run (``calls``); ``stops``: the stop flag of each pipeline call."""
    unet = models.get("text_to_image", "tiny-sd").pipeline.pipe.unet
    gate, calls, stops, forward, call = threading.Semaphore(0), [], [], unet.forward, TextToImagePipeline.__call__

    def step(*args, **kwargs):
        assert gate.acquire(timeout=120)
        calls.append(1)
        return forward(*args, **kwargs)

    def recorded(self, *args, **kwargs):
        stops.append(kwargs.get("stop"))
        return call(self, *args, **kwargs)

    monkeypatch.setattr(unet, "forward", step)
    monkeypatch.setattr(TextToImagePipeline, "__call__", recorded)
    return SimpleNamespace(gate=gate, calls=calls, stops=stops)


def stopped_after_the_current_step(held) -> None:
    """Once the handler has been ended, the step under way finishes and no other runs."""
    wait_for(lambda: held.stops[0].is_set())
    held.gate.release(20)
    assert DEVICE_LOCK.acquire(timeout=120)  # the model is free again
    DEVICE_LOCK.release()
    assert len(held.calls) == 3


def test_a_cancelled_job_stops_denoising_after_its_current_step(live, held):
    job = live.submit(
        prompt="a red fox",
        seed=1,
        num_inference_steps=20,
        width=64,
        height=64,
        model="tiny-sd",
        api_name="/text_to_image",
    )
    held.gate.release(2)
    wait_for(lambda: len(held.calls) == 2 and held.stops)
    job.cancel()  # what the Stop button does: Gradio cancels the event and closes the handler
    stopped_after_the_current_step(held)


def test_a_client_that_leaves_stops_its_denoising(live, held):
    # As a page that closes: join the queue, read the result stream a while, hang up.
    http = httpx.Client(base_url=live.src, timeout=120)
    index = next(d["id"] for d in http.get("config").json()["dependencies"] if d.get("api_name") == "text_to_image")
    session = uuid.uuid4().hex
    data = ["a red fox", "", 1, 20, 0.0, 64, 64, 1, "tiny-sd", "vae", False]
    http.post(
        "gradio_api/queue/join",
        json={"data": data, "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None},
    ).raise_for_status()
    held.gate.release(2)
    with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if "process_generating" in line and len(held.calls) == 2:
                break
    http.close()
    stopped_after_the_current_step(held)


def wait_for(condition, limit: float = 120.0) -> None:
    event = threading.Event()
    for _ in range(int(limit * 20)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("the condition was never met")
