"""Explain views for latent diffusion: the denoising timeline, the noise schedule, and
where each word of the prompt went in the image.

Timeline. After each denoising step, ``callback_on_step_end`` hands us the latents
x_t (B, 4, H/8, W/8). A preview turns them into pixels cheaply, in one of two ways:

- ``"latent"``: a linear map from the 4 latent channels to RGB, fitted once per model
  by least squares on the model's own VAE (encode a few example photos, regress each
  latent pixel's colour on its 4 channels). It costs one matrix product per frame.
- ``"taesd"``: TAESD (``AutoencoderTiny``, Bohan O. B., "Tiny AutoEncoder for Stable
  Diffusion"), a small decoder distilled from the VAE for the same latents.

Euler-type schedulers keep x_t = x_0 + sigma_t * noise (variance exploding), so a
preview divides by sqrt(sigma_t^2 + 1) to show what the UNet is given: mostly noise
at first, then the image emerging as sigma_t falls to 0.

Noise schedule. sigma_t per step, from the scheduler in use: its ``sigmas`` when it has
them (Euler), else sqrt((1 - alpha_bar_t) / alpha_bar_t) at its timesteps.

Per-word attention. The UNet reads the prompt through cross-attention layers at each
resolution (Rombach et al., 2022): softmax(Q K^T / sqrt(d)) over the 77 text tokens for
every latent pixel. A recording attention processor computes these probabilities
beside the normal processor (which still produces the output, so the image is the
same as without recording), averages them over heads, upsamples each layer's map to
the latent grid and sums over layers and steps, as in DAAM (Tang et al., 2023,
"What the DAAM: Interpreting Stable Diffusion Using Cross Attention"). A word's map
is the sum over its tokens.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from explain.heatmaps import overlay
from pipelines import safety
from runtime import settings
from runtime.files import shown_model
from runtime.inputs import check_text
from runtime.messages import InputError, said

PREVIEWS = ("latent", "taesd")
# Example photos the latent-to-RGB map is fitted on, and the side they are encoded at.
FIT_IMAGES = ("cat.jpg", "coffee.jpg", "rocket.jpg", "grass.jpg")
FIT_SIDE = 128

_latent_rgb_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# --- Previews -------------------------------------------------------------------


@torch.inference_mode()
def latent_rgb_map(pipeline) -> torch.Tensor:
    """(C + 1, 3) least-squares map from a latent pixel (its C channels and 1) to RGB in
    [-1, 1], fitted on the model's own VAE; computed once per pipeline."""
    if pipeline in _latent_rgb_cache:
        return _latent_rgb_cache[pipeline]
    vae = pipeline.pipe.vae
    photos = []
    for name in FIT_IMAGES:
        path = settings.EXAMPLE_IMAGES_DIR / name
        if path.is_file():
            image = Image.open(path).convert("RGB").resize((FIT_SIDE, FIT_SIDE), Image.Resampling.BICUBIC)
            photos.append(torch.from_numpy(np.asarray(image, np.float32) / 127.5 - 1).permute(2, 0, 1))
    pixels = torch.stack(photos).to(vae.device)  # (N, 3, S, S) in [-1, 1]
    # The SDXL VAE overflows in float16 (diffusers' force_upcast); encode in float32 then.
    upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    dtype = torch.float32 if upcast else vae.dtype
    if upcast:
        vae.to(torch.float32)
    try:
        latents = vae.encode(pixels.to(dtype)).latent_dist.mean.float() * vae.config.scaling_factor  # (N, C, s, s)
    finally:
        if upcast:
            vae.to(torch.float16)
    targets = torch.nn.functional.interpolate(pixels, size=latents.shape[-2:], mode="area")  # colours per latent pixel
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    x = torch.cat([x, torch.ones(len(x), 1, device=x.device)], dim=1)  # (P, C + 1): a bias term
    y = targets.permute(0, 2, 3, 1).reshape(-1, 3)
    weights = torch.linalg.lstsq(x.cpu(), y.float().cpu()).solution  # (C + 1, 3)
    _latent_rgb_cache[pipeline] = weights
    return weights


