"""Create through the API, with the app in this process (the ``live`` fixture), so the test
can hold its denoiser between steps (issue 36, finding 2): a request over the budget is
refused up front, the Stop button cancels the event, and a cancelled job (Stop, or a
client that left) ends its denoising loop, freeing the model for the next visitor."""

import threading

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


def test_a_cancelled_job_stops_denoising_after_its_current_step(live, models, monkeypatch):
    unet = models.get("text_to_image", "tiny-sd").pipeline.pipe.unet
    gate, calls, forward = threading.Semaphore(0), [], unet.forward

    def held(*args, **kwargs):  # each step waits for the test to let it run
        assert gate.acquire(timeout=120)
        calls.append(1)
        return forward(*args, **kwargs)

    stops, call = [], TextToImagePipeline.__call__

    def recorded(self, *args, **kwargs):
        stops.append(kwargs.get("stop"))
        return call(self, *args, **kwargs)

    monkeypatch.setattr(unet, "forward", held)
    monkeypatch.setattr(TextToImagePipeline, "__call__", recorded)
    job = live.submit(prompt="a red fox", seed=1, num_inference_steps=20, width=64, height=64, model="tiny-sd",
                      api_name="/text_to_image")  # fmt: skip
    gate.release(2)
    wait_for(lambda: len(calls) == 2 and stops)
    job.cancel()  # what the Stop button and a closed page do: Gradio closes the handler
    wait_for(lambda: stops[0].is_set())
    gate.release(20)
    assert DEVICE_LOCK.acquire(timeout=120)  # the model is free again
    DEVICE_LOCK.release()
    assert len(calls) == 3  # the step under way when it was cancelled, and none after


def wait_for(condition, limit: float = 120.0) -> None:
    event = threading.Event()
    for _ in range(int(limit * 20)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("the condition was never met")
