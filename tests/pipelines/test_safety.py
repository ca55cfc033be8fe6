"""The text-to-image safety filter: prompts on the blocklist are refused, images the
safety checker flags are replaced by a notice (through the API as well as the UI), and
turning it off is possible for research, with a warning in the log and the UI."""

import logging
import subprocess
import sys

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from pipelines import safety
from runtime import registry, settings
from runtime.hub import CheckpointUnavailable
from runtime.inputs import collect_notices
from tests.conftest import ROOT


@pytest.fixture
def flag_everything(models):
    """The tiny safety checker with its thresholds lowered below any similarity: every
    image is flagged (the checker's own concept thresholds decide, as in the real one)."""
    checker = models.get("safety_checker").pipeline
    weights = checker.model.concept_embeds_weights
    saved = weights.data.clone()
    weights.data.fill_(-2.0)
    yield checker
    weights.data.copy_(saved)


# --- The blocklist --------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    ["a NUDE statue", "nudes on a beach", "n.u.d.e", "s3xy robot", "gory battle", "how to self-harm", "一个血腥的场面"],
)
def test_blocked_prompts_are_found(prompt):
    assert safety.blocklist().find(prompt) is not None


@pytest.mark.parametrize(
    "prompt",
    [
        "a nudibranch in the sea",
        "Sussex countryside",
        "a gorilla",
        "a red fox in the snow",
        "blood orange juice",
        "一只可爱的猫",
    ],
)
def test_harmless_prompts_pass(prompt):
    assert safety.blocklist().find(prompt) is None


def test_the_blocklist_file_is_reread_when_it_changes_and_its_absence_fails_closed(tmp_path, monkeypatch):
    path = tmp_path / "words.txt"
    path.write_text("# comment\nrobot  # inline comment\n\n")
    monkeypatch.setattr(settings, "SAFETY_BLOCKLIST", path)
    assert safety.blocklist().find("two robots") == "robots"
    path.write_text("dragon\n")
    import os

    os.utime(path, (1, 1))  # a new mtime, as an edit gives
    assert safety.blocklist().find("two robots") is None and safety.blocklist().find("a Dragon") == "dragon"
    path.unlink()
    with pytest.raises(RuntimeError, match="blocklist .* can't be read"):
        safety.check_prompt("a dragon")


def test_check_prompt_names_the_term_and_is_off_when_the_filter_is(models, monkeypatch):
    component = models.get("text_to_image").pipeline.safety
    with pytest.raises(ValueError, match="'naked'.*safety filter"):
        component.check_prompt("a naked mole rat")
    monkeypatch.setattr(models, "safety_filter", "off")
    component.check_prompt("a naked mole rat")


# --- The pipeline ----------------------------------------------------------------------


def test_flagged_images_are_replaced_by_a_notice(models, flag_everything):
    pipe = models.get("text_to_image").pipeline
    with collect_notices() as notices:
        images = pipe("a red fox", seed=1, width=96, height=64, num_images=2)  # its filter runs the checker
    assert len(images) == 2
    for image in images:
        assert image.size == (96, 64) and image.info["safety"] == safety.HIDDEN
        assert np.array_equal(np.asarray(image), np.asarray(safety.notice_image(96, 64)))
    assert notices == ["2 of 2 image(s) were hidden by the safety filter. Try another prompt or seed."]


def test_unflagged_images_are_returned_untouched(models, monkeypatch):
    pipe = models.get("text_to_image").pipeline
    assert pipe.safety.on and pipe.safety.checker() is models.get("safety_checker").pipeline
    checked = pipe("a red fox", seed=4)[0]
    monkeypatch.setattr(pipe, "safety", safety.SafetyFilter(on=False))
    plain = pipe("a red fox", seed=4)[0]
    assert "safety" not in checked.info
    assert np.array_equal(np.asarray(checked), np.asarray(plain))


def test_every_caller_gets_the_filter_the_evaluation_included(models, flag_everything):
    """The filter is a component of the pipeline: the evaluation runner, which calls the
    pipeline directly, gets notices too, without knowing about the filter."""
    from evaluation.probes import load_probes
    from evaluation.runner import predict_text_to_image

    probes = load_probes()
    made = predict_text_to_image(models.get("text_to_image").pipeline, probes, probes.text_to_image[:1], print)
    assert [image.info.get("safety") for image in made.values()] == [safety.HIDDEN]


def test_a_negative_prompt_may_name_what_to_avoid(models):
    pipe = models.get("text_to_image").pipeline
    assert pipe("a statue in a park", negative_prompt="nude, gore", seed=1)
    with pytest.raises(ValueError, match="safety filter"):
        pipe("a nude statue", seed=1)


