"""The GPU check: the ``gpu`` profile's models at their real sizes with random weights, run
through the app's own code on one NVIDIA GPU against the naive float32 way, in minutes.

    bash benchmarks/gpu_check.sh              # one NVIDIA GPU, no network; JSON lines + Markdown
    python -m benchmarks.gpu_check --smoke    # the same code on tiny configs, on any machine
    python -m benchmarks.gpu_check --dry-run  # what it would run; builds nothing

Workloads (the ``gpu`` profile's defaults, runtime/registry.py): caption with BLIP large
(ViT-L/16 at 384 px), VQA with BLIP VQA large, the VLM (Gemma 3 4B: time to the first token,
tokens/s), text-to-image with SD-Turbo and SDXL-Turbo (512 px, 1 step, no guidance; SDXL-Turbo
also under diffusers' model CPU offload) and image embeddings with SigLIP 2 so400m/14 at 384 px.

"Ours" is the model as the cache loads it on CUDA: the dtype ``pick_dtype`` picks (bfloat16
where the GPU has it, else float16), PyTorch's SDPA attention (BLIP's ViT through
``fused_vit_attention``), and for text-to-image the placement of ``_place`` (on the GPU when
the weights fit 1.5 times in its free memory, else model CPU offload), with the peak memory
next to the memory budget (``default_budget``). The baseline is float32 on the same GPU, as
the model cards' plain code runs it. To hold one copy of the weights at a time, the
baseline runs first and the model is then cast in place (not alternating, unlike the CPU
benchmarks: a GPU's speed drifts little within minutes). Fidelity compares the two outputs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

CAPTION_TOKENS = 20
ANSWER_TOKENS = 5
QUESTION = "what is the man holding in his hand?"
PROMPT = "a watercolor painting of a red fox in a snowy forest"
WORKLOADS = {
    "caption": "BLIP large (ViT-L/16 at 384 px, BERT-base decoder), one image, 20 tokens, greedy",
    "vqa": "BLIP VQA large (ViT-L/16 at 384 px), one question, a 5-token answer, greedy",
    "vlm": "Gemma 3 4B (SigLIP so400m at 896 px, 34-layer text model), one question, 20 tokens",
    "sd_turbo": "SD-Turbo (SD 2.1 UNet, OpenCLIP ViT-H text encoder, SD VAE), 512x512, 1 step",
    "sdxl_turbo": "SDXL-Turbo (SDXL UNet, CLIP ViT-L + OpenCLIP bigG text encoders, VAE), 512x512, 1 step",
    "embed_images": "SigLIP 2 so400m/14 at 384 px, 64 images in batches of 16",
}
BUDGET_S = 420  # the workloads still to run are skipped past this (the script's own limit is 8 minutes)


# --- Architectures: real sizes, or tiny ones for --smoke ------------------------


def blip(vqa: bool, smoke: bool):
    """(float32 BLIP large, processor); BLIP's text side is BERT-base in every size."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipForQuestionAnswering, BlipImageProcessorPil

    from benchmarks.models import _blip_config

    config, tokenizer = _blip_config()
    side = 32 if smoke else 384
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16)
    if smoke:
        vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, patch_size=8)
        config.text_config.update(
            dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
        )
    config = BlipConfig(text_config=config.text_config.to_dict(), vision_config=dict(vision, image_size=side))
    model = (BlipForQuestionAnswering if vqa else BlipForConditionalGeneration)(config).eval()
    model.generation_config.max_length = None
    from transformers import BlipProcessor

    processor = BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": side, "width": side}), tokenizer=tokenizer
    )
    return model, processor


