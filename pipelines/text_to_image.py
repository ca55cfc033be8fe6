"""Text-to-image with latent diffusion (Stable Diffusion, SD-Turbo, SDXL-Turbo, Z-Image-Turbo).

Latent diffusion (Rombach et al., 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models"): a CLIP text encoder embeds the prompt, a UNet removes noise from
a 4-channel latent step by step while cross-attending to that embedding, and a VAE
decodes the final latent into pixels. The turbo checkpoints are distilled (Sauer et
al., 2023, "Adversarial Diffusion Distillation") to give an image in 1-4 steps
without classifier-free guidance. diffusers' ``AutoPipelineForText2Image`` picks the
pipeline class from the checkpoint's ``model_index.json``.

Z-Image (Z-Image Team, 2025, "Z-Image: An Efficient Image Generation Foundation Model
with Single-Stream Diffusion Transformer") replaces the UNet with one transformer over
image and text tokens together, denoises 16-channel latents with flow matching, and
reads the prompt with Qwen3, so it takes Chinese prompts (and writes Chinese text in
the picture); the Turbo checkpoint is distilled to 8 steps without guidance.

``decoder="taesd"`` decodes the final latents with TAESD (``AutoencoderTiny``, a tiny
decoder distilled from the VAE for the same latent space, a few MB) instead of the full
VAE: much faster, slightly softer images.

Speed: every component runs in the loader's dtype (bfloat16 on CPUs with native
bfloat16 and on recent GPUs: about twice the float32 speed of the UNet and the VAE on
such a CPU); the turbo checkpoints default to 1 step without guidance (registry
defaults); on CUDA the UNet can be compiled (``compile=True``, TORCH_COMPILE).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from time import monotonic

import torch
from PIL import Image

from pipelines.limits import TEXT_TO_IMAGE as LIMITS
from pipelines.safety import SafetyFilter
from runtime import settings
from runtime.inputs import check_seed, check_text, note_truncation, notify
from runtime.messages import InputError, Notice, said
from runtime.scripts import ScriptCheck

DECODERS = ("vae", "taesd")
# TAESD checkpoints per latent space: SD 1.x/2.x and SD-Turbo share one, SDXL has its own.
TAESD = {"sd": "madebyollin/taesd", "sdxl": "madebyollin/taesdxl"}
# Megapixel-steps one request may cost by default, where the model runs (CREATE_MAX_MEGAPIXEL_STEPS).
BUDGET = {"cpu": 16.0, "gpu": 420.0}


class Stopped(InputError):
    """The denoising loop ended early: the Stop button, a closed page, or the time limit."""


class TextToImagePipeline:
    # Parts loaded on use (TAESD, for decoder="taesd"): the model cache counts this
    # pipeline's memory again at each use, not only when it loads (pipelines/cache.py).
    loads_on_use = True

    def __init__(
        self,
        pipe,
        model_id: str = "",
        defaults: dict | None = None,
        safety: SafetyFilter | None = None,
        scripts: ScriptCheck | None = None,
    ):
        self.pipe = pipe
        self.model_id = model_id
        # The scripts its text encoder reads: a notice for a prompt in another one.
        self.scripts = scripts or ScriptCheck()
        # The prompt blocklist and the image checker (pipelines/safety.py): every call
        # passes through them. Off (everything passes) when None.
        self.safety = safety or SafetyFilter(on=False)
        self.pipe.set_progress_bar_config(disable=True)
        if pipe.device.type == "cpu":
            # oneDNN runs the VAE decoder's convolutions (most of a 1-step image's time)
            # 10-20% faster with channels-last weights, in bfloat16 and in float32.
            pipe.vae.to(memory_format=torch.channels_last)
        # SD and SDXL: the UNet's sample size; Z-Image: 1024 px (its registry defaults say so too).
        side = pipe.unet.config.sample_size * pipe.vae_scale_factor if self.has_unet else 1024
        self.defaults = {"num_inference_steps": 25, "guidance_scale": 7.5, "width": side, "height": side}
        self.defaults.update(defaults or {})
        self.taesd = None  # AutoencoderTiny, loaded on first use of decoder="taesd"
        self.taesd_id = None
        self._taesd_pipe = None

    @classmethod
    def from_pretrained(
        cls,
        model_id: str,
        *,
        revision: str = "main",
        device: str = "cpu",
        dtype=torch.float32,
        local_files_only=False,
        defaults: dict | None = None,
        compile: bool = False,
        safety: SafetyFilter | None = None,
        scripts: ScriptCheck | None = None,
    ) -> TextToImagePipeline:
        from diffusers import AutoPipelineForText2Image

        hub = dict(revision=revision, local_files_only=local_files_only, dtype=dtype)
        if "safety_checker" in AutoPipelineForText2Image.load_config(
            model_id, revision=revision, local_files_only=local_files_only
        ):
            # SD 1.x ships the safety checker inside the pipeline; the app runs one
            # checker for every model instead (pipelines/safety.py), or none when off.
            hub.update(safety_checker=None, requires_safety_checker=False)
        if dtype in (torch.float16, torch.bfloat16):
            try:  # half-size download where the repository has fp16 weights
                pipe = AutoPipelineForText2Image.from_pretrained(model_id, variant="fp16", **hub)
            except (OSError, ValueError):
                pipe = AutoPipelineForText2Image.from_pretrained(model_id, **hub)
        else:
            pipe = AutoPipelineForText2Image.from_pretrained(model_id, **hub)
        _place(pipe, device)
        if compile:  # compiles on the first call (a minute), then runs faster
            (pipe.unet if hasattr(pipe, "unet") else pipe.transformer).compile(fullgraph=True)
        return cls(pipe, model_id, defaults, safety, scripts)

    def to(self, device) -> TextToImagePipeline:
        """Move every component to ``device`` (not for a pipeline under model CPU offload)."""
        self.pipe.to(device)
        return self

    @property
    def has_unet(self) -> bool:
        """SD and SDXL denoise with a UNet (what the explain views read); Z-Image with a transformer."""
        return hasattr(self.pipe, "unet")

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this: the VAE's downscale (8), times Z-Image's 2x2 patches.
        SD and SDXL pipelines refuse sides that are not multiples of 8 whatever their VAE's
        downscale (the tiny VAE's is 2), so that is checked here, with the rule said."""
        return math.lcm(self.pipe.vae_scale_factor, 8) if self.has_unet else self.pipe.vae_scale_factor * 2

    @property
    def max_prompt_tokens(self) -> int:
        """What the text encoder reads: CLIP's 77 tokens, or the 512 that Z-Image passes Qwen3."""
        tokenizer = getattr(self.pipe, "tokenizer", None) or getattr(self.pipe, "tokenizer_2", None)
        return tokenizer.model_max_length if self.has_unet else 512

    def check_inputs(self, num_inference_steps, guidance_scale, width, height, num_images) -> None:
        LIMITS["num_inference_steps"].check("num_inference_steps", num_inference_steps)
        LIMITS["guidance_scale"].check("guidance_scale", guidance_scale)
        multiple = self.size_multiple
        for name, value in (("width", width), ("height", height)):
            side = LIMITS[name]
            side.check(name, value)
            if value % multiple:
                raise InputError(
                    "number_multiple",
                    name=name,
                    multiple=multiple,
                    value=value,
                    low=side.low,
                    high=side.high,
                )
        LIMITS["num_images"].check("num_images", num_images)

    def resolve(self, num_inference_steps, guidance_scale, width, height, num_images=1) -> tuple[int, float, int, int]:
        """(steps, guidance, width, height): the checkpoint's defaults filled in, checked."""
        steps = self.defaults["num_inference_steps"] if num_inference_steps is None else num_inference_steps
        guidance = self.defaults["guidance_scale"] if guidance_scale is None else guidance_scale
        width = self.defaults["width"] if width is None else width
        height = self.defaults["height"] if height is None else height
        self.check_inputs(steps, guidance, width, height, num_images)
        self.check_budget(steps, guidance, width, height, num_images)
        return int(steps), float(guidance), int(width), int(height)

    # --- What one request may cost ----------------------------------------------------

    @staticmethod
    def cost(steps, guidance, width, height, num_images=1) -> float:
        """Megapixel-steps: what denoising costs grows with the pixels, the steps and the
        images, and doubles with classifier-free guidance (the prompt and the negative prompt)."""
        return width * height / 1e6 * steps * num_images * (2 if guidance > 1 else 1)

    @property
    def device_kind(self) -> str:
        return "gpu" if self.pipe._execution_device.type != "cpu" else "cpu"

    @property
    def max_cost(self) -> float:
        """The megapixel-steps one request may cost here (CREATE_MAX_MEGAPIXEL_STEPS, else by device)."""
        return settings.CREATE_MAX_MEGAPIXEL_STEPS or BUDGET[self.device_kind]

    def check_budget(self, steps, guidance, width, height, num_images=1) -> None:
        """Refuse a request that would cost more than ``max_cost``, with the numbers, before any work."""
        cost, limit = self.cost(steps, guidance, width, height, num_images), self.max_cost
        if cost > limit:
            doubled = guidance > 1
            raise InputError(
                "create_budget",
                cost=round(cost, 1),
                width=width,
                height=height,
                steps=steps,
                images=num_images,
                limit=round(limit, 1),
                guidance=said("create_guidance_doubled") if doubled else "",
                device=self.device_kind.upper(),
            )

    @property
    def family(self) -> str:
        """Which latent space: "sdxl" for SDXL pipelines, "z-image" for Z-Image, "sd" otherwise."""
        name = type(self.pipe).__name__
        return "sdxl" if "XL" in name else "z-image" if "ZImage" in name else "sd"

    def load_taesd(self, model_id: str | None = None, revision: str = "main", local_files_only=False):
        """Load TAESD (``AutoencoderTiny``) for this pipeline's latent space, once; the
        default is the checkpoint in ``TAESD`` for its family."""
        if self.family not in TAESD:
            raise InputError("taesd_family", model=self.model_id or said("this_model_inline"), family=self.family)
        if self.taesd is None:
            from diffusers import AutoencoderTiny

            vae = AutoencoderTiny.from_pretrained(
                model_id or TAESD[self.family],
                revision=revision,
                local_files_only=local_files_only,
                dtype=self.pipe.dtype,
            )
            self.taesd = vae.to(self.pipe._execution_device).eval()
            self.taesd_id = model_id or TAESD[self.family]
        return self.taesd

    def decoder_pipe(self, decoder: str = "vae"):
        """The diffusers pipeline that decodes with ``decoder``: ours, or one sharing
        every component but the VAE (``from_pipe`` copies no weights)."""
        if decoder not in DECODERS:
            raise ValueError(f"Unknown decoder {decoder!r}; available decoders = {list(DECODERS)}")
        if decoder == "vae":
            return self.pipe
        if self._taesd_pipe is None:
            self._taesd_pipe = type(self.pipe).from_pipe(self.pipe, vae=self.load_taesd(), dtype=self.pipe.dtype)
            self._taesd_pipe.set_progress_bar_config(disable=True)
        return self._taesd_pipe

    @torch.inference_mode()
    def __call__(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        seed: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        width: int | None = None,
        height: int | None = None,
        num_images: int = 1,
        callback: Callable[[int, int], None] | None = None,
        decoder: str = "vae",
        latents_callback: Callable[[int, int, torch.Tensor], None] | None = None,
        stop: threading.Event | None = None,
        time_limit: float = 0.0,
    ) -> list[Image.Image]:
        """Generate ``num_images`` images; image i uses seed ``seed + i``, so any one of
        them can be made again alone. ``callback(step, total)`` reports progress;
        ``latents_callback(step, total, latents)`` sees the (B, C, h, w) latents after
        each step; ``decoder`` ("vae" or "taesd") turns the final latents into pixels.
        Denoising ends after the current step, raising ``Stopped``, once ``stop`` is set or
        ``time_limit`` seconds (0: none) have passed since the call began.

        With the safety filter on (``self.safety``), a prompt on the blocklist is refused,
        and an image the safety checker flags is replaced by a notice image
        (``image.info["safety"]`` says so)."""
        # 1. Check inputs, filling in the checkpoint's defaults and refusing what is over the budget
        started = monotonic()
        prompt = check_text(prompt, "prompt")
        self.safety.check_prompt(prompt)  # a negative prompt may name what to avoid, so it isn't checked
        self.safety.checker()  # loaded, or refused, before any work
        negative_prompt = check_text(negative_prompt, "negative prompt") if _given(negative_prompt) else None
        tokenizer = getattr(self.pipe, "tokenizer", None) or getattr(self.pipe, "tokenizer_2", None)
        for name, text in (("prompt", prompt), ("negative prompt", negative_prompt)):
            if text is not None and tokenizer is not None:
                note_truncation(tokenizer, text, self.max_prompt_tokens, name)
            if text is not None:
                self.scripts.check(text, name)
        steps, guidance, width, height = self.resolve(num_inference_steps, guidance_scale, width, height, num_images)
        seed = check_seed(seed)
        pipe = self.decoder_pipe(decoder)

        # 2. One CPU generator per image: the same seed gives the same image on any device
        generators = [torch.Generator("cpu").manual_seed((seed + i) % 2**32) for i in range(int(num_images))]

        # 3. Denoise, reporting each step, until done, stopped or out of time
        def on_step_end(pipe, step, timestep, tensors):
            if callback is not None:
                callback(step + 1, int(steps))
            if latents_callback is not None:
                latents_callback(step + 1, int(steps), tensors["latents"])
            check_stop(stop, started, time_limit, step + 1, int(steps))
            return tensors

        output = pipe(
            prompt=[prompt] * int(num_images),
            negative_prompt=[negative_prompt] * int(num_images) if negative_prompt else None,
            num_inference_steps=int(steps),
            guidance_scale=float(guidance),
            width=int(width),
            height=int(height),
            generator=generators,
            callback_on_step_end=on_step_end,
        )
        images = list(output.images)

        # 4. Run the safety checker: flagged images are replaced, never returned
        images, hidden = self.safety.screen(images)
        if hidden:
            notify(
                Notice(
                    "images_hidden",
                    hidden=hidden,
                    count=len(images),
                )
            )
        return images


