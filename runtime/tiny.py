"""Tiny, randomly initialised models of the real classes, built locally.

The ``tiny`` profile (and every test) uses these: the same model and processor
classes as the real checkpoints (BLIP, ViLT, CLIP, SigLIP 2, Chinese-CLIP, Stable
Diffusion, SDXL, TAESD, Whisper, VITS), with
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

from runtime import settings

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
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        **extra,
    )


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
        bos_token_id=tokenizer.cls_token_id,
        pad_token_id=tokenizer.pad_token_id,
        sep_token_id=tokenizer.sep_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    # Untied output embeddings, as they are built (random, and different from the input
    # ones): a config that asked to tie them made every load log that it would not.
    text_config = {**_text_config(tokenizer, **ids), "tie_word_embeddings": False}
    config = BlipConfig(text_config=text_config, vision_config=_VISION, projection_dim=32, tie_word_embeddings=False)
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
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        max_position_embeddings=tokenizer.model_max_length,
        max_image_length=-1,
        num_labels=len(_VQA_ANSWERS),
        id2label=dict(enumerate(_VQA_ANSWERS)),
        label2id={a: i for i, a in enumerate(_VQA_ANSWERS)},
    )
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


# Common Chinese characters, so that Chinese labels and queries reach the multilingual
# tiny models as tokens of their own (the real vocabularies hold thousands).
_HANZI = list(
    dict.fromkeys(
        "一二三四五六七八九十个只张两的是在有和不了上下里中大小红蓝绿黄白黑灰色猫狗马鸟鱼动物人男女孩子"
        "车火箭飞机船星空太宇宙月亮阳光咖啡茶杯子果汁汤食物钟表硬币相机文字书草地砖墙房屋树花天云照片图"
        "画圆形方三角正左右边旁个数吗没多少什么颜哪里"
    )
)


def _gemma_tokenizer():
    """SigLIP 2's tokenizer layout: Gemma's special tokens at Gemma's ids (<pad> 0, <eos> 1,
    <bos> 2, <unk> 3, <mask> 4), the 256 byte tokens that byte fallback spells any other
    character with, then word pieces ("▁" marks a word start). No <bos>; <eos> ends
    each text, which is then padded at the end, as SigLIP 2 reads it."""
    from transformers import GemmaTokenizer

    pieces = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<mask>",
        *(f"<0x{i:02X}>" for i in range(256)),
        "▁",
        *_CHARS,
        *("▁" + c for c in _CHARS),
        *("▁" + w for w in _WORDS),
        *_HANZI,
    ]
    vocab = {piece: i for i, piece in enumerate(dict.fromkeys(pieces))}
    return GemmaTokenizer(
        vocab=vocab, merges=[], add_bos_token=False, add_eos_token=True, padding_side="right", model_max_length=64
    )


def _siglip2(out: Path) -> None:
    # SigLIP 2's fixed-resolution checkpoints are SigLIP models with SigLIP 2's tokenizer.
    import torch
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    tokenizer = _gemma_tokenizer()
    text = dict(_text_config(tokenizer), pad_token_id=0, eos_token_id=1, bos_token_id=2, projection_size=32)
    config = SiglipConfig(text_config=text, vision_config=_VISION)
    torch.manual_seed(0)
    SiglipModel(config).save_pretrained(out)
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})  # mean and std 0.5, as SigLIP's
    SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


def _chinese_clip(out: Path) -> None:
    # Chinese-CLIP: a BERT tokenizer (chinese-roberta-wwm-ext's special tokens; each Chinese
    # character a token of its own) and a RoBERTa text encoder pooled at [CLS].
    import torch
    from transformers import (
        BertTokenizer,
        ChineseCLIPConfig,
        ChineseCLIPImageProcessorPil,
        ChineseCLIPModel,
        ChineseCLIPProcessor,
    )

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_HANZI, *_WORDS, *_CHARS, *("##" + c for c in _CHARS)]
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(dict.fromkeys(tokens))}, model_max_length=52)
    config = ChineseCLIPConfig(
        text_config=_text_config(tokenizer, pad_token_id=0), vision_config=_VISION, projection_dim=16
    )
    torch.manual_seed(0)
    ChineseCLIPModel(config).save_pretrained(out)
    image_processor = ChineseCLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    ChineseCLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


# The tiny image models' VAE: 32 channels at every level, 8x down and up like the real
# ones (the latents of a W x H image are W/8 x H/8, whatever the model).
TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    block_out_channels=[32] * 4,
    layers_per_block=1,
    norm_num_groups=32,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
)


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
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=32,
        attention_head_dim=(2, 4),
    )
    if xl:
        # SDXL conditions on two text encoders (32 + 32 features) and on sizes and crops.
        unet = UNet2DConditionModel(
            **unet_kwargs,
            cross_attention_dim=64,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=32 + 6 * 8,
            use_linear_projection=True,
        )
    else:
        unet = UNet2DConditionModel(**unet_kwargs, cross_attention_dim=32)
    torch.manual_seed(0)
    # Four blocks: 8x down, as every real SD VAE. With two (2x) a 512 px image had 256x256
    # latents, and the attention over them (65,536 positions in the VAE's middle block,
    # 16,384 in the UNet's) took 38 s of a one-step image on 2 cores (cProfile: 95% in
    # scaled_dot_product_attention); at 8x the same image takes about a second.
    vae = AutoencoderKL(**TINY_VAE, latent_channels=4, sample_size=64)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(text_config)
    if xl:
        torch.manual_seed(0)
        pipe = StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=CLIPTextModelWithProjection(text_config),
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=unet,
            scheduler=scheduler,
        )
    else:
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
    pipe.save_pretrained(out)


def _taesd(out: Path) -> None:
    # TAESD's architecture (AutoencoderTiny) at the tiny VAE's scale: three 2x upsamplings
    # (8x), like the tiny AutoencoderKL above, for the same 4-channel latents.
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(32,) * 4,
        decoder_block_out_channels=(32,) * 4,
        num_encoder_blocks=(1,) * 4,
        num_decoder_blocks=(1,) * 4,
        latent_channels=4,
    ).save_pretrained(out)


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
    "siglip2": _siglip2,
    "chinese-clip": _chinese_clip,
    "sd": lambda out: _diffusion(out, xl=False),
    "sdxl": lambda out: _diffusion(out, xl=True),
    "taesd": _taesd,
    "safety-checker": _safety_checker,
}


# Builders changed since a build may have been kept in DATA_DIR: built again, beside the old one.
# 2: the 8x VAE (sd, sdxl, taesd, z-image); BLIP's untied output embeddings said in its config.
REVISIONS = {"sd": 2, "sdxl": 2, "taesd": 2, "z-image": 2, "blip-caption": 2, "blip-vqa": 2}


def tiny_path(repo_id: str) -> Path:
    """Build the tiny model ``tiny/<name>`` once and return its directory.

    The build goes to a temporary directory beside the target and is renamed into
    place, so an interrupted build never leaves a half-written model behind.
    """
    name = repo_id.removeprefix("tiny/")
    if name not in BUILDERS:
        raise ValueError(f"Unknown tiny model {repo_id!r}; available = {['tiny/' + n for n in BUILDERS]}")
    target = settings.DATA_DIR / "tiny-models" / (f"{name}@{REVISIONS[name]}" if name in REVISIONS else name)
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


# --- Speech: Whisper and VITS ---------------------------------------------------


def _whisper(out: Path, **sizes) -> None:
    """A Whisper with the real tokenizer layout: byte-level BPE text tokens (whole words
    here), then <|endoftext|>, <|startoftranscript|>, the 100 language tokens in Whisper's
    order, the task tokens, <|nospeech|>, <|notimestamps|> and the 1,501 timestamps
    <|0.00|> ... <|30.00|>. Generation relies on that order (language id = start-of-
    transcript id + 1 + index; timestamps begin right after <|notimestamps|>). The
    feature extractor is the real one: 80 log-mel bins, 30-second windows of 3,000 frames.
    ``sizes`` override the config's sizes (benchmarks/speech.py builds a Whisper base this way)."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    # Byte-level BPE spells a space as "Ġ"; whole words as single tokens, so random
    # output reads like words. Only printable ASCII, so any output decodes cleanly.
    tokens = ["Ġ", *".,?!'", *("Ġ" + word for word in _WORDS)]
    tokenizer = WhisperTokenizer(vocab={t: i for i, t in enumerate(dict.fromkeys(tokens))}, merges=[])
    languages = [f"<|{code}|>" for code in LANGUAGES]
    specials = [
        "<|startoftranscript|>",
        *languages,
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})  # after <|endoftext|>
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ["<|endoftext|>", *specials]}
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    # 1500 encoder positions = one 30 s window (3000 mel frames, halved by the encoder's
    # stride-2 convolution), as in every Whisper; 32 decoder positions keep generation short.
    special_ids = dict(
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        begin_suppress_tokens=[eot],
        suppress_tokens=[],
    )
    tiny = dict(
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_target_positions=32,
    )
    config = WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=80, max_source_positions=1500, **special_ids, **{**tiny, **sizes}
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    # What Whisper's generate() reads beyond the usual: the language and task tokens,
    # and where timestamps start.
    model.generation_config = GenerationConfig(
        **special_ids,
        max_length=config.max_target_positions,
        is_multilingual=True,
        lang_to_id={token: ids[token] for token in languages},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
        max_initial_timestamp_index=50,
    )
    model.save_pretrained(out)
    feature_extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=16_000, chunk_length=30)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(out)


