"""Tiny, randomly initialised models of the real classes, built locally.

The ``tiny`` profile (and every test) uses these: the same model and processor
classes as the real checkpoints (BLIP, ViLT, CLIP, Stable Diffusion, SDXL, TAESD), with
hidden sizes of 32 and a few hundred tokens of vocabulary, built from configs and
tokenizers written in code, saved with ``save_pretrained`` and loaded back through
the same ``from_pretrained`` path as a downloaded checkpoint. No network is used.
Weights are seeded, so every build is identical. Their outputs are meaningless.
"""

from __future__ import annotations

import os
import shutil
import string
import tempfile
import threading
from pathlib import Path

from pipelines import settings

# Words a caption or answer is made of, so that random output reads like words.
_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "on",
    "in",
    "at",
    "with",
    "and",
    "is",
    "are",
    "to",
    "by",
    "from",
    "near",
    "next",
    "under",
    "over",
    "this",
    "that",
    "it",
    "photo",
    "picture",
    "image",
    "drawing",
    "close",
    "up",
    "view",
    "of",
    "man",
    "woman",
    "person",
    "people",
    "child",
    "boy",
    "girl",
    "cat",
    "dog",
    "horse",
    "bird",
    "animal",
    "car",
    "bus",
    "bike",
    "motorcycle",
    "rocket",
    "plane",
    "boat",
    "train",
    "street",
    "road",
    "table",
    "cup",
    "coffee",
    "plate",
    "food",
    "tree",
    "grass",
    "flower",
    "sky",
    "cloud",
    "sun",
    "moon",
    "star",
    "space",
    "galaxy",
    "wall",
    "brick",
    "building",
    "house",
    "room",
    "window",
    "door",
    "clock",
    "coin",
    "camera",
    "text",
    "sign",
    "book",
    "page",
    "sitting",
    "standing",
    "holding",
    "wearing",
    "looking",
    "flying",
    "running",
    "lying",
    "black",
    "white",
    "red",
    "green",
    "blue",
    "yellow",
    "brown",
    "gray",
    "orange",
    "pink",
    "purple",
    "small",
    "large",
    "old",
    "young",
    "two",
    "three",
    "four",
    "yes",
    "no",
]
_CHARS = string.ascii_lowercase + string.digits + string.punctuation
# Answers the tiny ViLT classifier chooses from (the real one has 3,129).
_VQA_ANSWERS = ["yes", "no", "1", "2", "3", "red", "blue", "green", "white", "black", "cat", "dog", "man", "woman"]

_lock = threading.Lock()


def _bert_tokenizer():
    from transformers import BertTokenizer

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS, *_CHARS, *("##" + c for c in _CHARS)]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    return BertTokenizer(vocab=vocab, model_max_length=64)


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    # Character-level BPE: every character alone and at a word's end, no merges.
    tokens = [*_CHARS, *(c + "</w>" for c in _CHARS), "<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _text_config(tokenizer, **extra) -> dict:
    return dict(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length, **extra,
    )  # fmt: skip


_VISION = dict(
    hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8
)


def _blip(out: Path, vqa: bool) -> None:
    import torch
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipForQuestionAnswering,
        BlipImageProcessorPil,
        BlipProcessor,
    )

    tokenizer = _bert_tokenizer()
    ids = dict(
        bos_token_id=tokenizer.cls_token_id, pad_token_id=tokenizer.pad_token_id,
        sep_token_id=tokenizer.sep_token_id, eos_token_id=tokenizer.sep_token_id,
    )  # fmt: skip
    config = BlipConfig(text_config=_text_config(tokenizer, **ids), vision_config=_VISION, projection_dim=32)
    torch.manual_seed(0)
    model = (BlipForQuestionAnswering if vqa else BlipForConditionalGeneration)(config)
    model.generation_config.max_length = 20
    model.save_pretrained(out)
    processor = BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    processor.save_pretrained(out)


