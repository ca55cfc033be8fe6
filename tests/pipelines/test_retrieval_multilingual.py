"""SigLIP 2 and Chinese-CLIP behind CLIP's RetrievalPipeline API: tiny builds of the real
classes through from_pretrained, each family's tokenizer, padding and lower-casing, the
notice for a text the model can't read, and the features the Fusion lab uses."""

import numpy as np
import pytest

from pipelines.retrieval import RetrievalPipeline
from runtime.inputs import collect_notices
from tests.conftest import IMAGES

PHOTOS = [str(IMAGES / name) for name in ("cat.jpg", "coffee.jpg", "rocket.jpg", "coins.jpg")]


@pytest.fixture(scope="module")
def siglip(models):
    return models.get("retrieval", "tiny-siglip2").pipeline


@pytest.fixture(scope="module")
def chinese_clip(models):
    return models.get("retrieval", "tiny-chinese-clip").pipeline


def test_tiny_builds_are_the_real_classes(siglip, chinese_clip):
    from transformers import ChineseCLIPModel, GemmaTokenizer, SiglipModel

    assert isinstance(siglip.model, SiglipModel) and siglip.model_type == "siglip"
    tokenizer = siglip.processor.tokenizer
    assert isinstance(tokenizer, GemmaTokenizer)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id) == (0, 1, 2)  # Gemma's ids
    assert isinstance(chinese_clip.model, ChineseCLIPModel) and chinese_clip.model_type == "chinese_clip"
    assert chinese_clip.processor.tokenizer.cls_token == "[CLS]"


def test_siglip_reads_64_lower_cased_tokens_padded_at_the_end(siglip):
    tokens = siglip._tokens(["一只猫", "A Red CAT"])
    ids = tokens["input_ids"]
    assert ids.shape == (2, 64)  # padding="max_length", max_length=64
    tokenizer = siglip.processor.tokenizer
    first = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    assert first[:4] == ["一", "只", "猫", "<eos>"] and set(first[4:]) == {
        "<pad>"
    }  # Chinese as itself, pads at the end
    assert "<unk>" not in first
    assert siglip._tokens(["a red cat"])["input_ids"].tolist() == ids[1:].tolist()  # lower-cased
    np.testing.assert_allclose(siglip.embed_texts(["A Red CAT"]), siglip.embed_texts(["a red cat"]), atol=1e-6)


def test_chinese_clip_reads_each_character_up_to_52_tokens(chinese_clip):
    tokenizer = chinese_clip.processor.tokenizer
    ids = chinese_clip._tokens(["一只猫"])["input_ids"][0].tolist()
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "一", "只", "猫", "[SEP]"]
    assert chinese_clip._tokens(["猫" * 200])["input_ids"].shape[1] == 52
    with collect_notices() as notices:
        chinese_clip.embed_texts(["猫" * 200])
    assert any("at most 52" in n for n in notices)


@pytest.mark.parametrize("key", ["tiny-siglip2", "tiny-chinese-clip"])
def test_the_same_api_as_clip(models, key):
    pipe = models.get("retrieval", key).pipeline
    images = pipe.embed_images(PHOTOS)
    assert images.shape == (4, pipe.dim) and images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert int(np.argmax(images @ pipe.embed_query(image=PHOTOS[2]))) == 2  # an image finds itself first
    both = pipe.embed_query(text="一只猫", image=PHOTOS[0], text_weight=0.3)
    assert both.shape == (pipe.dim,) and abs(float(np.linalg.norm(both)) - 1.0) < 1e-5
    result = pipe.classify(PHOTOS[0], "猫，狗，鸟")
    assert list(result) == sorted(result, key=lambda label: -result[label]) and set(result) == {"猫", "狗", "鸟"}
    assert sum(result.values()) == pytest.approx(1.0, abs=1e-5)
    assert len(pipe.fingerprint) == 16 and pipe.name.startswith(str(pipe.model_id))