def _vits(out: Path, full_size: bool = False) -> None:
    """A VITS as MMS-TTS ships it: a character vocabulary (lower-case letters, space,
    apostrophe, hyphen), a blank token between characters, 16 kHz output. Channels are
    tiny; the decoder still upsamples each spectrogram frame 256 times as the real one does.
    ``full_size`` keeps VitsConfig's default sizes, MMS-TTS's (for benchmarks/speech.py)."""
    import json

    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    characters = ["<pad>", *" '-", *string.ascii_lowercase, "<unk>"]
    vocab_file = out / "vocab.json"
    vocab_file.write_text(json.dumps({c: i for i, c in enumerate(characters)}))
    tokenizer = VitsTokenizer(str(vocab_file), language="eng", add_blank=True, normalize=True, phonemize=False)
    tiny = dict(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=8,
        duration_predictor_num_flows=2,
        duration_predictor_filter_channels=16,
        prior_encoder_num_flows=2,
        prior_encoder_num_wavenet_layers=2,
        posterior_encoder_num_wavenet_layers=2,
        depth_separable_num_layers=2,
        upsample_initial_channel=16,
        upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
    )
    config = VitsConfig(
        vocab_size=len(characters),
        sampling_rate=16_000,
        pad_token_id=0,
        # Random durations come out about four times too long; this brings them near
        # the real model's pace (about 15 characters a second).
        speaking_rate=4.0,
        **({} if full_size else tiny),
    )
    torch.manual_seed(0)
    VitsModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


