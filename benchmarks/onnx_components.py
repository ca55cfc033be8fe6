"""Which components gain from ONNX Runtime: each one exported (runtime/ort.py) and run
against PyTorch in float32 with the same weights, alternately, in one run.

    python -m benchmarks --only onnx_components

Baseline is PyTorch as the app runs the component in float32 (BLIP's ViT with fused
attention, runtime/precision.py); "ours" is the ONNX Runtime session. A component is
wired into a pipeline only where this ratio is above 1 (CLIP's and SigLIP's towers); the fidelity is
the largest difference between the two outputs. Real-size architectures, random weights.
"""

from __future__ import annotations

import copy
import time

import torch

from benchmarks import models
from benchmarks.common import compare, result
from benchmarks.workloads import onnx_data_dir
from runtime import ort
from runtime.precision import fused_vit_attention

LABELS = ["cat", "dog", "rocket", "coffee", "red fox", "snowy forest", "bicycle", "teacher"] * 2


class _Vision(torch.nn.Module):
    """BLIP's ViT as generate calls it: pixel_values (B, 3, 384, 384) -> (B, 577, 768)."""

    def __init__(self, vision_model):
        super().__init__()
        self.vision_model = vision_model

    def forward(self, pixel_values):
        return self.vision_model(pixel_values=pixel_values)[0]


def _components(quick: bool):
    """(name, unit, module, example inputs, dynamic axes) of each component measured."""
    from pipelines.retrieval import _ImageTower, _TextTower

    clip, processor = models.clip_b32()
    images = 4 if quick else 16
    pixels = {"pixel_values": torch.randn(images, 3, 224, 224)}
    tokens = dict(processor(text=[f"a photo of a {label}." for label in LABELS], return_tensors="pt", padding=True))
    yield "clip_image_tower", f"s per {images} images", _ImageTower(clip), pixels, {"pixel_values": {0: "batch"}}
    text_axes = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"}}
    yield "clip_text_tower", f"s per {len(LABELS)} texts", _TextTower(clip), tokens, text_axes
    del clip
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(0)
    siglip = SiglipModel(SiglipConfig()).eval()  # the defaults are SigLIP B/16 at 224 px, 64 text tokens
    pixels = {"pixel_values": torch.randn(images, 3, 224, 224)}
    tokens = {"input_ids": torch.randint(0, 32000, (len(LABELS), 64))}  # SigLIP pads every text to 64
    yield "siglip_image_tower", f"s per {images} images", _ImageTower(siglip), pixels, {"pixel_values": {0: "batch"}}
    yield "siglip_text_tower", f"s per {len(LABELS)} texts", _TextTower(siglip), tokens, text_axes
    del siglip
    blip, _ = models.blip(vqa=False)
    vision = copy.deepcopy(blip.vision_model)
    del blip
    fused_vit_attention(vision)  # as the pipelines run it in float32
    yield (
        "blip_vit",
        "s per image",
        _Vision(vision),
        {"pixel_values": torch.randn(1, 3, 384, 384)},
        {"pixel_values": {0: "batch"}},
    )


def run_onnx_components(quick: bool, peaks: dict, info: dict) -> list[dict]:
    rows = []
    for name, unit, module, example, dynamic in _components(quick):
        module.eval()
        with onnx_data_dir():
            start = time.perf_counter()
            session, why = ort.accelerate(module, example, dynamic, name=name, family=name, part=name.split("_")[-2])
            export_s = time.perf_counter() - start
        if session is None:
            rows.append(result(f"onnx_{name}", unit, 0.0, None, info, precision=f"export failed: {why}"))
            continue

        def baseline(module=module, example=example):
            with torch.inference_mode():
                return module(**example)

        def ours(session=session, example=example):
            return session(**example)

        timing = compare(ours, baseline, repeats=3 if quick else 7)
        difference = float((ours() - baseline()).abs().max())
        rows.append(
            result(
                f"onnx_{name}",
                unit,
                timing["ours"],
                timing["baseline"],
                info,
                precision=f"float32, ONNX Runtime vs PyTorch (export and check {export_s:.0f} s, once)",
                fidelity=f"largest difference to PyTorch {difference:.1e}",
            )
        )
    return rows
