"""Model workloads: our pipelines with the fast path against the naive float32 way of
running the same model (as in its model card), on real-size architectures with random
weights (benchmarks/models.py).

Each ``run_*`` returns result rows. "Ours" is built the way the app loads a model on
this machine (``pipelines.cache.load_options`` with the fast path on), from a copy of
the baseline's weights, so fidelity compares the same weights in two precisions.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks import models
from benchmarks.common import IMAGES, compare, count_flops, result, with_gflops
from pipelines import cache
from runtime import ort

CAPTION_TOKENS = 20
ANSWER_TOKENS = 5
QUESTION = "what is the man holding in his hand?"
PROMPT = "a watercolor painting of a red fox in a snowy forest"


def photos(count: int) -> list[Image.Image]:
    """``count`` of the bundled photos (repeated as needed), decoded."""
    paths = sorted(IMAGES.glob("*.jpg"))
    decoded = [Image.open(p).convert("RGB") for p in paths]
    return [decoded[i % len(decoded)] for i in range(count)]


def cast_copy(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of ``module`` with floating-point weights in ``dtype``, made tensor by tensor
    (no second float32 copy of a 3 GB UNet on the way)."""
    parameters = {id(p) for p in module.parameters()}
    memo = {}
    for tensor in [*module.parameters(), *module.buffers()]:
        cast = tensor.detach().to(dtype) if tensor.is_floating_point() else tensor.detach().clone()
        memo[id(tensor)] = torch.nn.Parameter(cast, requires_grad=False) if id(tensor) in parameters else cast
    return copy.deepcopy(module, memo)


def _ours_blip(model, options: dict) -> torch.nn.Module:
    """The model as the BLIP pipelines' from_pretrained leave it: float32 text models when
    they are quantised (the pipeline does that), the vision encoder in the fast dtype."""
    ours = cast_copy(model, torch.float32 if options.get("quantize") else options["dtype"])
    ours.vision_model.to(options["dtype"])
    return ours


def _peak(options: dict, peaks: dict) -> dict:
    return {"ours": peaks[str(options["dtype"]).replace("torch.", "")], "float32": peaks["float32"]}