BUILDERS["whisper"] = _whisper
BUILDERS["vits"] = _vits


# --- Chinese prompts: Z-Image ----------------------------------------------------

# Qwen3's chat template for one user turn (what ZImagePipeline wraps the prompt in).
_QWEN3_TEMPLATE = (
    "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)


def _qwen_tokenizer():
    """Qwen's byte-level BPE: the 256 byte symbols (GPT-2's byte-to-unicode map), so any
    text, Chinese included, is spelled in bytes; the real vocabulary adds 151 k merges.
    Then Qwen's special tokens and Qwen3's chat template."""
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {symbol: i for i, symbol in enumerate(bytes_to_unicode().values())}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=512)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<think>", "</think>"]})
    tokenizer.chat_template = _QWEN3_TEMPLATE
    return tokenizer


def _z_image(out: Path) -> None:
    # The components of diffusers' own Z-Image tests (get_dummy_components), with the
    # tokenizer built here instead of downloaded.
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(0)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
        cap_feat_dim=16,
        rope_theta=256.0,
        t_scale=1000.0,
        axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )
    with torch.no_grad():  # created with torch.empty: fixed, so no build holds NaNs
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    torch.manual_seed(0)
    vae = AutoencoderKL(**TINY_VAE, latent_channels=16, sample_size=32, scaling_factor=0.3611, shift_factor=0.1159)
    tokenizer = _qwen_tokenizer()
    torch.manual_seed(0)
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=len(tokenizer),
            max_position_embeddings=512,
        )
    )
    pipe = ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    pipe.save_pretrained(out)


BUILDERS["z-image"] = _z_image


# --- Chinese speech: Kokoro --------------------------------------------------------


