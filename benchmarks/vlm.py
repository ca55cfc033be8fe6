"""How fast each chat model answers on this machine: python -m benchmarks.vlm [--quick].

The Chat tab's checkpoints, built at their real sizes from their configs with random
weights (no download), answer one short question about one photo through the app's own
ChatPipeline: the time to the first token (the vision encoder and the prompt's prefill),
the decoding speed, and the whole answer of ANSWER_TOKENS tokens. Each model is measured
at its model card's image size (``longest_edge`` N x 512 with N = 4: the photo tiled into
up to 16 tiles of 512 px plus a global view), at N = 2 (the app's default for the small
SmolVLMs) and at N = 1 (one tile). Prints one JSON line per run, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

ANSWER_TOKENS = 20
QUESTION = "What animal is this?"
QUESTION_ZH = "这是什么动物？"  # the Qwen models are asked in Chinese
# (key, vision encoder, text model, pixel-shuffle factor, tile side): SmolVLM's three sizes
# as their config.json files give them (SigLIP base/16 or so400m/14; SmolLM2 135M/360M/1.7B).
_SIGLIP_B16 = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=512, patch_size=16
)
MODELS = {
    "smolvlm-256m": (
        _SIGLIP_B16,
        dict(
            hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3
        ),
        4,
        512,
    ),
    "smolvlm-500m": (
        _SIGLIP_B16,
        dict(
            hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5
        ),
        4,
        512,
    ),
    "smolvlm-2b": (
        dict(
            hidden_size=1152,
            intermediate_size=4304,
            num_hidden_layers=27,
            num_attention_heads=16,
            image_size=384,
            patch_size=14,
        ),
        dict(
            hidden_size=2048,
            intermediate_size=8192,
            num_hidden_layers=24,
            num_attention_heads=32,
            num_key_value_heads=32,
        ),
        3,
        384,
    ),
}


def build(key: str, n: int):
    """The ChatPipeline for ``key`` at its real size, with the tiny SmolVLM's tokenizer and
    chat template and the real image processor at ``longest_edge`` n x tile."""
    import torch
    from transformers import AutoProcessor, Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor

    from pipelines.vlm import ChatPipeline
    from runtime.tiny import tiny_path

    vision, text, scale, tile = MODELS[key]
    tiny = AutoProcessor.from_pretrained(tiny_path("tiny/smolvlm"))
    tokenizer = tiny.tokenizer
    ids = dict(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    config = Idefics3Config(
        text_config=dict(text, vocab_size=49_280, max_position_embeddings=8192, rope_theta=100_000.0, **ids),
        vision_config=vision,
        scale_factor=scale,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = None  # random weights: answer the full length
    image_processor = type(tiny.image_processor)(size={"longest_edge": n * tile}, max_image_size={"longest_edge": tile})
    seq_len = (vision["image_size"] // vision["patch_size"]) ** 2 // scale**2
    processor = Idefics3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_len=seq_len, chat_template=tiny.chat_template
    )
    return ChatPipeline(model, processor, "idefics3", key)


# Gemma 3 4B it, as its config.json gives it: SigLIP so400m/14 at 896 px pooled into 256
# tokens, a 34-layer text model (2,560 wide, 8 heads of 256, 4 key-value heads).
GEMMA3_4B = dict(
    text=dict(
        hidden_size=2560,
        intermediate_size=10240,
        num_hidden_layers=34,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        vocab_size=262_208,
        sliding_window=1024,
        max_position_embeddings=131_072,
        query_pre_attn_scalar=256,
    ),
    vision=dict(
        hidden_size=1152,
        intermediate_size=4304,
        num_hidden_layers=27,
        num_attention_heads=16,
        image_size=896,
        patch_size=14,
    ),
)


def build_gemma3(dtype):
    """Gemma 3 4B at its real size in ``dtype`` (bfloat16, as its card loads it), with the tiny
    Gemma 3's tokenizer (Gemma's special tokens at Gemma's ids) and the real 896 px processor."""
    import torch
    from transformers import AutoProcessor, Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor

    from pipelines.vlm import ChatPipeline
    from runtime.tiny import tiny_path

    tiny = AutoProcessor.from_pretrained(tiny_path("tiny/gemma3"))
    small = Gemma3Config.from_pretrained(tiny_path("tiny/gemma3"))
    config = Gemma3Config(
        text_config=dict(GEMMA3_4B["text"], pad_token_id=0, bos_token_id=2, eos_token_id=1),
        vision_config=GEMMA3_4B["vision"],
        mm_tokens_per_image=256,
        boi_token_index=small.boi_token_index,
        eoi_token_index=small.eoi_token_index,
        image_token_index=small.image_token_index,
    )
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialised in bfloat16: 8 GB, not 16 in float32 first
    try:
        model = Gemma3ForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(default)
    model.generation_config.eos_token_id = None  # random weights: answer the full length
    image_processor = type(tiny.image_processor)(size={"height": 896, "width": 896})
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tiny.tokenizer,
        image_seq_length=256,
        chat_template=tiny.chat_template,
    )
    return ChatPipeline(model, processor, "gemma3", "gemma3-4b")