def test_sd_pipelines_load_without_their_own_checker(models, tmp_path):
    """SD 1.x repositories ship a safety checker inside the pipeline (model_index.json);
    the app loads them without it and runs its one checker on every model instead."""
    from diffusers import StableDiffusionPipeline

    from pipelines.text_to_image import TextToImagePipeline

    tiny = models.get("text_to_image", "tiny-sd").pipeline.pipe
    checker = models.get("safety_checker").pipeline
    with_checker = StableDiffusionPipeline(
        **{
            k: v
            for k, v in tiny.components.items()
            if k not in ("safety_checker", "feature_extractor", "image_encoder")
        },
        safety_checker=checker.model,
        feature_extractor=checker.image_processor,
        requires_safety_checker=True,
    )
    with_checker.save_pretrained(tmp_path / "sd-like")
    loaded = TextToImagePipeline.from_pretrained(str(tmp_path / "sd-like"), local_files_only=True)
    assert loaded.pipe.safety_checker is None
    assert loaded("a red fox", seed=1, num_inference_steps=2, width=64, height=64)[0].size == (64, 64)


def test_a_tiny_checker_never_vouches_for_a_real_model(models, monkeypatch):
    """Offline with a real image model cached but not the real checker, the auto profile
    would fall back to the tiny checker: images are refused instead of shown unchecked."""
    real = models.safety_filter_for(registry.CHECKPOINTS["sd-turbo"])
    with pytest.raises(CheckpointUnavailable, match="safety checker .* isn't available offline"):
        real.checker()
    pipe = models.get("text_to_image").pipeline
    monkeypatch.setattr(pipe, "safety", real)
    steps = []
    with pytest.raises(CheckpointUnavailable):  # refused by the pipeline itself, before any denoising
        pipe("a red fox", seed=1, callback=lambda step, total: steps.append(step))
    assert steps == []
    tiny = models.safety_filter_for(registry.CHECKPOINTS["tiny-sd"])
    assert isinstance(tiny.checker(), safety.SafetyChecker)


def test_notice_image_fits_any_size():
    for size in [(64, 64), (1024, 64), (64, 1024), (512, 512)]:
        image = safety.notice_image(*size)
        assert image.size == size and image.mode == "RGB"
        assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 2  # something is drawn on it


# --- Through the API --------------------------------------------------------------------


def test_the_api_refuses_blocked_prompts(client):
    with pytest.raises(AppError, match="'naked'.*safety filter"):
        client.predict(prompt="a naked man", api_name="/text_to_image")
    assert client.predict(prompt="a dressed man", seed=1, api_name="/text_to_image")


def test_the_api_never_returns_a_flagged_image(live, flag_everything):
    result = live.predict(prompt="a red fox", seed=9, width=64, height=64, num_images=2, api_name="/text_to_image")
    assert [item["caption"] for item in result] == [f"seed {s} · hidden by the safety filter" for s in (9, 10)]
    notice = np.asarray(safety.notice_image(64, 64))
    assert all(np.array_equal(np.asarray(Image.open(item["image"]).convert("RGB")), notice) for item in result)


# --- Turned off -------------------------------------------------------------------------


def test_off_warns_in_the_log_and_the_ui(models, monkeypatch, caplog):
    from ui import build_demo
    from ui.i18n import EN

    monkeypatch.setattr(settings, "SAFETY_FILTER", "off")
    monkeypatch.setattr(models, "safety_filter", models.safety_filter)  # build_demo configures the cache
    with caplog.at_level(logging.WARNING, logger="playground"):
        demo = build_demo("tiny")
    assert "SAFETY_FILTER=off" in caplog.text
    texts = [str(getattr(block, "value", "")) for block in demo.blocks.values()]
    assert any("safety.off" in text or EN["safety.off"] in text for text in texts)
    assert models.safety_filter_for(registry.CHECKPOINTS["sd-turbo"]).checker() is None
    assert models.get("text_to_image").pipeline.safety.on is False  # loaded ones follow the setting too


def test_the_setting_takes_only_on_or_off():
    code = "import runtime.settings as s; print(s.SAFETY_FILTER)"
    for value, expected in [("off", "off"), ("ON", "on"), ("0", "off")]:
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"SAFETY_FILTER": value, "PATH": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.stdout.strip() == expected, out.stderr
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"SAFETY_FILTER": "maybe", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "SAFETY_FILTER must be on or off" in out.stderr


def test_the_explain_views_show_nothing_the_filter_hid(live, flag_everything):
    # The denoising timeline streams previews while the image forms: each is checked as it
    # is shown, and when the finished image is hidden the timeline and word maps go too.
    job = live.submit(prompt="a red fox", seed=3, num_inference_steps=3, api_name="/explain_text_to_image")
    record, words, frames = job.result(timeout=120)
    assert frames == [] and words == [] and record["frames"] == [] and record["words"] == []
    streamed = [item for update in job.outputs()[:-1] for item in update[2]]
    assert streamed and all(
        np.array_equal(
            np.asarray(Image.open(item["image"]).convert("RGB")),
            np.asarray(safety.notice_image(*Image.open(item["image"]).size)),
        )
        for item in streamed
    )
    # The Create tab's own timeline option: only the notice comes back.
    result = live.predict(prompt="a red fox", seed=3, num_inference_steps=3, timeline=True, api_name="/text_to_image")
    assert [item["caption"] for item in result] == ["seed 3 · hidden by the safety filter"]