def _kokoro(out: Path) -> None:
    """A Kokoro as hexgrad/Kokoro-82M ships it: config.json (its phoneme vocabulary: here
    the symbols misaki's Mandarin G2P writes for the characters above), the weights as
    {module: state_dict} in a .pth, and a voice pack voices/zf_xiaobei.pt of 510 style
    vectors. The text side is tiny, but Kokoro builds its decoder and text encoder at
    their real widths whatever the config says (512 and 1,024 channels), so this "tiny"
    model has about 60 M parameters (230 MB). ``max_dur`` 2 keeps random durations short."""
    import json

    import torch
    from kokoro import KModel
    from misaki import zh

    g2p = zh.ZHG2P()
    symbols = sorted({c for text in ["".join(_HANZI), "你好，世界！今天是晴天。"] for c in (g2p(text)[0] or "")})
    vocab = {symbol: i + 1 for i, symbol in enumerate(dict.fromkeys([";", ":", ",", ".", "!", "?", " ", *symbols]))}
    config = {
        "vocab": vocab,
        "n_token": len(vocab) + 1,
        "hidden_dim": 512,
        "style_dim": 128,
        "n_layer": 1,
        "max_dur": 2,
        "n_mels": 80,
        "dim_in": 16,
        "text_encoder_kernel_size": 3,
        "dropout": 0.0,
        "multispeaker": True,
        "plbert": {
            "hidden_size": 16,
            "num_attention_heads": 2,
            "intermediate_size": 37,
            "max_position_embeddings": 512,
            "num_hidden_layers": 1,
            "dropout": 0.0,
        },
        # Kokoro's decoder as it is: its channel counts (512 in, 1,024 inside) are built in.
        "istftnet": {
            "upsample_kernel_sizes": [20, 12],
            "upsample_rates": [10, 6],
            "gen_istft_hop_size": 5,
            "gen_istft_n_fft": 20,
            "resblock_dilation_sizes": [[1, 3, 5]] * 3,
            "resblock_kernel_sizes": [3, 7, 11],
            "upsample_initial_channel": 512,
        },
    }
    (out / "config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    empty = out / "empty.pth"
    torch.save({}, empty)  # KModel loads weights from a file: none, so they stay as initialised
    torch.manual_seed(0)
    model = KModel(repo_id="tiny/kokoro", config=config, model=str(empty))
    empty.unlink()
    modules = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
    torch.save({name: getattr(model, name).state_dict() for name in modules}, out / "kokoro-v1_0.pth")
    (out / "voices").mkdir()
    torch.manual_seed(1)
    torch.save(torch.randn(510, 1, 256) * 0.1, out / "voices" / "zf_xiaobei.pt")


BUILDERS["kokoro"] = _kokoro


# --- Chat about images: SmolVLM (Idefics3) and Gemma 3 ---------------------------

# SmolVLM-Instruct's chat template (chat_template.json): "User:" / "Assistant:" turns, each
# ended by <end_of_utterance>; an image is an <image> placeholder the processor expands.
_SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def _byte_level_tokenizer(cls, specials: list[str], **kwargs):
    """A byte-level BPE of ``cls`` (GPT-2's byte-to-unicode symbols, so any text, Chinese
    included, is spelled in bytes), whole words as tokens of their own ("Ġ" marks a word
    start, so random output reads like words), then the family's special tokens."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = [*bytes_to_unicode().values(), *("Ġ" + word for word in _WORDS)]
    tokenizer = cls(vocab={s: i for i, s in enumerate(dict.fromkeys(symbols))}, merges=[], **kwargs)
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    return tokenizer


def _smolvlm(out: Path) -> None:
    """A SmolVLM as HuggingFaceTB/SmolVLM-256M-Instruct ships it: an Idefics3 model (a SigLIP
    vision encoder, a pixel-shuffle connector merging 2 x 2 patches here (4 x 4 in the real
    one), a Llama text model), SmolLM2's special tokens, the image processor that tiles an
    image into squares plus a global view, and SmolVLM's chat template. Tiles are 32 px of
    8 px patches: 16 patches, pixel-shuffled into 4 image tokens per tile."""
    import torch
    from transformers import (
        GPT2Tokenizer,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    rows = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    specials = [
        "<|im_start|>",
        "<|im_end|>",
        "<end_of_utterance>",
        "<fake_token_around_image>",
        "<image>",
        "<global-img>",
        *rows,
    ]
    tokenizer = _byte_level_tokenizer(
        GPT2Tokenizer,
        specials,
        model_max_length=2048,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=ids["<|im_start|>"],
        eos_token_id=ids["<end_of_utterance>"],
        pad_token_id=ids["<|im_end|>"],
    )
    config = Idefics3Config(
        text_config=text,
        vision_config=dict(_VISION, image_size=32, patch_size=8),
        scale_factor=2,
        image_token_id=ids["<image>"],
        pad_token_id=ids["<|im_end|>"],
    )
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<end_of_utterance>"]
    model.generation_config.pad_token_id = ids["<|im_end|>"]
    # Random weights would write lone bytes (invalid UTF-8): answers are made of words only.
    model.generation_config.suppress_tokens = list(range(256))
    model.save_pretrained(out)
    image_processor = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32})
    Idefics3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4, chat_template=_SMOLVLM_TEMPLATE
    ).save_pretrained(out)


# Gemma 3's chat template (google/gemma-3-4b-it): <start_of_turn>user / model turns, a
# system prompt folded into the first user turn, <start_of_image> where an image goes.
_GEMMA3_TEMPLATE = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""


def _gemma3(out: Path) -> None:
    """A Gemma 3 as google/gemma-3-4b-it ships it: a SigLIP vision encoder whose patches are
    average-pooled into a fixed number of image tokens (256 in the real one, 4 here from
    8 x 8 patches), a Gemma 3 text model, Gemma's special tokens at Gemma's ids with the
    turn and image tokens, and Gemma 3's chat template. <end_of_turn> ends an answer."""
    import torch
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessorPil,
        Gemma3Processor,
        GemmaTokenizer,
    )

    images = ["<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    pieces = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<mask>",
        *images,
        *(f"<0x{i:02X}>" for i in range(256)),
        "▁",
        *_CHARS,
        *("▁" + c for c in _CHARS),
        *("▁" + w for w in _WORDS),
        *_HANZI,
    ]
    vocab = {piece: i for i, piece in enumerate(dict.fromkeys(pieces))}
    extra = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    tokenizer = GemmaTokenizer(
        vocab=vocab, merges=[], add_bos_token=False, model_max_length=4096, extra_special_tokens=extra
    )
    tokenizer.add_special_tokens({"additional_special_tokens": images[:2]})
    ids = {piece: vocab[piece] for piece in pieces[:10]}
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=4096,
        sliding_window=64,
        pad_token_id=0,
        eos_token_id=[1, ids["<end_of_turn>"]],
        bos_token_id=2,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=dict(_VISION, image_size=32, patch_size=4),
        mm_tokens_per_image=4,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
    )
    torch.manual_seed(0)
    model = Gemma3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = [1, ids["<end_of_turn>"]]
    model.generation_config.pad_token_id = 0
    # Random weights would write lone bytes (invalid UTF-8): answers are made of pieces only.
    model.generation_config.suppress_tokens = [vocab[f"<0x{i:02X}>"] for i in range(256)]
    model.save_pretrained(out)
    Gemma3Processor(
        image_processor=Gemma3ImageProcessorPil(size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        image_seq_length=4,
        chat_template=_GEMMA3_TEMPLATE,
    ).save_pretrained(out)


BUILDERS.update(smolvlm=_smolvlm, gemma3=_gemma3)


# --- Chat in Chinese: Qwen3-VL ------------------------------------------------------

# Qwen's special tokens in the order of Qwen3-VL's tokenizer (151643 onwards there).
_QWEN_VL_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<think>",
    "</think>",
]