def sdxl_turbo(smoke: bool):
    """A float32 StableDiffusionXLPipeline of SDXL-Turbo's size: the SDXL UNet (2.6 B
    parameters), CLIP ViT-L's and OpenCLIP bigG's text towers, the SDXL VAE."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from benchmarks.models import CLIP_VOCAB, clip_tokenizer

    ids = dict(bos_token_id=CLIP_VOCAB - 2, eos_token_id=CLIP_VOCAB - 1, pad_token_id=CLIP_VOCAB - 1)
    if smoke:
        small = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
        text, text_2 = dict(small, projection_dim=32), dict(small, projection_dim=32)
        unet = dict(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=8,
            attention_head_dim=(2, 4),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=64,
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=32 + 6 * 8,
        )
        vae = dict(
            block_out_channels=(32, 64),
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            layers_per_block=1,
        )
    else:
        text = dict(
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            hidden_act="quick_gelu",
            projection_dim=768,
        )
        text_2 = dict(
            hidden_size=1280,
            intermediate_size=5120,
            num_hidden_layers=32,
            num_attention_heads=20,
            hidden_act="gelu",
            projection_dim=1280,
        )
        unet = dict(
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            sample_size=128,
            transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=2048,
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
        )
        vae = dict(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
        )
    tokenizer = clip_tokenizer()
    pipe = StableDiffusionXLPipeline(
        vae=AutoencoderKL(**vae, scaling_factor=0.13025),
        text_encoder=CLIPTextModel(CLIPTextConfig(vocab_size=CLIP_VOCAB, **text, **ids)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(vocab_size=CLIP_VOCAB, **text_2, **ids)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=UNet2DConditionModel(**unet, use_linear_projection=True, addition_embed_type="text_time"),
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing"
        ),
    )
    return _eval(pipe)


def sd_turbo(smoke: bool):
    if not smoke:
        from benchmarks.models import sd_turbo as real

        return real()
    from diffusers import StableDiffusionPipeline

    xl = sdxl_turbo(smoke=True)  # the tiny SD pipeline: the same tiny parts without SDXL's conditioning
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        attention_head_dim=(2, 4),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    pipe = StableDiffusionPipeline(
        vae=xl.vae,
        text_encoder=xl.text_encoder,
        tokenizer=xl.tokenizer,
        unet=unet,
        scheduler=xl.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return _eval(pipe)


def _eval(pipe):
    pipe.set_progress_bar_config(disable=True)
    for component in pipe.components.values():
        if hasattr(component, "eval"):
            component.eval()
    return pipe


def siglip(smoke: bool):
    """(float32 SigLIP so400m/14 at 384 px, processor): what siglip2-so400m-patch14-384 loads as."""
    from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel

    side = 32 if smoke else 384
    tower = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16)
    if smoke:
        tower = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4)
    config = SiglipConfig(
        vision_config=dict(tower, image_size=side, patch_size=8 if smoke else 14),
        text_config=dict(
            tower,
            vocab_size=1000 if smoke else 256_000,
            max_position_embeddings=64,
            projection_size=tower["hidden_size"],
        ),
    )
    return SiglipModel(config).eval(), _ImagesOnly(SiglipImageProcessorPil(size={"height": side, "width": side}))


class _ImagesOnly:
    """A processor for embed_images only (no 256k-token tokenizer to build)."""

    def __init__(self, image_processor):
        self.image_processor = image_processor

    def __call__(self, images, return_tensors="pt"):
        return self.image_processor(images=images, return_tensors=return_tensors)


# --- Timing ------------------------------------------------------------------------


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> tuple[float, object]:
    """Median seconds of ``fn`` after one warm-up, and its last output."""
    output = fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), output


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gb(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.startswith("cuda") else None


def _name(dtype) -> str:
    return str(dtype).replace("torch.", "")


# --- Workloads -----------------------------------------------------------------------


def run_caption(device, dtype, smoke, repeats, info, vqa: bool = False) -> list[dict]:
    import torch

    from benchmarks.common import result
    from benchmarks.workloads import _agreement, photos
    from pipelines.captioning import CaptionPipeline
    from pipelines.vqa import VQAPipeline

    with torch.device(device):
        torch.manual_seed(0)
        model, processor = blip(vqa, smoke)
    tokens = ANSWER_TOKENS if vqa else CAPTION_TOKENS
    model.text_decoder.generation_config.min_new_tokens = tokens
    image = photos(1)[0]
    text = dict(text=QUESTION) if vqa else {}

    def baseline():
        with torch.no_grad():
            inputs = processor(images=image, return_tensors="pt", **text).to(device)
            return model.generate(**inputs, max_new_tokens=tokens)

    _reset_peak(device)
    baseline_s, plain = timed(baseline, device, repeats)
    baseline_peak = _peak_gb(device)
    model.to(dtype)  # as from_pretrained leaves it on CUDA: the fast dtype, no int8
    if vqa:
        pipe = VQAPipeline(model, processor, "blip")

        def ours():
            return pipe(image, QUESTION, max_new_tokens=tokens, num_beams=1)
    else:
        pipe = CaptionPipeline(model, processor)

        def ours():
            return pipe(image, max_new_tokens=tokens, num_beams=1)

    _reset_peak(device)
    ours_s, _ = timed(ours, device, repeats)
    with torch.inference_mode():
        inputs = processor(images=image, return_tensors="pt", **text).to(device)
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        fast = model.generate(**inputs, max_new_tokens=tokens)
    name = "vqa" if vqa else "caption"
    return [
        result(
            name,
            "s per answer" if vqa else "s per caption",
            ours_s,
            baseline_s,
            info,
            precision=f"{_name(dtype)}, SDPA",
            peak_gb=_peak_gb(device),
            baseline_peak_gb=baseline_peak,
            fidelity=f"greedy tokens agree {_agreement(fast, plain):.0%}",
        )
    ]


def run_vqa(device, dtype, smoke, repeats, info) -> list[dict]:
    return run_caption(device, dtype, smoke, repeats, info, vqa=True)


def run_vlm(device, dtype, smoke, repeats, info) -> list[dict]:
    """Gemma 3 4B through the app's ChatPipeline: float32, then cast to ``dtype``."""
    import torch

    from benchmarks.common import result
    from benchmarks.vlm import build_gemma3, measure
    from runtime import settings

    image = str(settings.EXAMPLE_IMAGES_DIR / "cat.jpg")
    with torch.device(device):
        if smoke:  # the tiny Gemma 3's own config
            from transformers import AutoProcessor, Gemma3ForConditionalGeneration

            from pipelines.vlm import ChatPipeline
            from runtime.tiny import tiny_path

            torch.manual_seed(0)
            source = tiny_path("tiny/gemma3")
            model = Gemma3ForConditionalGeneration.from_pretrained(source, dtype=torch.float32, device_map=device)
            model.generation_config.eos_token_id = None
            pipe = ChatPipeline(model.eval(), AutoProcessor.from_pretrained(source), "gemma3", "gemma3-4b")
        else:
            pipe = build_gemma3(torch.float32)
    _reset_peak(device)
    baseline = measure(pipe, image, repeats)
    baseline_peak = _peak_gb(device)
    pipe.model.to(dtype)
    _reset_peak(device)
    ours = measure(pipe, image, repeats)
    return [
        result(
            "vlm_gemma3-4b",
            "s per 20-token answer",
            ours["answer_s"],
            baseline["answer_s"],
            info,
            precision=f"{_name(dtype)}, SDPA",
            first_token_s=ours["first_token_s"],
            tokens_per_s=ours["tokens_per_s"],
            baseline_tokens_per_s=baseline["tokens_per_s"],
            peak_gb=_peak_gb(device),
            baseline_peak_gb=baseline_peak,
            fidelity=f"first token {ours['first_token_s']} s, {ours['tokens_per_s']} tokens/s",
        )
    ]


