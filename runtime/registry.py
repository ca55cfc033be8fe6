"""The one registry of tasks, checkpoints and profiles.

A *checkpoint* is a model the app can load for a task; a *profile* picks one
checkpoint per task (and the choices a model picker offers):

- ``gpu``: best quality on one 16-24 GB GPU;
- ``cpu``: real checkpoints that answer in seconds on a laptop CPU;
- ``tiny``: tiny, randomly initialised models of the same classes, built locally
  (see ``runtime/tiny.py``); outputs are meaningless, they exercise the app offline;
- ``auto`` (default): ``gpu`` when CUDA is available, else ``cpu``; a checkpoint that
  can't be fetched falls back to its tiny twin, and the UI says so.

Each task's default can be overridden with an environment variable
(``MODEL_CAPTION``, ``MODEL_VQA``, ``MODEL_CHAT``, ``MODEL_TEXT_TO_IMAGE``, ``MODEL_RETRIEVAL``,
``MODEL_SPEECH_RECOGNITION``, ``MODEL_TEXT_TO_SPEECH``) holding a registry key, a Hub
id (``owner/name`` or ``owner/name@revision``) or a local directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runtime import scripts, settings
from runtime.devices import cuda_available

TASKS = (
    "caption",
    "vqa",
    "chat",
    "text_to_image",
    "retrieval",
    "speech_recognition",
    "text_to_speech",
    "safety_checker",
)
PROFILES = ("auto", "gpu", "cpu", "tiny")
TINY_PREFIX = "tiny/"


@dataclass(frozen=True)
class Checkpoint:
    key: str  # short name used by model pickers, the API and MODEL_<TASK>
    task: str
    repo_id: str  # Hub id, a local directory, or "tiny/<name>" for a locally built model
    family: str  # selects the model and processor classes: blip, vilt, clip, sd, sdxl, whisper, vits
    label: str  # what the model picker shows
    size: str = ""  # download size, for the picker and the README
    revision: str = "main"
    # Per-checkpoint defaults for generation (steps, guidance, size), e.g. turbo models
    # are distilled for 1-4 steps without classifier-free guidance.
    defaults: dict = field(default_factory=dict)
    # The scripts its text side reads (runtime/scripts.py); empty: its family's (READS).
    reads: tuple[str, ...] = ()
    # Gated on the Hub: its licence must be accepted on its page, and HF_TOKEN set, before
    # the first download (runtime/download.py says so when the Hub refuses). No default is.
    gated: bool = False

    @property
    def is_tiny(self) -> bool:
        return self.repo_id.startswith(TINY_PREFIX)

    @property
    def scripts(self) -> tuple[str, ...]:
        """The scripts its prompts, queries or labels may be written in; () reads no text
        or declares nothing (never checked). A tiny twin reads what its family reads."""
        return self.reads or READS.get(self.family, ())


_SD_TURBO = {"num_inference_steps": 1, "guidance_scale": 0.0, "width": 512, "height": 512}
_SD_15 = {"num_inference_steps": 25, "guidance_scale": 7.5, "width": 512, "height": 512}
_TINY_T2I = {"num_inference_steps": 2, "guidance_scale": 0.0, "width": 64, "height": 64}
_SMOLVLM_CPU = {"image_side": 1024}
# SmolVLM 256M's language model in int8 on a CPU: 1.21x faster than bfloat16 with float32's
# greedy tokens in `python -m benchmarks --only vlm`; the 500M changed 60% of them, so not there.
_SMOLVLM_256M_CPU = {**_SMOLVLM_CPU, "int8_language_model": True}
# Qwen's image size, in pixels (one token per 32 x 32 px): on a CPU 448 x 448 (196 tokens) for
# a first word within seconds (docs/vlm.md has the measurements); on a GPU 896 x 896 (784
# tokens, Gemma 3's 896 px view in finer detail), so that a message's 4 images (CHAT_MAX_IMAGES)
# still fit the chat's 4,096-token context with room for the answer.
_QWEN_CPU = {"max_pixels": 448 * 448}
_QWEN_GPU = {"max_pixels": 896 * 896}
_Z_IMAGE_TURBO = {"num_inference_steps": 8, "guidance_scale": 0.0, "width": 1024, "height": 1024}

# What each family's text side was trained to read (see runtime/scripts.py): English
# only for OpenAI's CLIP (and the SD text encoders built on it), BLIP, ViLT and the
# English MMS voice; SigLIP 2's WebLI covers 109 languages; Chinese-CLIP was trained on
# Chinese captions; Z-Image reads prompts through Qwen3, in Chinese and English.
_LATIN = ("Latin",)
READS: dict[str, tuple[str, ...]] = {
    "blip": _LATIN,
    "vilt": _LATIN,
    "clip": _LATIN,
    "sd": _LATIN,
    "sdxl": _LATIN,
    "vits": _LATIN,
    "siglip2": scripts.MANY,
    "chinese-clip": ("Han",),
    "z-image": ("Latin", "Han"),
    "kokoro": ("Han",),
    # Chat: SmolVLM's SmolLM2 was trained on English; Gemma 3 on 140-odd languages; Qwen3-VL
    # and Qwen3.5 on Chinese and English first, 119 and 201 languages in all by their cards.
    "idefics3": _LATIN,
    "gemma3": scripts.MANY,
    "qwen3_vl": scripts.MANY,
    "qwen3_5": scripts.MANY,
}

_ALL = [
    # Captioning: BLIP (Li et al. 2022, "Bootstrapping Language-Image Pre-training").
    Checkpoint("blip-base", "caption", "Salesforce/blip-image-captioning-base", "blip", "BLIP base", "990 MB"),
    Checkpoint("blip-large", "caption", "Salesforce/blip-image-captioning-large", "blip", "BLIP large", "1.9 GB"),
    Checkpoint("tiny-blip", "caption", "tiny/blip-caption", "blip", "Tiny BLIP (random)", "1 MB"),
    # Visual question answering: BLIP generates the answer; ViLT classifies over 3,129 answers.
    Checkpoint("blip-vqa-base", "vqa", "Salesforce/blip-vqa-base", "blip", "BLIP VQA base", "1.5 GB"),
    Checkpoint("blip-vqa-large", "vqa", "Salesforce/blip-vqa-capfilt-large", "blip", "BLIP VQA large", "1.5 GB"),
    Checkpoint("vilt-vqa", "vqa", "dandelin/vilt-b32-finetuned-vqa", "vilt", "ViLT B/32 VQA", "470 MB"),
    Checkpoint("tiny-blip-vqa", "vqa", "tiny/blip-vqa", "blip", "Tiny BLIP VQA (random)", "1 MB"),
    Checkpoint("tiny-vilt", "vqa", "tiny/vilt-vqa", "vilt", "Tiny ViLT VQA (random)", "1 MB"),
    # Chat about images: vision-language models, whose image tokens go into a language
    # model's input. SmolVLM (Marafioti et al. 2025; SigLIP patches, pixel-shuffled 4x4
    # into 64 tokens per 512 px tile, read by SmolLM2) is small enough for a laptop CPU and
    # answers in English; Gemma 3 (Gemma Team 2025; SigLIP, 256 tokens per 896 px image)
    # answers in Chinese and 140-odd languages (gated: accept its licence on the Hub first).
    # Qwen3-VL (Qwen Team 2025; a ViT at the image's own resolution, 2 x 2 patches merged
    # into one token, Qwen3 reading them) and Qwen3.5 (Qwen Team 2026; natively multimodal,
    # Gated DeltaNet layers mixed with attention) read and write Chinese; Apache-2.0, ungated.
    # The Qwen models read an image at up to ``max_pixels`` (a 32 x 32 px block per token):
    # on a CPU fewer than their card's 16 M, for the first word within seconds (docs/vlm.md).
    Checkpoint(
        "qwen3.5-0.8b", "chat", "Qwen/Qwen3.5-0.8B", "qwen3_5", "Qwen3.5 0.8B (中文)", "1.7 GB", defaults=_QWEN_CPU
    ),
    Checkpoint("qwen3.5-2b", "chat", "Qwen/Qwen3.5-2B", "qwen3_5", "Qwen3.5 2B (中文)", "4.5 GB", defaults=_QWEN_CPU),
    Checkpoint(
        "qwen3-vl-2b",
        "chat",
        "Qwen/Qwen3-VL-2B-Instruct",
        "qwen3_vl",
        "Qwen3-VL 2B Instruct (中文)",
        "4.3 GB",
        defaults=_QWEN_CPU,
    ),
    Checkpoint(
        "qwen3-vl-4b",
        "chat",
        "Qwen/Qwen3-VL-4B-Instruct",
        "qwen3_vl",
        "Qwen3-VL 4B Instruct (中文)",
        "8.9 GB",
        defaults=_QWEN_GPU,
    ),
    Checkpoint(
        "qwen3-vl-8b",
        "chat",
        "Qwen/Qwen3-VL-8B-Instruct",
        "qwen3_vl",
        "Qwen3-VL 8B Instruct (中文)",
        "17.5 GB",
        defaults=_QWEN_GPU,
    ),
    # The small SmolVLMs read images at 1,024 px (5 tiles, 320 tokens), not their card's
    # 2,048 (13 tiles, 832 tokens): on 2 CPU cores, 1.8 s before the first word instead of
    # several times that (docs/vlm.md has the measurements).
    Checkpoint(
        "smolvlm-256m",
        "chat",
        "HuggingFaceTB/SmolVLM-256M-Instruct",
        "idefics3",
        "SmolVLM 256M Instruct",
        "513 MB",
        defaults=_SMOLVLM_256M_CPU,
    ),
    Checkpoint(
        "smolvlm-500m",
        "chat",
        "HuggingFaceTB/SmolVLM-500M-Instruct",
        "idefics3",
        "SmolVLM 500M Instruct",
        "1.0 GB",
        defaults=_SMOLVLM_CPU,
    ),
    Checkpoint("smolvlm-2b", "chat", "HuggingFaceTB/SmolVLM-Instruct", "idefics3", "SmolVLM 2.2B Instruct", "4.5 GB"),
    Checkpoint("gemma3-4b", "chat", "google/gemma-3-4b-it", "gemma3", "Gemma 3 4B (中文, gated)", "8.6 GB", gated=True),
    Checkpoint("tiny-smolvlm", "chat", "tiny/smolvlm", "idefics3", "Tiny SmolVLM (random)", "1 MB"),
    Checkpoint("tiny-gemma3", "chat", "tiny/gemma3", "gemma3", "Tiny Gemma 3 (random)", "1 MB"),
    Checkpoint("tiny-qwen3-vl", "chat", "tiny/qwen3-vl", "qwen3_vl", "Tiny Qwen3-VL (random)", "1 MB"),
    Checkpoint("tiny-qwen3.5", "chat", "tiny/qwen3.5", "qwen3_5", "Tiny Qwen3.5 (random)", "1 MB"),
    # Text-to-image: latent diffusion (Rombach et al. 2022); the turbo models are
    # distilled with adversarial diffusion distillation (Sauer et al. 2023).
    Checkpoint("sd-turbo", "text_to_image", "stabilityai/sd-turbo", "sd", "SD-Turbo", "2.6 GB", defaults=_SD_TURBO),
    Checkpoint(
        "sdxl-turbo", "text_to_image", "stabilityai/sdxl-turbo", "sdxl", "SDXL-Turbo", "6.9 GB", defaults=_SD_TURBO
    ),
    Checkpoint(
        "sd-1.5",
        "text_to_image",
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "sd",
        "Stable Diffusion 1.5",
        "2.1 GB",
        defaults=_SD_15,
    ),
    # Chinese prompts: Z-Image-Turbo (a 6 B single-stream transformer reading prompts with
    # Qwen3-4B; 8 steps without guidance, 1024 px), for a GPU: minutes per image on a CPU.
    Checkpoint(
        "z-image-turbo",
        "text_to_image",
        "Tongyi-MAI/Z-Image-Turbo",
        "z-image",
        "Z-Image-Turbo (中文 prompts)",
        "≈ 33 GB",
        defaults=_Z_IMAGE_TURBO,
    ),
    Checkpoint("tiny-sd", "text_to_image", "tiny/sd", "sd", "Tiny SD (random)", "1 MB", defaults=_TINY_T2I),
    Checkpoint(
        "tiny-z-image", "text_to_image", "tiny/z-image", "z-image", "Tiny Z-Image (random)", "1 MB", defaults=_TINY_T2I
    ),
    Checkpoint("tiny-sdxl", "text_to_image", "tiny/sdxl", "sdxl", "Tiny SDXL (random)", "2 MB", defaults=_TINY_T2I),
    # Retrieval and zero-shot classification: CLIP (Radford et al. 2021).
    Checkpoint("clip-b32", "retrieval", "openai/clip-vit-base-patch32", "clip", "CLIP ViT-B/32", "605 MB"),
    Checkpoint("clip-l14", "retrieval", "openai/clip-vit-large-patch14", "clip", "CLIP ViT-L/14", "1.7 GB"),
    Checkpoint("tiny-clip", "retrieval", "tiny/clip", "clip", "Tiny CLIP (random)", "1 MB"),
    # Multilingual: SigLIP 2 (Tschannen et al. 2025; a sigmoid loss per pair, WebLI in 109
    # languages; these fixed-resolution checkpoints load as SigLIP) and Chinese-CLIP (Yang
    # et al. 2022; CLIP's recipe on 200 M Chinese pairs, a Chinese RoBERTa text encoder).
    Checkpoint(
        "siglip2-b16",
        "retrieval",
        "google/siglip2-base-patch16-224",
        "siglip2",
        "SigLIP 2 B/16 (multilingual)",
        "1.5 GB",
    ),
    Checkpoint(
        "siglip2-so400m",
        "retrieval",
        "google/siglip2-so400m-patch14-384",
        "siglip2",
        "SigLIP 2 So400m/14 (multilingual)",
        "4.5 GB",
    ),
    Checkpoint(
        "chinese-clip-b16",
        "retrieval",
        "OFA-Sys/chinese-clip-vit-base-patch16",
        "chinese-clip",
        "Chinese-CLIP ViT-B/16 (中文)",
        "753 MB",
    ),
    Checkpoint(
        "chinese-clip-l14",
        "retrieval",
        "OFA-Sys/chinese-clip-vit-large-patch14",
        "chinese-clip",
        "Chinese-CLIP ViT-L/14 (中文)",
        "1.6 GB",
    ),
    Checkpoint("tiny-siglip2", "retrieval", "tiny/siglip2", "siglip2", "Tiny SigLIP 2 (random)", "1 MB"),
    Checkpoint(
        "tiny-chinese-clip", "retrieval", "tiny/chinese-clip", "chinese-clip", "Tiny Chinese-CLIP (random)", "1 MB"
    ),
    # Speech recognition: Whisper (Radford et al. 2022, "Robust Speech Recognition via
    # Large-Scale Weak Supervision"); large-v3-turbo keeps the large encoder with a
    # 4-layer decoder, so it decodes about 8x faster.
    Checkpoint("whisper-tiny", "speech_recognition", "openai/whisper-tiny", "whisper", "Whisper tiny", "151 MB"),
    Checkpoint("whisper-base", "speech_recognition", "openai/whisper-base", "whisper", "Whisper base", "290 MB"),
    Checkpoint("whisper-small", "speech_recognition", "openai/whisper-small", "whisper", "Whisper small", "967 MB"),
    Checkpoint(
        "whisper-large-v3-turbo",
        "speech_recognition",
        "openai/whisper-large-v3-turbo",
        "whisper",
        "Whisper large-v3 turbo",
        "1.6 GB",
    ),
    Checkpoint("tiny-whisper", "speech_recognition", "tiny/whisper", "whisper", "Tiny Whisper (random)", "1 MB"),
    # Text-to-speech: VITS (Kim et al. 2021) trained by Massively Multilingual Speech
    # (Pratap et al. 2023); characters in, waveform out, no phonemizer needed.
    Checkpoint("mms-tts-eng", "text_to_speech", "facebook/mms-tts-eng", "vits", "MMS-TTS English (VITS)", "145 MB"),
    Checkpoint("tiny-vits", "text_to_speech", "tiny/vits", "vits", "Tiny VITS (random)", "1 MB"),
    # Chinese: MMS-TTS has no Mandarin voice; Kokoro 82M (StyleTTS 2 with an iSTFTNet
    # decoder, hexgrad 2025, Apache-2.0) does, reading misaki's Mandarin phonemes.
    Checkpoint(
        "kokoro-zh",
        "text_to_speech",
        "hexgrad/Kokoro-82M",
        "kokoro",
        "Kokoro 82M, Chinese voice (中文)",
        "327 MB",
        defaults={"voice": "zf_xiaobei"},
    ),
    Checkpoint(
        "tiny-kokoro",
        "text_to_speech",
        "tiny/kokoro",
        "kokoro",
        "Tiny Kokoro (random)",
        "160 MB",
        defaults={"voice": "zf_xiaobei"},
    ),
    # The text-to-image safety filter: the Stable Diffusion safety checker (CompVis),
    # CLIP ViT-L/14 image embeddings against embedded unsafe concepts; see pipelines/safety.py.
    Checkpoint(
        "sd-safety-checker",
        "safety_checker",
        "CompVis/stable-diffusion-safety-checker",
        "sd-safety",
        "SD safety checker",
        "1.2 GB",
    ),
    Checkpoint(
        "tiny-safety-checker",
        "safety_checker",
        "tiny/safety-checker",
        "sd-safety",
        "Tiny safety checker (random)",
        "1 MB",
    ),
]
CHECKPOINTS: dict[str, Checkpoint] = {c.key: c for c in _ALL}

# Default checkpoint per task and profile; the first entry of a model picker.
# Retrieval: SigLIP 2, which reads Chinese (and 100-odd other languages) and beats CLIP of
# the same size on published benchmarks, at B/16 on a CPU (docs/languages.md says why).
DEFAULTS: dict[str, dict[str, str]] = {
    "gpu": {
        "caption": "blip-large",
        "vqa": "blip-vqa-large",
        "text_to_image": "sdxl-turbo",
        "retrieval": "siglip2-so400m",
    },
    "cpu": {"caption": "blip-base", "vqa": "blip-vqa-base", "text_to_image": "sd-turbo", "retrieval": "siglip2-b16"},
    "tiny": {"caption": "tiny-blip", "vqa": "tiny-blip-vqa", "text_to_image": "tiny-sd", "retrieval": "tiny-clip"},
}
# Speech: the large turbo Whisper on a GPU, Whisper base on a CPU; one small MMS voice for
# both (a 36 M-parameter VITS reads faster than real time on any CPU).
DEFAULTS["gpu"].update(speech_recognition="whisper-large-v3-turbo", text_to_speech="mms-tts-eng")
DEFAULTS["cpu"].update(speech_recognition="whisper-base", text_to_speech="mms-tts-eng")
DEFAULTS["tiny"].update(speech_recognition="tiny-whisper", text_to_speech="tiny-vits")
# The safety checker has no picker: one per profile.
DEFAULTS["gpu"]["safety_checker"] = DEFAULTS["cpu"]["safety_checker"] = "sd-safety-checker"
DEFAULTS["tiny"]["safety_checker"] = "tiny-safety-checker"
# Chat: a default on every profile that reads and answers Chinese, ungated. Qwen3-VL 4B on a
# GPU (8.9 GB in bfloat16 fits a 16 GB card; Gemma 3 4B is gated); Qwen3.5 0.8B on a CPU,
# the fastest Chinese-reading VLM on 2 cores (docs/vlm.md has the numbers). The tiny
# profile keeps the tiny SmolVLM, the quickest twin for the tests; the Qwen twins are offered.
DEFAULTS["gpu"]["chat"], DEFAULTS["cpu"]["chat"] = "qwen3-vl-4b", "qwen3.5-0.8b"
DEFAULTS["tiny"]["chat"] = "tiny-smolvlm"


# Caption and Ask also offer the chat models: a vision-language model asked to describe the
# image, or to answer in a word or a phrase (pipelines/vlm_tasks.py), so one tab can
# compare BLIP with a VLM on the same image. The Chat tab's loaded model serves them.
BORROWS: dict[str, str] = {"caption": "chat", "vqa": "chat"}


# The same checkpoints on ModelScope (modelscope.cn), reachable from mainland China, for
# MODEL_SOURCE (runtime/download.py): keyed by Hub id. Qwen publishes its own models there
# under the same ids; the others are ModelScope's mirrors ("AI-ModelScope", "LLM-Research",
# the publisher's own account). Only ids seen in use elsewhere are listed, and none could be
# checked from the build machine: docs/settings.md says which. A checkpoint not here has
# no ModelScope source.
MODELSCOPE_IDS: dict[str, str] = {
    "Salesforce/blip-image-captioning-base": "AI-ModelScope/blip-image-captioning-base",
    "Salesforce/blip-image-captioning-large": "AI-ModelScope/blip-image-captioning-large",
    "google/gemma-3-4b-it": "LLM-Research/gemma-3-4b-it",
    "stabilityai/sd-turbo": "AI-ModelScope/sd-turbo",
    "stabilityai/sdxl-turbo": "AI-ModelScope/sdxl-turbo",
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "AI-ModelScope/stable-diffusion-v1-5",
    "Tongyi-MAI/Z-Image-Turbo": "Tongyi-MAI/Z-Image-Turbo",
    "openai/clip-vit-base-patch32": "AI-ModelScope/clip-vit-base-patch32",
    "openai/clip-vit-large-patch14": "AI-ModelScope/clip-vit-large-patch14",
    "openai/whisper-small": "AI-ModelScope/whisper-small",
    "openai/whisper-large-v3-turbo": "AI-ModelScope/whisper-large-v3-turbo",
}
MODELSCOPE_SAME_ID = ("Qwen/",)  # publishers whose ModelScope ids are their Hub ids


def modelscope_id(checkpoint: Checkpoint) -> str:
    """``checkpoint``'s id on ModelScope, or "" when it has none there."""
    if checkpoint.repo_id in MODELSCOPE_IDS:
        return MODELSCOPE_IDS[checkpoint.repo_id]
    return checkpoint.repo_id if checkpoint.repo_id.startswith(MODELSCOPE_SAME_ID) else ""


