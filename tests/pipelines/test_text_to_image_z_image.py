"""Chinese prompts: Z-Image (a tiny build of diffusers' ZImagePipeline through the same
from_pretrained as Tongyi-MAI/Z-Image-Turbo), and the notice SD gives for a Chinese prompt."""

import numpy as np
import pytest

from runtime.inputs import collect_notices


@pytest.fixture(scope="module")
def z_image(models):
    return models.get("text_to_image", "tiny-z-image").pipeline


def test_the_tiny_build_is_zimage_with_qwens_tokenizer(z_image):
    from diffusers import ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Model

    pipe = z_image.pipe
    assert isinstance(pipe, ZImagePipeline) and isinstance(pipe.transformer, ZImageTransformer2DModel)
    assert isinstance(pipe.text_encoder, Qwen3Model) and z_image.family == "z-image" and not z_image.has_unet
    assert z_image.size_multiple == 2 * pipe.vae_scale_factor and z_image.max_prompt_tokens == 512
    templated = pipe.tokenizer.apply_chat_template(
        [{"role": "user", "content": "一只猫"}], tokenize=False, add_generation_prompt=True, enable_thinking=True
    )
    assert templated == "<|im_start|>user\n一只猫<|im_end|>\n<|im_start|>assistant\n"
    ids = pipe.tokenizer("一只猫")["input_ids"]
    assert len(ids) == 9 and pipe.tokenizer.decode(ids) == "一只猫"  # three bytes a character, no mojibake


def test_a_chinese_prompt_makes_images_without_a_notice(z_image):
    with collect_notices() as notices:
        images = z_image("一只红色的猫坐在木桌上", seed=2, num_images=2)
    assert notices == [] and [image.size for image in images] == [(64, 64), (64, 64)]
    first = np.asarray(images[0]).astype(int)
    again = np.asarray(z_image("一只红色的猫坐在木桌上", seed=2)[0])
    assert np.abs(first - again).max() <= 2  # seed i makes image i again (batched: the same up to rounding)
    other = np.asarray(z_image("一只蓝色的狗", seed=2)[0])
    assert np.abs(first - other).max() > 4  # the prompt reaches the model


def test_what_z_image_does_not_do_is_refused_with_a_message(z_image):
    with pytest.raises(ValueError, match="divisible by 16"):  # 2x2 patches of 8x latents, as the real model
        z_image("一只猫", width=66, height=64)
    with pytest.raises(ValueError, match="TAESD decodes the latents of SD and SDXL only") as taesd:
        z_image("一只猫", decoder="taesd")
    from explain.diffusion import explain_text_to_image

    with pytest.raises(ValueError, match="explain UNet models") as explained:
        explain_text_to_image(z_image, "一只猫", seed=1)
    assert (taesd.value.code, explained.value.code) == ("taesd_family", "explain_unet_only")  # said in Chinese too


def test_sd_says_it_cant_read_a_chinese_prompt_and_names_z_image(models):
    with collect_notices() as notices:
        models.get("text_to_image").pipeline("一只红色的狐狸", seed=1)
    assert len(notices) == 1 and "Tiny SD (random)" in notices[0] and "Tiny Z-Image (random)" in notices[0]