def run_text_to_image(device, dtype, smoke, repeats, info, xl: bool = False) -> list[dict]:
    import numpy as np
    import torch

    from benchmarks.common import result
    from pipelines.text_to_image import TextToImagePipeline, _place
    from runtime.memory import default_budget

    side = 64 if smoke else 512
    settings = dict(num_inference_steps=1, guidance_scale=0.0, width=side, height=side)
    with torch.device(device):
        torch.manual_seed(0)
        pipe = sdxl_turbo(smoke) if xl else sd_turbo(smoke)

    def baseline():
        return pipe(PROMPT, generator=torch.Generator(device).manual_seed(0), **settings).images[0]

    _reset_peak(device)
    baseline_s, plain = timed(baseline, device, repeats)
    baseline_peak = _peak_gb(device)
    # As TextToImagePipeline.from_pretrained leaves it: cast, then placed by _place from the CPU.
    pipe.to("cpu", dtype)
    _place(pipe, device)
    ours_pipe = TextToImagePipeline(pipe)
    placement = "on the GPU" if pipe.unet.device.type == "cuda" else "model CPU offload"
    placement = placement if device.startswith("cuda") else "on the CPU"

    def ours():
        return ours_pipe(PROMPT, seed=0, **settings)[0]

    _reset_peak(device)
    ours_s, image = timed(ours, device, repeats)
    difference = np.abs(np.asarray(image, np.float32) - np.asarray(plain, np.float32)).mean()
    name = "sdxl_turbo" if xl else "sd_turbo"
    budget = default_budget(device) / 2**30 if device.startswith("cuda") else None
    rows = [
        result(
            name,
            f"s per {side}x{side} image",
            ours_s,
            baseline_s,
            info,
            precision=f"{_name(dtype)}, {placement}",
            peak_gb=_peak_gb(device),
            baseline_peak_gb=baseline_peak,
            budget_gb=budget and round(budget, 1),
            fidelity=f"mean pixel difference to float32 {difference:.1f}/255",
        )
    ]
    if xl and device.startswith("cuda") and placement == "on the GPU":  # the offload path, timed too
        pipe.to("cpu")
        pipe.enable_model_cpu_offload()
        _reset_peak(device)
        offload_s, _ = timed(ours, device, repeats)
        rows.append(
            result(
                "sdxl_turbo_offload",
                f"s per {side}x{side} image",
                offload_s,
                baseline_s,
                info,
                precision=f"{_name(dtype)}, model CPU offload",
                peak_gb=_peak_gb(device),
            )
        )
        pipe.remove_all_hooks()
    return rows


