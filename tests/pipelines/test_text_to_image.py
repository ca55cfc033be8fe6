"""Text-to-image pipeline on tiny Stable Diffusion and SDXL."""

import numpy as np
import pytest


@pytest.fixture(scope="module", params=["tiny-sd", "tiny-sdxl"])
def pipe(models, request):
    return models.get("text_to_image", request.param).pipeline


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def test_returns_images_of_the_size_asked_for(pipe):
    images = pipe("a red cat", seed=1, width=96, height=64, num_images=2)
    assert len(images) == 2
    assert all(image.size == (96, 64) and image.mode == "RGB" for image in images)


def test_same_seed_same_image_other_seed_other_image(pipe):
    first = pipe("a red cat", seed=5)[0]
    assert np.array_equal(pixels(first), pixels(pipe("a red cat", seed=5)[0]))
    assert not np.array_equal(pixels(first), pixels(pipe("a red cat", seed=6)[0]))


def test_image_i_of_a_batch_is_reproducible_alone_with_seed_plus_i(pipe):
    batch = pipe("a red cat", seed=20, num_images=2)
    alone = pipe("a red cat", seed=21)[0]
    assert np.abs(pixels(batch[1]) - pixels(alone)).max() <= 2  # batched matmuls round differently


def test_progress_is_reported_every_step(pipe):
    steps = []
    pipe("a red cat", seed=1, num_inference_steps=3, callback=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]


def test_negative_prompt_and_guidance_change_the_image(pipe):
    plain = pipe("a red cat", seed=3, guidance_scale=5.0)[0]
    negative = pipe("a red cat", negative_prompt="blue", seed=3, guidance_scale=5.0)[0]
    assert not np.array_equal(pixels(plain), pixels(negative))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(prompt=""), "empty"),
        (dict(width=100), "divisible by 8"),
        (dict(width=4096), "between"),
        (dict(num_inference_steps=0), "between"),
        (dict(num_inference_steps=1000), "between"),
        (dict(guidance_scale=-1), "between"),
        (dict(num_images=9), "between"),
        (dict(seed=-5), "between"),
    ],
)
def test_bad_settings_are_refused_before_any_work(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe(**{"prompt": "a cat", **kwargs})
