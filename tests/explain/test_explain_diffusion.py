"""Denoising timeline, noise levels, per-word UNet attention and TAESD on tiny SD and SDXL."""

import numpy as np
import pytest
import torch

from explain.diffusion import (
    AttentionStore,
    Previewer,
    explain_text_to_image,
    frame_steps,
    latent_rgb_map,
    record_cross_attention,
)
from runtime.tiny import tiny_path

PROMPT = "a red cat on a blue sofa"


@pytest.fixture(scope="module", params=["tiny-sd", "tiny-sdxl"])
def pipe(models, request):
    pipeline = models.get("text_to_image", request.param).pipeline
    pipeline.load_taesd(str(tiny_path("tiny/taesd")), local_files_only=True)
    return pipeline


@pytest.fixture(scope="module")
def explained(pipe):
    frames = []
    explanation = explain_text_to_image(
        pipe,
        PROMPT,
        seed=4,
        num_inference_steps=4,
        guidance_scale=3.0,
        width=96,
        height=64,
        on_frame=lambda image, caption: frames.append(caption),
    )
    return explanation, frames


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def test_explaining_does_not_change_the_image(pipe, explained):
    explanation, _ = explained
    plain = pipe(PROMPT, seed=4, num_inference_steps=4, guidance_scale=3.0, width=96, height=64)[0]
    assert np.array_equal(pixels(plain), pixels(explanation.image))


def test_the_timeline_has_a_frame_every_few_steps_shown_as_made(explained):
    explanation, streamed = explained
    captions = [caption for _, caption in explanation.frames]
    assert captions == streamed == ["step 1/4", "step 2/4", "step 3/4", "step 4/4"]
    assert all(frame.size == (96, 64) for frame, _ in explanation.frames)
    assert explanation.record["frames"] == captions


def test_frame_steps_thin_out_long_runs_and_keep_the_last():
    assert frame_steps(4, 10) == [1, 2, 3, 4]
    assert frame_steps(25, 10) == [3, 6, 9, 12, 15, 18, 21, 24, 25]
    assert frame_steps(1, 10) == [1]


def test_noise_levels_fall_to_zero(pipe, explained):
    record = explained[0].record
    sigmas = record["sigmas"]
    assert len(sigmas) == record["num_inference_steps"] + 1 == len(record["timesteps"]) + 1
    assert sigmas == sorted(sigmas, reverse=True) and sigmas[-1] == 0.0
    assert sigmas[0] == pytest.approx(float(pipe.pipe.scheduler.sigmas.max()))


def test_one_attention_map_per_word_with_the_image_aspect_ratio(explained):
    explanation, _ = explained
    words = explanation.record["words"]
    assert [w["word"] for w in words] == PROMPT.split()
    assert [caption for _, caption in explanation.words] == PROMPT.split()
    assert all(image.size == (384, 256) for image, _ in explanation.words)  # 96 x 64 scaled to 384 wide
    assert all(w["attention"] > 0 for w in words)
    assert explanation.record["attention"]["layers_times_steps"] > 0


def test_recorded_attention_is_a_distribution_over_tokens_at_every_pixel(pipe):
    scale = pipe.pipe.vae_scale_factor
    store = AttentionStore(64 // scale, 64 // scale)
    with record_cross_attention(pipe.pipe.unet, store):
        pipe(PROMPT, seed=1, num_inference_steps=2)
    total = store.total / store.count  # (77, h, w): the mean over layers and steps
    assert torch.allclose(total.sum(0), torch.ones_like(total[0]), atol=1e-4)
    # The processors are restored afterwards.
    assert not any("Recorder" in type(p).__name__ for p in pipe.pipe.unet.attn_processors.values())


def test_taesd_decodes_images_of_the_size_asked_for(pipe):
    vae = pipe("a red cat", seed=3, width=96, height=64)[0]
    taesd = pipe("a red cat", seed=3, width=96, height=64, decoder="taesd")[0]
    assert taesd.size == vae.size == (96, 64)
    assert not np.array_equal(pixels(vae), pixels(taesd))
    assert np.array_equal(pixels(taesd), pixels(pipe("a red cat", seed=3, width=96, height=64, decoder="taesd")[0]))


@pytest.mark.parametrize("preview", ["latent", "taesd"])
def test_previews_are_images_of_the_output_size(pipe, preview):
    previewer = Previewer(pipe, preview)
    latents = torch.randn(1, 4, 32 // pipe.pipe.vae_scale_factor * 2, 48 // pipe.pipe.vae_scale_factor * 2)
    assert previewer(latents, sigma=2.0, size=(96, 64)).size == (96, 64)


def test_the_latent_preview_is_fitted_to_the_model_vae(pipe):
    weights = latent_rgb_map(pipe)
    assert weights.shape == (pipe.pipe.vae.config.latent_channels + 1, 3) and torch.isfinite(weights).all()
    assert latent_rgb_map(pipe) is weights  # fitted once per model


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(preview="sharp"), "Unknown preview"),
        (dict(decoder="jpeg"), "Unknown decoder"),
        (dict(prompt=" "), "empty"),
        (dict(width=100), "divisible by 8"),
    ],
)
def test_bad_settings_are_refused(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        explain_text_to_image(pipe, **{"prompt": "a cat", "seed": 1, **kwargs})