def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Share of positions where two batches of greedy token ids agree."""
    length = min(a.shape[1], b.shape[1])
    return float((a[:, :length] == b[:, :length]).float().mean())


def run_caption(quick: bool, peaks: dict, info: dict) -> list[dict]:
    """BLIP base, one image, 20 new tokens, greedy: our CaptionPipeline against
    processor + generate in float32 as in the model card."""
    from pipelines.captioning import CaptionPipeline

    model, processor = models.blip(vqa=False)
    options = cache.load_options(CaptionPipeline, "cpu", fast=True)
    pipe = CaptionPipeline(_ours_blip(model, options), processor, quantize=options["quantize"])
    for m in (model, pipe.model):  # exactly 20 tokens: a random decoder may stop at any point
        m.text_decoder.generation_config.min_new_tokens = CAPTION_TOKENS
    image = photos(1)[0]

    def baseline():
        inputs = processor(images=image, return_tensors="pt")
        return model.generate(**inputs, max_new_tokens=CAPTION_TOKENS)

    def ours():
        return pipe(image, max_new_tokens=CAPTION_TOKENS, num_beams=1)

    timing = compare(ours, baseline, repeats=2 if quick else 5)
    with torch.inference_mode():
        pixels = processor(images=photos(2 if quick else 8), return_tensors="pt")["pixel_values"]
        fast = pipe.model.generate(pixel_values=pixels.to(options["dtype"]), max_new_tokens=CAPTION_TOKENS)
        plain = model.generate(pixel_values=pixels, max_new_tokens=CAPTION_TOKENS)
        logits = [
            m.text_decoder(input_ids=plain, encoder_hidden_states=m.vision_model(pixel_values=x)[0]).logits
            for m, x in ((pipe.model, pixels.to(options["dtype"])), (model, pixels))
        ]
    return _generation_row(
        "caption", "s per caption", "decoder", timing, baseline, fast, plain, logits, options, peaks, info
    )


def run_vqa(quick: bool, peaks: dict, info: dict) -> list[dict]:
    """BLIP VQA base, one image and question, a 5-token answer, greedy: our VQAPipeline
    against processor + generate in float32 as in the model card."""
    from pipelines.vqa import VQAPipeline

    model, processor = models.blip(vqa=True)
    options = cache.load_options(VQAPipeline, "cpu", fast=True)
    pipe = VQAPipeline(_ours_blip(model, options), processor, "blip", quantize=options["quantize"])
    for m in (model, pipe.model):
        m.text_decoder.generation_config.min_new_tokens = ANSWER_TOKENS
    image = photos(1)[0]

    def baseline():
        inputs = processor(images=image, text=QUESTION, return_tensors="pt")
        return model.generate(**inputs, max_new_tokens=ANSWER_TOKENS)

    def ours():
        return pipe(image, QUESTION, max_new_tokens=ANSWER_TOKENS, num_beams=1)

    timing = compare(ours, baseline, repeats=2 if quick else 5)
    with torch.inference_mode():
        inputs = processor(images=photos(2 if quick else 8), text=[QUESTION] * (2 if quick else 8), return_tensors="pt")
        plain = model.generate(**inputs, max_new_tokens=ANSWER_TOKENS)
        logits = [_answer_logits(model, inputs, plain)]
        inputs["pixel_values"] = inputs["pixel_values"].to(options["dtype"])
        fast = pipe.model.generate(**inputs, max_new_tokens=ANSWER_TOKENS)
        logits.insert(0, _answer_logits(pipe.model, inputs, plain))
    return _generation_row("vqa", "s per answer", "text", timing, baseline, fast, plain, logits, options, peaks, info)


def _answer_logits(model, inputs, answers: torch.Tensor) -> torch.Tensor:
    """BLIP VQA's decoder logits (B, T, vocab) for ``answers`` (B, T) teacher-forced, the
    way its generate runs: image, then the question encoded against it, then the answer
    decoded against the question."""
    image = model.vision_model(pixel_values=inputs["pixel_values"])[0]
    question = model.text_encoder(
        input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], encoder_hidden_states=image
    )[0]
    return model.text_decoder(input_ids=answers, encoder_hidden_states=question).logits


def _generation_row(name, unit, int8_part, timing, baseline, fast, plain, logits, options, peaks, info) -> list[dict]:
    """The result of a generating workload: its precision, its GFLOP/s and how far the fast
    path is from float32. Greedy tokens (``fast`` vs ``plain``) diverge for good after the
    first near tie, so also: both models teacher-forced on float32's tokens (``logits``:
    fast, float32), the share of positions whose next-token choice agrees and the cosine
    similarity of their logits."""
    precision = f"{options['dtype']}".replace("torch.", "") + (f" + int8 {int8_part}" if options["quantize"] else "")
    ours_logits, plain_logits = (x.float()[:, :-1] for x in logits)  # the last position predicts past the end
    forced = float((ours_logits.argmax(-1) == plain_logits.argmax(-1)).float().mean())
    cosine = float(torch.nn.functional.cosine_similarity(ours_logits, plain_logits, dim=-1).mean())
    fidelity = (
        f"greedy tokens agree {_agreement(fast, plain):.0%}; teacher-forced {forced:.0%}, logits cosine {cosine:.4f}"
    )
    row = result(name, unit, timing["ours"], timing["baseline"], info, precision=precision, fidelity=fidelity)
    return [with_gflops(row, count_flops(baseline), timing["ours"], timing["baseline"], _peak(options, peaks))]


def run_embed_images(quick: bool, peaks: dict, info: dict) -> list[dict]:
    """CLIP ViT-B/32 embeddings of 64 images (16 with --quick): RetrievalPipeline.embed_images
    (batches, fast dtype) against one image at a time in float32."""
    from pipelines.retrieval import RetrievalPipeline

    model, processor = models.clip_b32()
    options = cache.load_options(RetrievalPipeline, "cpu", fast=True)
    with onnx_data_dir():  # an export ``auto`` asks for goes to a temporary directory
        pipe = RetrievalPipeline(cast_copy(model, options["dtype"]), processor, cpu_runtime=options["cpu_runtime"])
    images = photos(16 if quick else 64)

    def baseline():
        with torch.no_grad():
            return [
                model.get_image_features(**processor(images=image, return_tensors="pt")).pooler_output
                for image in images
            ]

    def ours():
        return pipe.embed_images(images)

    timing = compare(ours, baseline, repeats=2 if quick else 5)
    plain = torch.cat(baseline()).float()
    plain = (plain / plain.norm(dim=-1, keepdim=True)).numpy()
    cosine = np.sum(ours() * plain, axis=1)  # both unit vectors
    runtime = " on ONNX Runtime" if pipe.runtime == "onnxruntime" else ""
    row = result(
        "embed_images",
        f"s per {len(images)} images",
        timing["ours"],
        timing["baseline"],
        info,
        precision=str(options["dtype"]).replace("torch.", "") + runtime,
        fidelity=f"cosine to float32: mean {cosine.mean():.4f}, min {cosine.min():.4f}",
    )
    flops = count_flops(baseline)
    rows = [with_gflops(row, flops, timing["ours"], timing["baseline"], _peak(options, peaks))]
    if pipe.runtime != "onnxruntime" and ort.available():  # what CPU_RUNTIME=onnxruntime (auto without bf16) gives
        with onnx_data_dir():
            start = time.perf_counter()
            onnx = RetrievalPipeline(cast_copy(model, torch.float32), processor, cpu_runtime="onnxruntime")
            export_s = time.perf_counter() - start
        timing = compare(lambda: onnx.embed_images(images), baseline, repeats=2 if quick else 5)
        cosine = np.sum(onnx.embed_images(images) * plain, axis=1)
        row = result(
            "embed_images_onnxruntime",
            f"s per {len(images)} images",
            timing["ours"],
            timing["baseline"],
            info,
            precision=f"float32 on ONNX Runtime ({onnx.runtime}; export and check {export_s:.0f} s, once)",
            fidelity=f"cosine to float32: mean {cosine.mean():.4f}, min {cosine.min():.4f}",
        )
        rows.append(
            with_gflops(
                row, flops, timing["ours"], timing["baseline"], {"ours": peaks["float32"], "float32": peaks["float32"]}
            )
        )
    return rows


@contextlib.contextmanager
def onnx_data_dir():
    """ONNX Runtime exports of random weights go to a temporary data directory, not the app's."""
    from runtime import settings

    saved = settings.DATA_DIR
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        settings.DATA_DIR = Path(tmp)
        try:
            yield
        finally:
            settings.DATA_DIR = saved