def _vilt(out: Path) -> None:
    import torch
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessorPil, ViltProcessor

    tokenizer = _bert_tokenizer()
    config = ViltConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, max_position_embeddings=tokenizer.model_max_length, max_image_length=-1,
        num_labels=len(_VQA_ANSWERS), id2label=dict(enumerate(_VQA_ANSWERS)),
        label2id={a: i for i, a in enumerate(_VQA_ANSWERS)},
    )  # fmt: skip
    torch.manual_seed(0)
    ViltForQuestionAnswering(config).save_pretrained(out)
    image_processor = ViltImageProcessorPil(size={"shortest_edge": 32, "longest_edge": 64}, size_divisor=8)
    ViltProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


def _clip(out: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    tokenizer = _clip_tokenizer()
    ids = dict(bos_token_id=len(tokenizer) - 2, eos_token_id=len(tokenizer) - 1, pad_token_id=len(tokenizer) - 1)
    config = CLIPConfig(text_config=_text_config(tokenizer, **ids), vision_config=_VISION, projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(out)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


def _diffusion(out: Path, xl: bool) -> None:
    # The components of diffusers' own pipeline tests (get_dummy_components), with a
    # trailing-timestep Euler scheduler as in SD-Turbo.
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = _clip_tokenizer()
    ids = dict(bos_token_id=len(tokenizer) - 2, eos_token_id=len(tokenizer) - 1, pad_token_id=len(tokenizer) - 1)
    text_config = CLIPTextConfig(**_text_config(tokenizer, **ids), projection_dim=32)
    torch.manual_seed(0)
    unet_kwargs = dict(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=32, attention_head_dim=(2, 4),
    )  # fmt: skip
    if xl:
        # SDXL conditions on two text encoders (32 + 32 features) and on sizes and crops.
        unet = UNet2DConditionModel(
            **unet_kwargs, cross_attention_dim=64, addition_embed_type="text_time", addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=32 + 6 * 8, use_linear_projection=True,
        )  # fmt: skip
    else:
        unet = UNet2DConditionModel(**unet_kwargs, cross_attention_dim=32)
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=32,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2, sample_size=64,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(text_config)
    if xl:
        torch.manual_seed(0)
        pipe = StableDiffusionXLPipeline(
            vae=vae, text_encoder=text_encoder, text_encoder_2=CLIPTextModelWithProjection(text_config),
            tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
        )  # fmt: skip
    else:
        pipe = StableDiffusionPipeline(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )  # fmt: skip
    pipe.save_pretrained(out)


def _taesd(out: Path) -> None:
    # TAESD's architecture (AutoencoderTiny) at the tiny VAE's scale: one 2x upsampling,
    # like the tiny AutoencoderKL above, for the same 4-channel latents.
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(32, 32), decoder_block_out_channels=(32, 32), num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1), latent_channels=4,
    ).save_pretrained(out)  # fmt: skip


def _safety_checker(out: Path) -> None:
    # The Stable Diffusion safety checker's classes on a tiny CLIP vision tower; its 17
    # concept embeddings and thresholds keep their initial values (ones), so random
    # images are never flagged unless a test lowers the thresholds.
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessorPil

    torch.manual_seed(0)
    StableDiffusionSafetyChecker(CLIPConfig(vision_config=_VISION, projection_dim=16)).save_pretrained(out)
    CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)


BUILDERS = {
    "blip-caption": lambda out: _blip(out, vqa=False),
    "blip-vqa": lambda out: _blip(out, vqa=True),
    "vilt-vqa": _vilt,
    "clip": _clip,
    "sd": lambda out: _diffusion(out, xl=False),
    "sdxl": lambda out: _diffusion(out, xl=True),
    "taesd": _taesd,
    "safety-checker": _safety_checker,
}


def tiny_path(repo_id: str) -> Path:
    """Build the tiny model ``tiny/<name>`` once and return its directory.

    The build goes to a temporary directory beside the target and is renamed into
    place, so an interrupted build never leaves a half-written model behind.
    """
    name = repo_id.removeprefix("tiny/")
    if name not in BUILDERS:
        raise ValueError(f"Unknown tiny model {repo_id!r}; available = {['tiny/' + n for n in BUILDERS]}")
    target = settings.DATA_DIR / "tiny-models" / name
    if target.is_dir():
        return target
    with _lock:
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            BUILDERS[name](tmp)
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another process
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
