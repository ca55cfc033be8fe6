"""Devices, finding checkpoints, and the one model cache.

A model is loaded the first time a task asks for it and reused after that. Under the
``auto`` profile, a checkpoint that is neither in the local Hugging Face cache nor
downloadable (no network) is replaced by its tiny twin, with a notice that says so;
an explicitly chosen profile raises ``CheckpointUnavailable`` instead.
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import registry, settings
from pipelines.registry import Checkpoint

# task -> "module:Class" of its pipeline; imported on first use so that importing
# this module stays cheap.
PIPELINE_CLASSES = {
    "caption": "pipelines.captioning:CaptionPipeline",
    "vqa": "pipelines.vqa:VQAPipeline",
    "text_to_image": "pipelines.text_to_image:TextToImagePipeline",
    "retrieval": "pipelines.retrieval:RetrievalPipeline",
    "speech_recognition": "pipelines.speech_recognition:SpeechRecognitionPipeline",
    "text_to_speech": "pipelines.text_to_speech:TextToSpeechPipeline",
    "safety_checker": "pipelines.safety:SafetyChecker",
}


class CheckpointUnavailable(RuntimeError):
    """A checkpoint is not in the local cache and can't be downloaded."""


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str):
    """float16 on CUDA (half the memory, tensor cores); float32 on the CPU, where
    float16 matmuls are slow or missing."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


@functools.cache
def hub_reachable() -> bool:
    """One quick request to the Hub; the Hub client itself retries for minutes."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        urllib.request.urlopen(
            urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=settings.HUB_CHECK_TIMEOUT
        )
    except urllib.error.HTTPError:
        return True  # the server answered
    except (OSError, ValueError):
        return False
    return True


def is_cached(checkpoint: Checkpoint) -> bool:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model_index.json", "config.json"):  # diffusers, transformers
        found = try_to_load_from_cache(checkpoint.repo_id, filename, revision=checkpoint.revision)
        if isinstance(found, str):
            return True
    return False


def locate(checkpoint: Checkpoint) -> tuple[str, bool]:
    """Where ``from_pretrained`` should load ``checkpoint`` from, and whether it may
    only use local files. Builds tiny models on first use."""
    if checkpoint.is_tiny:
        from pipelines.tiny import tiny_path

        return str(tiny_path(checkpoint.repo_id)), True
    if Path(checkpoint.repo_id).is_dir():
        return checkpoint.repo_id, True
    if is_cached(checkpoint):
        return checkpoint.repo_id, True
    if not hub_reachable():
        raise CheckpointUnavailable(
            f"{checkpoint.label} ({checkpoint.repo_id}) is not in the local Hugging Face cache and the Hub "
            f"can't be reached. Connect to the internet once, or download it elsewhere with "
            f"`hf download {checkpoint.repo_id}` and copy the cache folder (HF_HOME); "
            "or start the app with `--profile tiny` to try it with random models."
        )
    return checkpoint.repo_id, False


@dataclass
class Loaded:
    """A pipeline in the cache, with what the UI tells the user about it."""

    pipeline: Any
    checkpoint: Checkpoint  # what is actually loaded
    requested: Checkpoint  # what was asked for (differs after a fallback)
    device: str
    seconds: float
    notice: str = ""  # set when a tiny model stands in for the requested one


class ModelCache:
    """Loaded pipelines by (task, checkpoint key). Thread-safe: concurrent requests
    for the same model wait for one load instead of loading it twice."""

    def __init__(self, profile: str | None = None):
        self.profile = profile
        self._items: dict[tuple[str, str], Loaded] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()

    def configure(self, profile: str | None) -> None:
        registry.resolve_profile(profile)  # validate
        self.profile = profile

    def is_loaded(self, task: str, key: str | None = None) -> bool:
        checkpoint = registry.get_checkpoint(task, key, self.profile)
        return (task, checkpoint.key) in self._items

    def get(self, task: str, key: str | None = None, on_load: Callable[[Checkpoint], None] | None = None) -> Loaded:
        """The pipeline for ``task`` and checkpoint ``key`` (the profile's default when None),
        loading it on first use; ``on_load`` is called just before a load starts."""
        requested = registry.get_checkpoint(task, key, self.profile)
        slot = (task, requested.key)
        with self._lock:
            lock = self._locks.setdefault(slot, threading.Lock())
        with lock:
            if slot not in self._items:
                if on_load is not None:
                    on_load(requested)
                self._items[slot] = self._load(task, requested)
            return self._items[slot]

    def _load(self, task: str, requested: Checkpoint) -> Loaded:
        checkpoint, notice = requested, ""
        try:
            source, local_only = locate(requested)
        except CheckpointUnavailable as error:
            explicit = (self.profile or settings.MODEL_PROFILE).strip().lower() != "auto"
            if explicit or requested.is_tiny:
                raise
            checkpoint = registry.tiny_twin(requested)
            source, local_only = locate(checkpoint)
            notice = (
                f"{requested.label} ({requested.repo_id}) isn't available offline, so a tiny random model "
                f"stands in and its outputs are meaningless. {str(error).split('. ', 1)[1]}"
            )
        module, name = PIPELINE_CLASSES[task].split(":")
        cls = getattr(importlib.import_module(module), name)
        device = pick_device()
        start = time.perf_counter()
        extra = {"defaults": checkpoint.defaults} if checkpoint.defaults else {}
        pipeline = cls.from_pretrained(
            source, revision=checkpoint.revision, device=device, dtype=pick_dtype(device), local_files_only=local_only,
            **extra,
        )  # fmt: skip
        return Loaded(pipeline, checkpoint, requested, device, time.perf_counter() - start, notice)

    def loaded(self) -> list[Loaded]:
        return list(self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


MODELS = ModelCache()
