"""What one Create request may cost (issue 36, finding 2): a budget of megapixel-steps known
before it starts, and a denoising loop that ends at Stop or at its time limit."""

import threading

import pytest

from pipelines import text_to_image
from runtime import settings


@pytest.fixture(scope="module", params=["tiny-sd", "tiny-z-image"])
def pipe(models, request):
    return models.get("text_to_image", request.param).pipeline


@pytest.fixture
def denoiser_calls(pipe, monkeypatch):
    """How many times the denoiser (the UNet, or Z-Image's transformer) ran."""
    model = pipe.pipe.unet if pipe.has_unet else pipe.pipe.transformer
    calls, forward = [], model.forward
    monkeypatch.setattr(model, "forward", lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs))
    return calls


def test_the_issues_request_is_refused_up_front_with_the_numbers(pipe, denoiser_calls):
    # 1,024x1,024 at 50 steps: within each control's range, and half an hour of a CPU.
    with pytest.raises(
        ValueError,
        match=r"52\.4 megapixel-steps \(1024×1024 pixels × 50 steps × 1 image\(s\)\); "
        r"one request may cost 16\.0 on this server's CPU",
    ) as refused:
        pipe("a red fox", seed=1, num_inference_steps=50, width=1024, height=1024)
    assert refused.value.code == "create_budget" and refused.value.params["limit"] == 16.0
    assert denoiser_calls == []


def test_guidance_doubles_the_cost_and_the_setting_sets_the_budget(pipe, monkeypatch):
    assert pipe.cost(10, 7.5, 512, 512, 2) == 2 * pipe.cost(10, 0.0, 512, 512, 2)
    monkeypatch.setattr(settings, "CREATE_MAX_MEGAPIXEL_STEPS", 0.01)
    with pytest.raises(ValueError, match=r"× 2 for guidance\); one request may cost 0\.0"):
        pipe.resolve(2, 7.5, 64, 64, 1)
    pipe.resolve(2, 0.0, 64, 64, 1)  # 0.008: within it


def test_a_request_within_the_budget_runs(pipe):
    assert pipe.cost(25, 7.5, 512, 512) <= text_to_image.BUDGET["cpu"]  # SD 1.5's own defaults fit on a CPU
    assert len(pipe("a red fox", seed=1, num_inference_steps=2, width=64, height=64)) == 1


def test_the_time_limit_stops_the_loop_between_steps(pipe, denoiser_calls, monkeypatch):
    # A clock that moves 1 s each time it is read: past a 2.5 s limit by the third step.
    now = iter(range(1_000_000))
    monkeypatch.setattr(text_to_image, "monotonic", lambda: float(next(now)))
    with pytest.raises(
        text_to_image.Stopped, match=r"Stopped at step \d+ of 20: one image request may take 2\.5 s"
    ) as stopped:
        pipe("a red fox", seed=1, num_inference_steps=20, width=64, height=64, time_limit=2.5)
    assert stopped.value.code == "create_deadline"
    assert stopped.value.params["step"] < 20 and len(denoiser_calls) == stopped.value.params["step"]


def test_stop_ends_the_loop_after_the_current_step(pipe, denoiser_calls):
    stop = threading.Event()

    def on_step(step, total):
        if step == 2:
            stop.set()

    with pytest.raises(text_to_image.Stopped, match="Stopped at step 2 of 10"):
        pipe("a red fox", seed=1, num_inference_steps=10, width=64, height=64, callback=on_step, stop=stop)
    assert len(denoiser_calls) == 2


def test_the_explain_view_is_within_the_budget_and_stops_too(models):
    from explain import diffusion

    pipe = models.get("text_to_image", "tiny-sd").pipeline
    with pytest.raises(ValueError, match="megapixel-steps"):
        diffusion.explain_text_to_image(pipe, "a red fox", 1, num_inference_steps=50, width=1024, height=1024)
    stop = threading.Event()
    stop.set()  # a page closed before the first step ended
    with pytest.raises(text_to_image.Stopped, match="Stopped at step 1 of 5"):
        diffusion.explain_text_to_image(pipe, "a red fox", 1, num_inference_steps=5, width=64, height=64, stop=stop)


def test_the_refusal_is_said_in_both_languages(pipe):
    from ui.messages import translate

    with pytest.raises(ValueError) as refused:
        pipe.resolve(50, 7.5, 1024, 1024, 1)
    english, chinese = translate(refused.value, "en"), translate(refused.value, "zh-CN")
    assert "104.9 megapixel-steps (1024×1024 pixels × 50 steps × 1 image(s) × 2 for guidance)" in english
    assert "104.9 百万像素·步（1024×1024 像素 × 50 步 × 1 张图片 × 2（引导））" in chinese and "CPU" in chinese
    assert "megapixel" not in chinese


def test_the_time_left_is_timed_from_the_requests_own_steps(monkeypatch):
    # The first step ends 10 s in (the prompt encoded, the device waited for), then 2 s a step.
    from types import SimpleNamespace

    from ui.tabs import create

    readings = iter([0.0, 10.0, 12.0, 14.0, 16.0])
    monkeypatch.setattr(create, "time", SimpleNamespace(monotonic=lambda: next(readings)))

    def pipeline(prompt, callback=None, stop=None, **kwargs):
        for step in range(1, 5):
            callback(step, 4)
        return ["an image"]

    said = []
    steps = create.denoise(pipeline, "a fox", {}, lambda value, desc: said.append(desc))
    while True:
        try:
            next(steps)
        except StopIteration as done:
            assert done.value == ["an image"]
            break
    assert said == [
        "Denoising step 1/4, about 30 s left",
        "Denoising step 2/4, about 4 s left",
        "Denoising step 3/4, about 2 s left",
        "Denoising step 4/4",
    ]