def _to_image(rgb: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    """(3, h, w) in [-1, 1] -> RGB image of ``size``."""
    array = ((rgb.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array).resize(size, Image.Resampling.BICUBIC)


class Previewer:
    """Turns a step's latents into a small picture, with the ``preview`` method."""

    def __init__(self, pipeline, preview: str = "latent"):
        if preview not in PREVIEWS:
            raise ValueError(f"Unknown preview {preview!r}; available previews = {list(PREVIEWS)}")
        self.pipeline = pipeline
        self.preview = preview
        if preview == "latent":
            self.weights = latent_rgb_map(pipeline)
        else:
            self.taesd = pipeline.load_taesd()

    @torch.inference_mode()
    def __call__(self, latents: torch.Tensor, sigma: float, size: tuple[int, int]) -> Image.Image:
        latents = latents[:1] / math.sqrt(sigma**2 + 1)  # what the UNet sees (variance preserving)
        if self.preview == "latent":
            x = latents[0].float().cpu().permute(1, 2, 0)  # (h, w, C)
            rgb = (torch.cat([x, torch.ones(*x.shape[:2], 1)], dim=-1) @ self.weights).permute(2, 0, 1)
        else:
            rgb = self.taesd.decode(latents.to(self.taesd.dtype)).sample[0]
        return _to_image(rgb, size)


# --- Noise schedule ---------------------------------------------------------------


def noise_levels(scheduler) -> tuple[list[float], list[float]]:
    """(timesteps, sigmas) of the scheduler's last run: sigma_t before each step, and
    the final one after the last step."""
    timesteps = [float(t) for t in scheduler.timesteps]
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None and len(sigmas) >= len(timesteps):
        values = [float(s) for s in sigmas[: len(timesteps) + 1]]
    else:  # variance-preserving schedulers (DDIM, PNDM): sigma = sqrt((1 - a) / a)
        alphas = scheduler.alphas_cumprod
        values = [float(((1 - alphas[int(t)]) / alphas[int(t)]).sqrt()) for t in timesteps]
    if len(values) == len(timesteps):
        values.append(0.0)
    return timesteps, values


def _is_variance_exploding(scheduler) -> bool:
    return float(getattr(scheduler, "init_noise_sigma", 1.0)) > 1.0


# --- Cross-attention recording ----------------------------------------------------


class AttentionStore:
    """Sum of head-averaged cross-attention maps over layers and steps, on the latent grid."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.total: torch.Tensor | None = None  # (T, height, width)
        self.count = 0

    def add(self, probs: torch.Tensor) -> None:
        """``probs`` (h * w, T): one layer's attention of the conditional sample."""
        h, w = self.height, self.width
        while h * w > probs.shape[0]:  # each UNet level halves the grid, rounding up
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        if h * w != probs.shape[0]:
            return
        grid = probs.float().T.reshape(1, -1, h, w)
        grid = torch.nn.functional.interpolate(grid, size=(self.height, self.width), mode="bilinear")[0]
        self.total = grid if self.total is None else self.total + grid.to(self.total.device)
        self.count += 1


class CrossAttentionRecorder:
    """An attention processor that records cross-attention probabilities and leaves the
    output to the processor it wraps, so the image doesn't change."""

    def __init__(self, original, store: AttentionStore):
        self.original = original
        self.store = store

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kw):
        if encoder_hidden_states is not None:
            self.store.add(self._probabilities(attn, hidden_states, encoder_hidden_states, attention_mask))
        return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kw)

    @staticmethod
    def _probabilities(attn, hidden_states, context, attention_mask) -> torch.Tensor:
        # The first steps of diffusers' AttnProcessor, up to softmax(Q K^T / sqrt(d)).
        x = hidden_states
        if x.ndim == 4:
            x = x.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)
        if attn.group_norm is not None:
            x = attn.group_norm(x.transpose(1, 2)).transpose(1, 2)
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(attn.to_q(x))  # (B * heads, h*w, d)
        key = attn.head_to_batch_dim(attn.to_k(context))  # (B * heads, T, d)
        mask = attn.prepare_attention_mask(attention_mask, context.shape[1], x.shape[0])
        probs = attn.get_attention_scores(query, key, mask)  # (B * heads, h*w, T)
        # With classifier-free guidance the batch is [unconditional, conditional]: keep the latter.
        return probs.view(x.shape[0], attn.heads, *probs.shape[1:])[-1].mean(0)


