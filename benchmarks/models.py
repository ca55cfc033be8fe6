"""Real-size model architectures with random weights, built from configs in code.

Checkpoints can't be downloaded where the benchmarks run, and speed does not depend
on the weights' values, so each benchmark builds the architecture of the checkpoint it
stands for: BLIP base (captioning and VQA: a ViT-B/16 at 384 px and BERT-base text
models), CLIP ViT-B/32, and SD-Turbo (Stable Diffusion 2.1's UNet, OpenCLIP ViT-H text
encoder and VAE). Tokenizers have the real vocabulary sizes and made-up tokens; image
processors are the real ones with the checkpoints' settings.

Outputs of random weights are meaningless, and greedy tokens of a random decoder
are near ties, so the fidelity numbers the benchmarks report (fast path vs float32)
are a pessimistic bound for the trained checkpoints.
"""

from __future__ import annotations

import string

import torch

BERT_VOCAB = 30524  # bert-base-uncased plus BLIP's [DEC] and [ENC]
CLIP_VOCAB = 49408


def bert_tokenizer():
    """A BertTokenizer of BERT's size: each word of a question becomes one token (most
    often [UNK]), about what the real vocabulary makes of short English questions."""
    from transformers import BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.punctuation]
    words += [f"tok{i}" for i in range(BERT_VOCAB - len(words) - 2)] + ["[DEC]", "[ENC]"]
    return BertTokenizer(vocab={w: i for i, w in enumerate(words)}, model_max_length=512)


def clip_tokenizer():
    """A CLIPTokenizer of CLIP's vocabulary size (character-level: prompts are padded
    to 77 tokens anyway)."""
    from transformers import CLIPTokenizer

    chars = string.ascii_lowercase + string.digits + string.punctuation
    tokens = [*chars, *(c + "</w>" for c in chars)]
    tokens += [f"tok{i}" for i in range(CLIP_VOCAB - len(tokens) - 2)] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=77)


def _blip_config():
    from transformers import BlipConfig

    tokenizer = bert_tokenizer()
    config = BlipConfig()  # the defaults are BLIP base: ViT-B/16 at 384 px, BERT-base text
    config.text_config.update(
        dict(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.convert_tokens_to_ids("[DEC]"),
            pad_token_id=tokenizer.pad_token_id,
            sep_token_id=tokenizer.sep_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
    )
    return config, tokenizer


def blip(vqa: bool = False):
    """(float32 model, processor) of BLIP base for captioning or VQA."""
    from transformers import (
        BlipForConditionalGeneration,
        BlipForQuestionAnswering,
        BlipImageProcessorPil,
        BlipProcessor,
    )

    config, tokenizer = _blip_config()
    torch.manual_seed(0)
    model = (BlipForQuestionAnswering if vqa else BlipForConditionalGeneration)(config).eval()
    model.generation_config.max_length = None  # lengths come from max_new_tokens
    return model, BlipProcessor(image_processor=BlipImageProcessorPil(), tokenizer=tokenizer)


def clip_b32():
    """(float32 model, processor) of CLIP ViT-B/32 (the CLIPConfig defaults)."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig()).eval()
    return model, CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=clip_tokenizer())


def sd_turbo():
    """A float32 diffusers StableDiffusionPipeline of SD-Turbo's size: Stable Diffusion
    2.1's UNet (865 M parameters, 64x64 latents for 512x512 images), OpenCLIP ViT-H's
    text tower (340 M) and the SD VAE (84 M), with SD-Turbo's trailing-timestep scheduler."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        attention_head_dim=(5, 10, 20, 20),
        cross_attention_dim=1024,
        use_linear_projection=True,
    )  # other defaults are SD's: (320, 640, 1280, 1280) channels, 2 layers per block
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        sample_size=512,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
    )
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=CLIP_VOCAB,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=23,
            num_attention_heads=16,
            hidden_act="gelu",
            projection_dim=512,
            bos_token_id=CLIP_VOCAB - 2,
            eos_token_id=CLIP_VOCAB - 1,
            pad_token_id=CLIP_VOCAB - 1,
        )
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing"
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    for module in (unet, vae, text_encoder):
        module.eval()  # as from_pretrained leaves them (in training mode diffusers copies tensors)
    return pipe