def offered_tasks(task: str) -> tuple[str, ...]:
    """The tasks whose checkpoints ``task``'s picker offers: its own, then any it borrows."""
    return (task, BORROWS[task]) if task in BORROWS else (task,)


def env_var(task: str) -> str:
    return f"MODEL_{task.upper()}"


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; available tasks = {list(TASKS)}")


def resolve_profile(profile: str | None = None, cuda: bool | None = None) -> str:
    """Return the concrete profile (gpu, cpu or tiny) that ``profile`` stands for."""
    profile = (profile or settings.MODEL_PROFILE).strip().lower()
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; available profiles = {list(PROFILES)}")
    if profile != "auto":
        return profile
    if cuda is None:
        cuda = cuda_available()
    return "gpu" if cuda else "cpu"


def tiny_twin(checkpoint: Checkpoint) -> Checkpoint:
    """The tiny checkpoint of the same task and family: the offline stand-in under ``auto``."""
    for c in _ALL:
        if c.is_tiny and c.task in offered_tasks(checkpoint.task) and c.family == checkpoint.family:
            return c
    return CHECKPOINTS[DEFAULTS["tiny"][checkpoint.task]]


def override(task: str) -> str:
    """MODEL_<TASK>, as set when the app started ("" when not set)."""
    return settings.MODEL_OVERRIDES.get(task, "").strip()