# The Qwen models that read Chinese, as their config.json files give them (tied embeddings;
# Qwen3.5: three Gated DeltaNet layers (16 heads of 128) to one attention layer (8 heads of
# 256, 2 key-value heads, rotary on a quarter of each head); Qwen3-VL: DeepStack features).
_ROPE = {"rope_type": "default", "mrope_interleaved": True}
QWEN = {
    "qwen3.5-0.8b": (
        "qwen3_5",
        dict(
            hidden_size=1024,
            intermediate_size=3584,
            num_hidden_layers=24,
            num_attention_heads=8,
            num_key_value_heads=2,
            head_dim=256,
            vocab_size=248_320,
            linear_num_key_heads=16,
            linear_num_value_heads=16,
            rope_parameters={
                **_ROPE,
                "rope_theta": 10_000_000.0,
                "partial_rotary_factor": 0.25,
                "mrope_section": [11, 11, 10],
            },
        ),
        dict(depth=12, hidden_size=768, intermediate_size=3072, num_heads=12, out_hidden_size=1024),
    ),
    "qwen3.5-2b": (
        "qwen3_5",
        dict(
            hidden_size=2048,
            intermediate_size=6144,
            num_hidden_layers=24,
            num_attention_heads=8,
            num_key_value_heads=2,
            head_dim=256,
            vocab_size=248_320,
            linear_num_key_heads=16,
            linear_num_value_heads=16,
            rope_parameters={
                **_ROPE,
                "rope_theta": 10_000_000.0,
                "partial_rotary_factor": 0.25,
                "mrope_section": [11, 11, 10],
            },
        ),
        dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, out_hidden_size=2048),
    ),
    "qwen3-vl-2b": (
        "qwen3_vl",
        dict(
            hidden_size=2048,
            intermediate_size=6144,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            vocab_size=151_936,
            rope_parameters={**_ROPE, "rope_theta": 5_000_000.0, "mrope_section": [24, 20, 20]},
        ),
        dict(
            depth=24,
            hidden_size=1024,
            intermediate_size=4096,
            num_heads=16,
            out_hidden_size=2048,
            deepstack_visual_indexes=[5, 11, 17],
        ),
    ),
}
# A photo as a phone uploads it (the app's checks allow it): Qwen reads it at up to
# max_pixels, SmolVLM resizes it to its longest_edge.
PHOTO = (1600, 1200)
CARD_MAX_PIXELS = 16_777_216  # the Qwen cards' preprocessor_config.json: longest_edge


def photo():
    """The cat photo at PHOTO's size (the bundled one is 451 x 300, below any max_pixels)."""
    from PIL import Image

    from runtime import settings

    return Image.open(settings.EXAMPLE_IMAGES_DIR / "cat.jpg").convert("RGB").resize(PHOTO, Image.BICUBIC)