# Qwen3-VL-Instruct's chat template (chat_template.json), the parts the app uses: ChatML turns
# (<|im_start|>role ... <|im_end|>), a system turn first when given, and each image as
# <|vision_start|><|image_pad|><|vision_end|>, which the processor widens to the image's tokens.
_QWEN3_VL_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0].content is string %}{{- messages[0].content }}"
    "{%- else %}{%- for c in messages[0].content %}{%- if 'text' in c %}{{- c.text }}{%- endif %}{%- endfor %}"
    "{%- endif %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if message.role != 'system' %}{{- '<|im_start|>' + message.role + '\\n' }}"
    "{%- if message.content is string %}{{- message.content }}{%- else %}{%- for c in message.content %}"
    "{%- if c.type == 'image' or 'image' in c %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif 'text' in c %}{{- c.text }}{%- endif %}{%- endfor %}{%- endif %}{{- '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Qwen3.5's template writes the same turns; its generation prompt opens a thought
# (<think>), or with ``enable_thinking=False`` (as the app asks) an empty one to skip.
_QWEN3_5_TEMPLATE = _QWEN3_VL_TEMPLATE.replace(
    "{{- '<|im_start|>assistant\\n' }}",
    "{{- '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- else %}{{- '<think>\\n' }}{%- endif %}",
)