def check_stop(stop: threading.Event | None, started: float, time_limit: float, step: int, total: int) -> None:
    """Raise ``Stopped`` after ``step`` of ``total`` when ``stop`` is set or the time is up."""
    if step >= total:
        return  # done: the image is decoded and returned
    if stop is not None and stop.is_set():
        raise Stopped("create_stopped", step=step, total=total)
    if time_limit > 0 and monotonic() - started > time_limit:
        raise Stopped(
            "create_deadline",
            step=step,
            total=total,
            limit=time_limit,
        )


def _given(text) -> bool:
    """Whether an optional text was given: None and blank strings are not."""
    return text is not None and not (isinstance(text, str) and not text.strip())


def _place(pipe, device: str) -> None:
    """Move the pipeline to ``device``; on a GPU without room for all of it, let
    accelerate keep each component on the CPU until it runs."""
    if not device.startswith("cuda"):
        pipe.to(device)
        return
    needed = sum(
        p.numel() * p.element_size()
        for c in pipe.components.values()
        if isinstance(c, torch.nn.Module)
        for p in c.parameters()
    )
    free, _ = torch.cuda.mem_get_info()
    if needed * 1.5 < free:  # weights plus room for activations
        pipe.to(device)
    else:
        pipe.enable_model_cpu_offload()