def build_qwen(key: str, max_pixels: int, dtype=None):
    """The ChatPipeline for the Qwen model ``key`` at its real size, random weights in
    ``dtype`` (bfloat16, as its card loads it, by default), with the tiny twin's tokenizer
    (Qwen's special tokens) and chat template and the real image processor (16 px patches
    merged 2 x 2) at ``max_pixels``."""
    import torch
    import transformers
    from transformers import Qwen2VLImageProcessorPil

    from pipelines.vlm import ChatPipeline
    from runtime.processors import QwenImageProcessor, load_processor
    from runtime.tiny import tiny_path

    family, text, vision = QWEN[key]
    twin = "tiny/qwen3.5" if family == "qwen3_5" else "tiny/qwen3-vl"
    tiny = load_processor(str(tiny_path(twin)), family)
    ids = {
        name: tiny.tokenizer.convert_tokens_to_ids(f"<|{name}|>")
        for name in ("image_pad", "video_pad", "vision_start", "vision_end")
    }
    Config, Model = (
        (transformers.Qwen3_5Config, transformers.Qwen3_5ForConditionalGeneration)
        if family == "qwen3_5"
        else (transformers.Qwen3VLConfig, transformers.Qwen3VLForConditionalGeneration)
    )
    config = Config(
        text_config=dict(text, max_position_embeddings=262_144),
        vision_config=dict(vision, patch_size=16),
        image_token_id=ids["image_pad"],
        video_token_id=ids["video_pad"],
        vision_start_token_id=ids["vision_start"],
        vision_end_token_id=ids["vision_end"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype or torch.bfloat16)
    try:
        model = Model(config).eval()
    finally:
        torch.set_default_dtype(default)
    model.generation_config.eos_token_id = None  # random weights: answer the full length
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        min_pixels=65_536,
        max_pixels=max_pixels,
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    processor = QwenImageProcessor(
        image_processor=image_processor, tokenizer=tiny.tokenizer, chat_template=tiny.chat_template
    )
    return ChatPipeline(model, processor, family, key)


def measure(pipe, image: str, repeats: int, answer_tokens: int = ANSWER_TOKENS, question: str = QUESTION) -> dict:
    turns = [{"role": "user", "text": question, "images": [image]}]
    first, totals, result = [], [], None
    pipe(turns, max_new_tokens=2)  # warm-up
    for _ in range(repeats):
        start = time.perf_counter()
        steps = pipe.stream(turns, max_new_tokens=answer_tokens)
        next(steps)
        first.append(time.perf_counter() - start)
        for step in steps:
            result = step
        totals.append(time.perf_counter() - start)
    tokens = len(result["tokens"])
    decode = statistics.median(totals) - statistics.median(first)
    return {
        "prompt_tokens": result["prompt_tokens"],
        "image_tokens": result["image_tokens"],
        "first_token_s": round(statistics.median(first), 2),
        "answer_s": round(statistics.median(totals), 2),
        "tokens_per_s": round((tokens - 1) / decode, 1) if decode > 0 else None,
        "answer_tokens": tokens,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vlm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat (and the 256M model only, without --only)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated models, of: {', '.join([*MODELS, *QWEN, 'gemma3-4b'])}"
    )
    args = parser.parse_args(argv)

    import torch

    from benchmarks import common
    from runtime import settings

    keys = [k for k in args.only.split(",") if k] or (["smolvlm-256m"] if args.quick else list(MODELS))
    image = str(settings.EXAMPLE_IMAGES_DIR / "cat.jpg")
    rows = []
    for key in [k for k in keys if k in QWEN]:  # a 1,600 x 1,200 photo at three image sizes, in bfloat16
        keys.remove(key)
        for side in (336, 448, 640):
            row = {
                "name": f"vlm_{key}_{side}",
                "model": key,
                "longest_edge": f"{side}² px",
                "threads": torch.get_num_threads(),
                "machine": common.machine(),
                **measure(build_qwen(key, side * side), photo(), 1 if args.quick else 3, question=QUESTION_ZH),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    if "gemma3-4b" in keys:  # one 896 px view, in bfloat16 as its card loads it
        keys.remove("gemma3-4b")
        row = {
            "name": "vlm_gemma3-4b",
            "model": "gemma3-4b",
            "longest_edge": 896,
            "threads": torch.get_num_threads(),
            "machine": common.machine(),
            **measure(build_gemma3(torch.bfloat16), image, 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    for key in keys:
        for n in (1, 2, 4):
            pipe = build(key, n)
            row = {
                "name": f"vlm_{key}_n{n}",
                "model": key,
                "longest_edge": n * MODELS[key][3],
                "threads": torch.get_num_threads(),
                "machine": common.machine(),
                **measure(pipe, image, 1 if args.quick else 3),
            }
            del pipe
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\n| model | image side | prompt tokens (image) | first token | tokens/s | 20-token answer |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['longest_edge']} | {r['prompt_tokens']} ({r['image_tokens']}) | "
            f"{r['first_token_s']} s | {r['tokens_per_s']} | {r['answer_s']} s |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def run_vlm(quick: bool, peaks: dict, info: dict) -> list[dict]:
    """``python -m benchmarks --only vlm``: SmolVLM 256M and 500M at real size, one photo, a
    30-token answer. Ours: the app's ChatPipeline as the model cache loads it on a CPU (its
    fast-path dtype, and the 1,024 px images the registry gives the small SmolVLMs);
    baseline: the model card's way, processor and ``generate`` in float32 at 2,048 px. Then
    the language model in int8, against ours, with the share of greedy tokens it keeps."""
    import copy

    import torch

    from benchmarks import common
    from pipelines.vlm import ChatPipeline
    from runtime import registry, settings
    from runtime.devices import pick_dtype
    from runtime.memory import tensor_bytes

    tokens = 30
    image = str(settings.EXAMPLE_IMAGES_DIR / "cat.jpg")
    dtype = pick_dtype("cpu", True)
    turns = [{"role": "user", "text": QUESTION, "images": [image]}]
    rows = []
    for key in ("smolvlm-256m", "smolvlm-500m"):
        card = build(key, 4)  # float32, the card's longest_edge 2,048
        side = registry.CHECKPOINTS[key].defaults["image_side"]
        processor = copy.deepcopy(card.processor)
        processor.image_processor.size = {"longest_edge": side}
        int8 = bool(registry.CHECKPOINTS[key].defaults.get("int8_language_model"))  # as the cache loads it
        ours = ChatPipeline(copy.deepcopy(card.model).to(dtype), processor, "idefics3", key, quantize=int8)
        messages = card.messages(card.check_conversation(turns)[0])

        def baseline(card=card, messages=messages):
            inputs = card.processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
            )
            with torch.inference_mode():
                return card.model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)

        timing = common.compare(
            lambda ours=ours: ours(turns, max_new_tokens=tokens), baseline, repeats=1 if quick else 3
        )
        streamed = measure(ours, image, 1 if quick else 3, answer_tokens=tokens)
        size = "" if key == "smolvlm-256m" else "_" + key.split("-")[1]
        row = common.result(
            f"vlm{size}",
            "s per answer",
            timing["ours"],
            timing["baseline"],
            info,
            precision=f"{str(dtype).replace('torch.', '')}, {side} px images vs float32, 2048 px (the card's)",
            first_token_s=streamed["first_token_s"],
            tokens_per_s=streamed["tokens_per_s"],
            prompt_tokens=streamed["prompt_tokens"],
            baseline_prompt_tokens=int(card.encode(messages)["input_ids"].shape[1]),
            weights_mb=round(sum(tensor_bytes(ours).values()) / 2**20),
            baseline_weights_mb=round(sum(tensor_bytes(card).values()) / 2**20),
        )
        if peaks:  # each path's own FLOPs: ours reads fewer image tokens
            ours_rate = common.count_flops(lambda p=ours: p(turns, max_new_tokens=tokens)) / timing["ours"] / 1e9
            baseline_rate = common.count_flops(baseline) / timing["baseline"] / 1e9
            row |= {
                "ours_gflops_per_s": round(ours_rate, 1),
                "baseline_gflops_per_s": round(baseline_rate, 1),
                "ours_share_of_matmul": round(ours_rate / peaks[str(dtype).replace("torch.", "")], 3),
                "baseline_share_of_matmul": round(baseline_rate / peaks["float32"], 3),
            }
        rows.append(row)

        # The language model in int8 against bfloat16: used where faster with float32's tokens.
        float32 = ChatPipeline(card.model, processor, "idefics3", key)
        plain = ChatPipeline(copy.deepcopy(card.model).to(dtype), processor, "idefics3", key)
        quantized = (
            ours
            if int8
            else ChatPipeline(copy.deepcopy(card.model).to(dtype), processor, "idefics3", key, quantize=True)
        )
        timing = common.compare(
            lambda p=quantized: p(turns, max_new_tokens=tokens),
            lambda p=plain: p(turns, max_new_tokens=tokens),
            repeats=1 if quick else 3,
        )
        reference = [t["id"] for t in float32(turns, max_new_tokens=tokens)["tokens"]]
        kept = [t["id"] for t in quantized(turns, max_new_tokens=tokens)["tokens"]]
        same = sum(a == b for a, b in zip(kept, reference, strict=False)) / len(reference)
        rows.append(
            common.result(
                f"vlm{size}_int8_lm",
                "s per answer",
                timing["ours"],
                timing["baseline"],
                info,
                precision=f"int8 language model vs {str(dtype).replace('torch.', '')}"
                + (" (the app's)" if int8 else ""),
                fidelity=f"{same:.0%} of float32's greedy tokens",
            )
        )
    rows.append(_run_qwen(tokens, quick, info))
    return rows


def _run_qwen(tokens: int, quick: bool, info: dict) -> dict:
    """The cpu profile's chat default (a Qwen model that reads Chinese) asked in Chinese about a
    1,600 x 1,200 photo. Ours: the app's ChatPipeline at the registry's max_pixels; baseline:
    the model card's way, processor and ``generate`` at its image processor's 16 M pixels (the
    photo at full size). Both in bfloat16, as the card loads it (dtype "auto")."""
    import copy

    import torch

    from benchmarks import common
    from pipelines.vlm import ChatPipeline
    from runtime import registry

    key = registry.DEFAULTS["cpu"]["chat"]
    pixels = registry.CHECKPOINTS[key].defaults["max_pixels"]
    card = build_qwen(key, CARD_MAX_PIXELS)
    processor = copy.deepcopy(card.processor)
    processor.image_processor.size = {**dict(processor.image_processor.size), "longest_edge": pixels}
    ours = ChatPipeline(card.model, processor, card.model_type, key)
    image = photo()
    turns = [{"role": "user", "text": QUESTION_ZH, "images": [image]}]
    messages = card.messages(card.check_conversation(turns)[0])

    def baseline():
        inputs = card.processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            enable_thinking=False,
        )
        with torch.inference_mode():
            return card.model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)

    timing = common.compare(lambda: ours(turns, max_new_tokens=tokens), baseline, repeats=1 if quick else 3)
    streamed = measure(ours, image, 1 if quick else 3, answer_tokens=tokens, question=QUESTION_ZH)
    return common.result(
        f"vlm_{key}",
        "s per answer",
        timing["ours"],
        timing["baseline"],
        info,
        precision=f"bfloat16, {pixels:,} px images vs bfloat16, {CARD_MAX_PIXELS:,} px (the card's)",
        first_token_s=streamed["first_token_s"],
        tokens_per_s=streamed["tokens_per_s"],
        prompt_tokens=streamed["prompt_tokens"],
        image=f"{PHOTO[0]} x {PHOTO[1]} px",
        baseline_prompt_tokens=int(card.encode(messages)["input_ids"].shape[1]),
    )