def named(task: str, value: str) -> Checkpoint:
    """The checkpoint ``value`` names for ``task``: a registry key, a local directory or a
    Hub id (``owner/name[@revision]``), as MODEL_<TASK> and the command line take them."""
    return _from_override(task, value)


def _from_override(task: str, value: str) -> Checkpoint:
    """A checkpoint named by MODEL_<TASK>: a registry key, a local directory or a Hub id."""
    if value in CHECKPOINTS:
        checkpoint = CHECKPOINTS[value]
        if checkpoint.task not in offered_tasks(task):
            raise ValueError(f"{env_var(task)}={value!r} is a {checkpoint.task} checkpoint, not a {task} one.")
        return checkpoint
    repo_id, _, revision = value.partition("@")
    is_dir = Path(repo_id).expanduser().is_dir()
    if not is_dir and repo_id.count("/") != 1:
        known = [c.key for c in _ALL if c.task in offered_tasks(task)]
        raise ValueError(
            f"{env_var(task)}={value!r} is neither a known checkpoint ({known}), "
            "a local directory, nor a Hub id of the form owner/name[@revision]."
        )
    if is_dir:
        repo_id = str(Path(repo_id).expanduser().resolve())
    family = next((c.family for c in _ALL if c.task in offered_tasks(task) and c.repo_id == repo_id), "auto")
    return Checkpoint(value, task, repo_id, family, f"{value} (custom)", revision=revision or "main")