def run_text_to_image(quick: bool, peaks: dict, info: dict) -> list[dict]:
    """SD-Turbo's size, one 512x512 image (256x256 with --quick), 1 step, no guidance, the
    full image (text encoder, UNet, VAE decoder): TextToImagePipeline against diffusers'
    pipeline in float32. With TAESD available (decoder="taesd"), that too."""
    from diffusers import StableDiffusionPipeline

    from pipelines.text_to_image import TextToImagePipeline

    side = 256 if quick else 512
    baseline_pipe = models.sd_turbo()
    options = cache.load_options(TextToImagePipeline, "cpu", fast=True)
    components = {
        name: cast_copy(c, options["dtype"]) if isinstance(c, torch.nn.Module) else c
        for name, c in baseline_pipe.components.items()
    }
    pipe = TextToImagePipeline(StableDiffusionPipeline(**components))
    settings = dict(num_inference_steps=1, guidance_scale=0.0, width=side, height=side)

    def baseline():
        return baseline_pipe(PROMPT, generator=torch.Generator().manual_seed(0), **settings).images[0]

    def ours(**extra):
        return pipe(PROMPT, seed=0, **settings, **extra)[0]

    repeats = 1 if quick else 3
    timing = compare(ours, baseline, repeats=repeats)
    flops = count_flops(baseline)
    difference = np.abs(np.asarray(ours(), np.float32) - np.asarray(baseline(), np.float32)).mean()
    precision = str(options["dtype"]).replace("torch.", "")
    rows = [
        with_gflops(
            result(
                "text_to_image",
                f"s per {side}x{side} image",
                timing["ours"],
                timing["baseline"],
                info,
                precision=precision,
                fidelity=f"mean pixel difference to float32 {difference:.1f}/255",
            ),
            flops,
            timing["ours"],
            timing["baseline"],
            _peak(options, peaks),
        )
    ]
    if "decoder" in inspect.signature(pipe.__call__).parameters and hasattr(pipe, "taesd"):
        from diffusers import AutoencoderTiny

        torch.manual_seed(0)
        pipe.taesd = AutoencoderTiny().to(options["dtype"]).eval()  # TAESD's architecture, random weights
        taesd = compare(lambda: ours(decoder="taesd"), baseline, repeats=repeats)
        rows.append(
            result(
                "text_to_image_taesd",
                f"s per {side}x{side} image",
                taesd["ours"],
                taesd["baseline"],
                info,
                precision=precision + " + TAESD decoder",
            )
        )
    return rows