def run_sd_turbo(device, dtype, smoke, repeats, info) -> list[dict]:
    return run_text_to_image(device, dtype, smoke, repeats, info, xl=False)


def run_sdxl_turbo(device, dtype, smoke, repeats, info) -> list[dict]:
    return run_text_to_image(device, dtype, smoke, repeats, info, xl=True)


def run_embed_images(device, dtype, smoke, repeats, info) -> list[dict]:
    import numpy as np
    import torch

    from benchmarks.common import result
    from benchmarks.workloads import photos
    from pipelines.retrieval import RetrievalPipeline

    with torch.device(device):
        torch.manual_seed(0)
        model, processor = siglip(smoke)
    images = photos(16 if smoke else 64)

    def baseline():
        with torch.no_grad():
            return [model.get_image_features(**processor(images=[image]).to(device)).pooler_output for image in images]

    _reset_peak(device)
    baseline_s, plain = timed(baseline, device, repeats)
    baseline_peak = _peak_gb(device)
    plain = torch.cat(plain).float()
    plain = (plain / plain.norm(dim=-1, keepdim=True)).cpu().numpy()
    pipe = RetrievalPipeline(model.to(dtype), processor)
    _reset_peak(device)
    ours_s, embeddings = timed(lambda: pipe.embed_images(images), device, repeats)
    cosine = np.sum(embeddings * plain, axis=1)
    return [
        result(
            "embed_images",
            f"s per {len(images)} images",
            ours_s,
            baseline_s,
            info,
            precision=f"{_name(dtype)}, batches of 16",
            peak_gb=_peak_gb(device),
            baseline_peak_gb=baseline_peak,
            fidelity=f"cosine to float32: mean {cosine.mean():.4f}, min {cosine.min():.4f}",
        )
    ]


RUNS = {
    "caption": run_caption,
    "vqa": run_vqa,
    "vlm": run_vlm,
    "sd_turbo": run_sd_turbo,
    "sdxl_turbo": run_sdxl_turbo,
    "embed_images": run_embed_images,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help=f"comma-separated workloads, of: {', '.join(WORKLOADS)}")
    parser.add_argument("--smoke", action="store_true", help="tiny configs, one repeat, on any device (a test)")
    parser.add_argument("--dry-run", action="store_true", help="print what would run and stop")
    parser.add_argument("--out", default=None, help="write PREFIX.jsonl and PREFIX.md")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S, help="skip what is left after this many seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(WORKLOADS)
    unknown = [name for name in chosen if name not in WORKLOADS]
    if unknown:
        raise SystemExit(f"Unknown workload(s) {unknown}; available = {list(WORKLOADS)}")
    if args.dry_run:
        for name in chosen:
            print(f"{name}: {WORKLOADS[name]}")
        return 0

    import torch

    from benchmarks import common
    from runtime.devices import configure_torch, pick_device, pick_dtype

    configure_torch()
    device = pick_device()
    if not device.startswith("cuda") and not args.smoke:
        raise SystemExit("No CUDA GPU here: the GPU check needs one (--smoke runs its code on tiny configs anywhere).")
    dtype = pick_dtype(device)
    info = common.machine()
    print(f"# {common.machine_line(info)}; {device}, {_name(dtype)}", file=sys.stderr, flush=True)
    repeats = 1 if args.smoke else 3
    rows, start = [], time.perf_counter()
    for name in chosen:
        if time.perf_counter() - start > args.budget_s:
            rows.append(
                common.result(name, "skipped", 0.0, None, info, precision=f"skipped: past {args.budget_s:.0f} s")
            )
            print(json.dumps(rows[-1]), flush=True)
            continue
        print(f"# {name} ...", file=sys.stderr, flush=True)
        for row in RUNS[name](device, dtype, args.smoke, repeats, info):
            rows.append(row)
            print(json.dumps(row), flush=True)
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    table = common.markdown(rows)
    print("\n" + table)
    if args.out:
        Path(f"{args.out}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        Path(f"{args.out}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