def default_checkpoint(task: str, profile: str | None = None) -> Checkpoint:
    """The checkpoint a task uses under ``profile``, after MODEL_<TASK> overrides."""
    check_task(task)
    if value := override(task):
        return _from_override(task, value)
    return CHECKPOINTS[DEFAULTS[resolve_profile(profile)][task]]


def choices(task: str, profile: str | None = None) -> list[Checkpoint]:
    """What a task's model picker offers under ``profile``: the default first, then
    the other checkpoints of the same kind (tiny ones under ``tiny``, real ones otherwise),
    the task's own before those it borrows (``BORROWS``)."""
    default = default_checkpoint(task, profile)
    tiny = resolve_profile(profile) == "tiny"
    others = [
        c for kind in offered_tasks(task) for c in _ALL if c.task == kind and c.is_tiny == tiny and c.key != default.key
    ]
    return [default, *others]


def readers(task: str, needed: set[str], profile: str | None = None) -> list[Checkpoint]:
    """The checkpoints of ``task``'s picker under ``profile`` that read every script in
    ``needed`` (runtime/scripts.py), in the picker's order."""
    return [c for c in choices(task, profile) if c.scripts and needed <= set(c.scripts)]


# The script each language of the probe sets and the pages is written in (runtime/scripts.py).
LANGUAGE_SCRIPTS = {"en": "Latin", "zh": "Han"}