class record_cross_attention:
    """Context manager: record the UNet's cross-attention into an ``AttentionStore``."""

    def __init__(self, unet, store: AttentionStore):
        self.unet, self.store = unet, store

    def __enter__(self) -> AttentionStore:
        self.saved = dict(self.unet.attn_processors)
        recording = {
            name: CrossAttentionRecorder(p, self.store) if name.endswith("attn2.processor") else p
            for name, p in self.saved.items()
        }
        self.unet.set_attn_processor(recording)
        return self.store

    def __exit__(self, *exc) -> None:
        self.unet.set_attn_processor(dict(self.saved))


def word_spans(tokenizer, prompt: str) -> list[tuple[str, list[int], list[str]]]:
    """(word, token positions, token strings) for each whitespace-separated word of
    ``prompt`` that fits in the text encoder's window (position 0 is <start>)."""
    encoded = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length, return_offsets_mapping=True)
    offsets, ids = encoded["offset_mapping"], encoded["input_ids"]
    words = []
    for match in re.finditer(r"\S+", prompt):
        positions = [i for i, (a, b) in enumerate(offsets) if b > a and a < match.end() and b > match.start()]
        if positions:
            words.append((match.group(), positions, tokenizer.convert_ids_to_tokens([ids[i] for i in positions])))
    return words


# --- The whole explanation -------------------------------------------------------


@dataclass
class DiffusionExplanation:
    record: dict
    image: Image.Image
    frames: list[tuple[Image.Image, str]] = field(default_factory=list)
    words: list[tuple[Image.Image, str]] = field(default_factory=list)


def frame_steps(total: int, max_frames: int | None = None) -> list[int]:
    """The steps a timeline keeps: about every ``total / max_frames``, always the last."""
    max_frames = max_frames or settings.TIMELINE_FRAMES
    every = max(1, math.ceil(total / max_frames))
    return sorted({*range(every, total + 1, every), total})


def check_explainable(pipeline) -> None:
    """The timeline and the word maps read a UNet's cross-attention and SD's 4-channel
    latents; a Z-Image transformer has neither."""
    if not pipeline.has_unet:
        model = pipeline.model_id or said("this_model_inline")
        raise InputError("explain_unet_only", model=model, family=pipeline.family)


class Timeline:
    """A ``latents_callback`` for ``TextToImagePipeline``: keeps a preview every few steps
    and hands each to ``on_frame(image, caption)`` as it is made."""

    def __init__(self, pipeline, size: tuple[int, int], preview: str = "latent", on_frame: Callable | None = None):
        check_explainable(pipeline)
        self.previewer = Previewer(pipeline, preview)
        self.scheduler = pipeline.pipe.scheduler
        self.size = size
        self.on_frame = on_frame
        self.frames: list[tuple[Image.Image, str]] = []

    def __call__(self, step: int, total: int, latents: torch.Tensor) -> None:
        if step not in frame_steps(total):
            return
        sigmas = getattr(self.scheduler, "sigmas", None)
        sigma = float(sigmas[step]) if sigmas is not None and _is_variance_exploding(self.scheduler) else 0.0
        frame = (self.previewer(latents, sigma, self.size), f"step {step}/{total}")
        self.frames.append(frame)
        if self.on_frame is not None:
            self.on_frame(*frame)