def test_fingerprints_tell_the_families_apart(models):
    prints = {
        models.get("retrieval", key).pipeline.fingerprint for key in ("tiny-clip", "tiny-siglip2", "tiny-chinese-clip")
    }
    assert len(prints) == 3


def test_chinese_labels_get_a_chinese_prompt(models, siglip):
    clip = models.get("retrieval", "tiny-clip").pipeline
    assert siglip.prompt("猫") == clip.prompt("猫") == "一张猫的照片。"
    assert clip.prompt("cat") == "a photo of a cat." and siglip.prompt("cat") == "this is a photo of cat."


def test_the_notice_comes_for_clip_and_not_for_siglip(models, siglip):
    with collect_notices() as notices:
        models.get("retrieval", "tiny-clip").pipeline.embed_query(text="一只猫")
    assert len(notices) == 1 and "Tiny CLIP (random)" in notices[0]
    assert "Tiny SigLIP 2 (random)" in notices[0] and "Tiny Chinese-CLIP (random)" in notices[0]
    with collect_notices() as notices:
        siglip.embed_query(text="一只猫")
        siglip.classify(PHOTOS[0], "猫，狗")
    assert notices == []


def test_chinese_clip_says_it_reads_chinese_only(chinese_clip):
    with collect_notices() as notices:
        chinese_clip.embed_query(text="a cat")
    assert len(notices) == 1 and "Chinese characters only" in notices[0] and "Tiny SigLIP 2" in notices[0]


@pytest.mark.parametrize("key", ["tiny-clip", "tiny-siglip2", "tiny-chinese-clip"])
def test_token_features_agree_with_the_embeddings(models, key):
    pipe = models.get("retrieval", key).pipeline
    tokens = pipe.image_tokens(PHOTOS[:2])
    assert tokens.ndim == 3 and tokens.shape[0] == 2 and tokens.shape[2] == pipe.dim
    np.testing.assert_allclose(tokens[:, 0], pipe.embed_images(PHOTOS[:2]), atol=1e-5)
    text_tokens, mask, pooled = pipe.text_tokens(["a red circle", "一个蓝色的正方形"])
    assert text_tokens.shape[:2] == mask.shape and mask.dtype == bool and mask.any(axis=1).all()
    np.testing.assert_allclose(pooled, pipe.embed_texts(["a red circle", "一个蓝色的正方形"]), atol=1e-5)


def test_naflex_siglip2_checkpoints_load_too(tmp_path):
    """The NaFlex SigLIP 2 checkpoints are Siglip2Model (model_type "siglip2"), with their
    own image processor (patches and a mask): the same pipeline runs them."""
    import torch
    from transformers import Siglip2Config, Siglip2ImageProcessorPil, Siglip2Model, Siglip2Processor

    from runtime.tiny import _VISION, _gemma_tokenizer, _text_config

    tokenizer = _gemma_tokenizer()
    text = dict(_text_config(tokenizer), pad_token_id=0, eos_token_id=1, bos_token_id=2, projection_size=32)
    # Siglip2Processor passes patch_size 16 and max_num_patches 256, as the real ones use.
    vision = {k: v for k, v in _VISION.items() if k != "image_size"} | {"patch_size": 16, "num_patches": 256}
    torch.manual_seed(0)
    Siglip2Model(Siglip2Config(text_config=text, vision_config=vision)).save_pretrained(tmp_path)
    processor = Siglip2Processor(Siglip2ImageProcessorPil(patch_size=16, max_num_patches=256), tokenizer)
    processor.save_pretrained(tmp_path)
    pipe = RetrievalPipeline.from_pretrained(str(tmp_path), local_files_only=True)
    assert pipe.model_type == "siglip2" and pipe._tokens(["一只猫"])["input_ids"].shape == (1, 64)
    images = pipe.embed_images(PHOTOS[:2])
    assert images.shape == (2, 32) and int(np.argmax(images @ pipe.embed_query(image=PHOTOS[1]))) == 1