def language_default(task: str, language: str, profile: str | None = None) -> Checkpoint:
    """The checkpoint ``task`` uses for inputs in ``language`` under ``profile``: its default
    when that reads the language's script; else, of its picker, the default of the task it
    borrows from (Caption and Ask: the chat model, a Qwen that reads Chinese on the cpu and
    gpu profiles) or the first that reads it; else the default (BLIP's Chinese scores then
    show that it can't)."""
    default = default_checkpoint(task, profile)
    script = LANGUAGE_SCRIPTS.get(language)
    if script is None or not default.scripts or script in default.scripts:
        return default
    offered = {c.key: c for c in choices(task, profile)}
    lender = [default_checkpoint(BORROWS[task], profile).key] if task in BORROWS else []
    for key in [*lender, *offered]:
        if key in offered and script in offered[key].scripts:
            return offered[key]
    return default


def get_checkpoint(task: str, key: str | None = None, profile: str | None = None) -> Checkpoint:
    """Look up ``key`` among the checkpoints ``profile`` offers for ``task`` (its default when None)."""
    offered = choices(task, profile)
    if key is None or key == "":
        return offered[0]
    for checkpoint in offered:
        if checkpoint.key == key:
            return checkpoint
    raise ValueError(f"Unknown {task} model {key!r}; available models = {[c.key for c in offered]}")