@torch.inference_mode()
def explain_text_to_image(
    pipeline,
    prompt: str,
    seed: int,
    negative_prompt: str | None = None,
    num_inference_steps: int | None = None,
    guidance_scale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    preview: str = "latent",
    decoder: str = "vae",
    on_frame: Callable[[Image.Image, str], None] | None = None,
    stop: threading.Event | None = None,
    time_limit: float = 0.0,
) -> DiffusionExplanation:
    """Generate one image with ``pipeline`` (the app's ``TextToImagePipeline``) exactly as
    ``/text_to_image`` would, recording the timeline, the noise levels and the per-word
    cross-attention maps. Each preview handed to ``on_frame`` has passed the pipeline's
    safety filter; when the filter hides the image, the timeline and the maps are dropped
    too. ``stop`` and ``time_limit`` end the denoising as they do the pipeline's."""
    from runtime.inputs import check_seed

    # 1. Check inputs and fill in the checkpoint's defaults (the pipeline checks the rest)
    prompt = check_text(prompt, "prompt")
    seed = check_seed(seed)
    if preview not in PREVIEWS:
        raise ValueError(f"Unknown preview {preview!r}; available previews = {list(PREVIEWS)}")
    check_explainable(pipeline)
    steps, guidance, width, height = pipeline.resolve(num_inference_steps, guidance_scale, width, height)

    # 2. Generate, recording attention and keeping previews
    scale = pipeline.pipe.vae_scale_factor
    store = AttentionStore(int(height) // scale, int(width) // scale)

    def screened(image, caption):  # each preview is checked before anyone sees it
        on_frame(pipeline.safety.screen([image])[0][0], caption)

    timeline = Timeline(pipeline, (int(width), int(height)), preview, screened if on_frame else None)
    with record_cross_attention(pipeline.pipe.unet, store):
        image = pipeline(
            prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            num_inference_steps=steps,
            guidance_scale=guidance,
            width=width,
            height=height,
            num_images=1,
            decoder=decoder,
            latents_callback=timeline,
            stop=stop,
            time_limit=time_limit,
        )[0]
    timesteps, sigmas = noise_levels(pipeline.pipe.scheduler)
    hidden = safety.is_hidden(image)  # the previews and the word maps would show what the filter hid
    if hidden:
        timeline.frames.clear()

    # 3. Per-word maps: sum of each word's token maps, aggregated over layers and steps
    words = word_spans(pipeline.pipe.tokenizer, prompt)
    total = store.total / max(store.count, 1) if store.total is not None and not hidden else None
    word_records, word_images = [], []
    if total is not None:
        strength = total.mean(dim=(1, 2))  # (T,) average attention each token received
        for word, positions, tokens in words:
            heat = total[positions].sum(0).cpu().numpy()
            word_records.append({"word": word, "tokens": tokens, "attention": float(strength[positions].sum())})
            word_images.append((overlay(image, heat), word))

    record = {
        "task": "text_to_image",
        "model": shown_model(pipeline.model_id),
        "prompt": prompt,
        "negative_prompt": negative_prompt or None,
        "seed": seed,
        "num_inference_steps": int(steps),
        "guidance_scale": float(guidance),
        "width": int(width),
        "height": int(height),
        "decoder": decoder,
        "preview": preview,
        "scheduler": type(pipeline.pipe.scheduler).__name__,
        "timesteps": timesteps,
        "sigmas": sigmas,
        "frames": [caption for _, caption in timeline.frames],
        "words": word_records,
        "attention": {
            "what": "UNet cross-attention (latent pixels -> prompt tokens), averaged over heads, "
            "summed over layers and steps",
            "layers_times_steps": store.count,
            "grid": [store.height, store.width],
        },
    }
    return DiffusionExplanation(record, image, timeline.frames, word_images)