def _qwen_vl(out: Path, family: str) -> None:
    """A Qwen3-VL as Qwen/Qwen3-VL-2B-Instruct ships it (``family`` "qwen3_vl"), or a Qwen3.5 as
    Qwen/Qwen3.5-0.8B does ("qwen3_5"): a ViT on 16 px patches (4 here) taken two frames deep,
    at the image's own aspect ratio (dynamic resolution: the image is resized to a multiple of
    2 x 2 patches within min_pixels..max_pixels), a patch merger joining each 2 x 2 block into
    one image token, and a text model with multimodal RoPE (time, height, width): Qwen3 with
    DeepStack features from a middle vision layer, or Qwen3.5's mix of Gated DeltaNet linear
    attention and full attention (one layer of each here; three to one in the real one).
    Qwen's byte-level BPE with its special tokens in their order, its chat template, and the
    Pillow image processor; <|im_end|> ends an answer. A 32 x 48 image is 8 x 12 patches,
    4 x 6 = 24 image tokens."""
    import json

    import torch
    import transformers
    from transformers import GPT2Tokenizer, Qwen2VLImageProcessorPil

    tokenizer = _byte_level_tokenizer(
        GPT2Tokenizer, _QWEN_VL_SPECIALS, model_max_length=4096, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _QWEN_VL_SPECIALS}
    rope = {"rope_type": "default", "rope_theta": 5_000_000.0, "mrope_interleaved": True}
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=ids["<|endoftext|>"],
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=37,
        num_heads=4,
        patch_size=4,
        spatial_merge_size=2,
        temporal_patch_size=2,
        out_hidden_size=32,
        num_position_embeddings=64,
    )
    if family == "qwen3_vl":
        Config, Model = transformers.Qwen3VLConfig, transformers.Qwen3VLForConditionalGeneration
        # (time, height, width) sections of the rotary frequencies: [24, 20, 20] of 64 in the real one.
        text.update(head_dim=8, rope_parameters={**rope, "mrope_section": [2, 1, 1]})
        vision.update(deepstack_visual_indexes=[1])
    else:
        Config, Model = transformers.Qwen3_5Config, transformers.Qwen3_5ForConditionalGeneration
        # Rotary on a part of each head ([11, 11, 10] of 64 of 256 in the real one).
        text.update(
            head_dim=16,
            layer_types=["linear_attention", "full_attention"],
            linear_num_key_heads=2,
            linear_num_value_heads=2,
            linear_key_head_dim=8,
            linear_value_head_dim=8,
            rope_parameters={**rope, "partial_rotary_factor": 0.5, "mrope_section": [2, 1, 1]},
        )
    config = Config(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Model(config)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    # Random weights would write lone bytes (invalid UTF-8) and markers: answers are words only.
    ends = {ids["<|im_end|>"], ids["<|endoftext|>"]}
    model.generation_config.suppress_tokens = [*range(256), *(i for i in ids.values() if i not in ends)]
    model.save_pretrained(out)
    # min_pixels .. max_pixels: from 2 x 2 merged tokens to 8 x 8 (a 64 x 64 image).
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=4,
        temporal_patch_size=2,
        merge_size=2,
        min_pixels=16 * 16,
        max_pixels=64 * 64,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    # The real checkpoint's files, one per part: preprocessor_config.json, the tokenizer,
    # chat_template.jinja and video_preprocessor_config.json (written by hand: its class needs
    # torchvision), so that a machine with torchvision loads the library's own processor here.
    image_processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
    template = _QWEN3_VL_TEMPLATE if family == "qwen3_vl" else _QWEN3_5_TEMPLATE
    (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    video = {
        "video_processor_type": "Qwen3VLVideoProcessor",
        "processor_class": "Qwen3VLProcessor",
        "patch_size": 4,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "fps": 2,
        "min_frames": 4,
        "max_frames": 768,
        "size": {"shortest_edge": 16 * 16, "longest_edge": 64 * 64 * 2},
        "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3,
        "do_sample_frames": True,
    }
    (out / "video_preprocessor_config.json").write_text(json.dumps(video, indent=1), encoding="utf-8")


BUILDERS["qwen3-vl"] = lambda out: _qwen_vl(out, "qwen3_vl")
BUILDERS["qwen3.5"] = lambda out: _qwen_vl(out, "qwen3_5")
