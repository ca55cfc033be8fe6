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
# What Qwen3.5's sizes share; each adds its width and its ViT.
_QWEN3_5_TEXT = dict(
    num_hidden_layers=24,
    num_attention_heads=8,
    num_key_value_heads=2,
    head_dim=256,
    vocab_size=248_320,
    linear_num_key_heads=16,
    linear_num_value_heads=16,
    rope_parameters={**_ROPE, "rope_theta": 10_000_000.0, "partial_rotary_factor": 0.25, "mrope_section": [11, 11, 10]},
)
QWEN = {
    "qwen3.5-0.8b": (
        "qwen3_5",
        dict(_QWEN3_5_TEXT, hidden_size=1024, intermediate_size=3584),
        dict(depth=12, hidden_size=768, intermediate_size=3072, num_heads=12, out_hidden_size=1024),
    ),
    "qwen3.5-2b": (
        "qwen3_5",
        dict(_QWEN3_5_TEXT, hidden_size=2048, intermediate_size=6144),
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


def speeds(runs: dict, repeats: int, answer_tokens: int = ANSWER_TOKENS) -> dict[str, dict]:
    """For each of ``runs`` (name -> a function answering with ``n`` new tokens), the time to
    the first token (an answer of one token: the vision encoder, the prompt's prefill and one
    step) and the decoding speed after it (an answer of ``answer_tokens``), medians of
    ``repeats``, the runs taking turns in an order that flips each round so that a busier
    moment of a shared machine hits them alike. Also the process's CPU seconds per thread,
    which load from other processes inflates less than the wall time."""
    import torch

    threads = torch.get_num_threads()
    for run in runs.values():
        run(2)  # warm-up
    times = {name: {"first": [], "all": [], "first_cpu": [], "all_cpu": []} for name in runs}
    for i in range(repeats):
        for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
            for tokens, kind in ((1, "first"), (answer_tokens, "all")):
                start, cpu = time.perf_counter(), time.process_time()
                runs[name](tokens)
                times[name][kind].append(time.perf_counter() - start)
                times[name][f"{kind}_cpu"].append((time.process_time() - cpu) / threads)
    rows = {}
    for name, t in times.items():
        first, whole = statistics.median(t["first"]), statistics.median(t["all"])
        first_cpu, whole_cpu = statistics.median(t["first_cpu"]), statistics.median(t["all_cpu"])
        rows[name] = {
            "first_token_s": round(first, 2),
            "answer_s": round(whole, 2),
            "tokens_per_s": round((answer_tokens - 1) / (whole - first), 1) if whole > first else None,
            "first_token_cpu_s": round(first_cpu, 2),
            "tokens_per_cpu_s": round((answer_tokens - 1) / (whole_cpu - first_cpu), 1)
            if whole_cpu > first_cpu
            else None,
            "answer_tokens": answer_tokens,
        }
    return rows


def asking(pipe, turns: list[dict]):
    """``pipe`` answering ``turns`` with n new tokens, as ``speeds`` runs it."""
    return lambda n: pipe(turns, max_new_tokens=n)


def prompt_size(pipe, turns: list[dict]) -> dict:
    result = pipe(turns, max_new_tokens=1)
    return {"prompt_tokens": result["prompt_tokens"], "image_tokens": result["image_tokens"]}


def measure(pipe, image, repeats: int, answer_tokens: int = ANSWER_TOKENS, question: str = QUESTION) -> dict:
    """``speeds`` of one pipeline asked ``question`` about ``image``, and its prompt's size.
    Random weights don't stop: every answer has ``answer_tokens`` tokens."""
    turns = [{"role": "user", "text": question, "images": [image]}]
    return prompt_size(pipe, turns) | speeds({"pipe": asking(pipe, turns)}, repeats, answer_tokens)["pipe"]


def logits_error(pipes: dict, reference, turns: list[dict], ids: list[int]) -> dict[str, dict]:
    """How far each pipeline's next-token logits are from ``reference``'s (float32) over an
    answer: the prompt and the answer ``ids`` read in one pass by each (teacher forcing, so
    one early difference doesn't change every later position). With random weights the
    likeliest tokens lie close together and greedy tokens part at the slightest change, so
    the logits themselves are compared: the relative error ||l - l_ref|| / ||l_ref|| and the
    share of positions whose likeliest token is the same."""
    import torch

    from pipelines.vlm import with_tokens

    messages = reference.messages(reference.check_conversation(turns)[0])

    def logits(pipe):
        inputs = with_tokens(pipe.encode(messages), ids)
        with torch.inference_mode():
            return pipe.model(**inputs).logits[0, -len(ids) - 1 : -1].float()  # (answer, vocab)

    expected = logits(reference)
    found = {}
    for name, pipe in pipes.items():
        got = logits(pipe)
        found[name] = {
            "logits_error": round(float((got - expected).norm() / expected.norm()), 4),
            "top1_same": round(float((got.argmax(-1) == expected.argmax(-1)).float().mean()), 2),
        }
    return found


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
    rows += _run_qwen(tokens, quick, info)
    return rows


def _run_qwen(tokens: int, quick: bool, info: dict) -> list[dict]:
    """The cpu profile's chat default (a Qwen model that reads Chinese) asked in Chinese about a
    1,600 x 1,200 photo. Ours: the app's ChatPipeline as the model cache loads it on a CPU, at
    the registry's max_pixels; baseline: the model card's way, processor and ``generate`` in
    bfloat16 (its dtype "auto") at its image processor's 16 M pixels (the photo at full size).
    Then the language model in int8 against bfloat16 at the app's image size, timed in turns,
    with how far each one's logits are from float32's."""
    import copy

    import torch

    from benchmarks import common
    from pipelines.vlm import ChatPipeline
    from runtime import registry

    key = registry.DEFAULTS["cpu"]["chat"]
    defaults = registry.CHECKPOINTS[key].defaults
    pixels = defaults["max_pixels"]
    int8 = bool(defaults.get("int8_language_model"))  # as the model cache loads it on a CPU
    repeats = 1 if quick else 3
    card = build_qwen(key, CARD_MAX_PIXELS)
    processor = copy.deepcopy(card.processor)
    processor.image_processor.size = {**dict(processor.image_processor.size), "longest_edge": pixels}
    plain = ChatPipeline(card.model, processor, card.model_type, key)
    quantized = ChatPipeline(copy.deepcopy(card.model), processor, card.model_type, key, quantize=True)
    ours = quantized if int8 else plain
    image = photo()
    turns = [{"role": "user", "text": QUESTION_ZH, "images": [image]}]

    messages = card.messages(card.check_conversation(turns)[0])

    def baseline(n: int):  # the card's way: its processor and generate, the photo at full size
        inputs = card.processor.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            enable_thinking=False,
        )
        with torch.inference_mode():
            return card.model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False)

    # Ours and the card's way in turns: the first token, the decoding speed, the whole answer.
    speed = speeds({"ours": asking(ours, turns), "card": baseline}, repeats, answer_tokens=tokens)
    precision = "int8 language model, bfloat16 vision" if int8 else "bfloat16"
    rows = [
        common.result(
            f"vlm_{key}",
            "s per answer",
            speed["ours"]["answer_s"],
            speed["card"]["answer_s"],
            info,
            precision=f"{precision}, {pixels:,} px images vs bfloat16, {CARD_MAX_PIXELS:,} px (the card's)",
            image=f"{PHOTO[0]} x {PHOTO[1]} px",
            **prompt_size(ours, turns),
            baseline_prompt_tokens=prompt_size(card, turns)["prompt_tokens"],
            **speed["ours"],
            **{f"baseline_{name}": value for name, value in speed["card"].items()},
        )
    ]

    # int8 against bfloat16, both at the app's image size; the logits against float32's.
    speed = speeds({"int8": asking(quantized, turns), "bfloat16": asking(plain, turns)}, repeats, answer_tokens=tokens)
    float32 = ChatPipeline(copy.deepcopy(card.model).float(), processor, card.model_type, key)
    answer = [t["id"] for t in float32(turns, max_new_tokens=tokens)["tokens"]]
    error = logits_error({"int8": quantized, "bfloat16": plain}, float32, turns, answer)
    del float32
    rows.append(
        common.result(
            f"vlm_{key}_int8_lm",
            "s per answer",
            speed["int8"]["answer_s"],
            speed["bfloat16"]["answer_s"],
            info,
            precision="int8 language model vs bfloat16" + (" (the app's)" if int8 else ""),
            fidelity=(
                f"logits {error['int8']['logits_error']:.1%} from float32's, top-1 the same at "
                f"{error['int8']['top1_same']:.0%} of positions (bfloat16: {error['bfloat16']['logits_error']:.1%}, "
                f"{error['bfloat16']['top1_same']:.0%})"
            ),
            **speed["int8"],
            **{f"baseline_{name}": value for name, value in speed["bfloat16"].items()},
        )
    )
    return rows
