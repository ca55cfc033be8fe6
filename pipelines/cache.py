"""The one model cache: a pipeline is loaded the first time a task asks for it and
reused after that, within a memory budget. It sits above the pipelines it loads (which
class serves each task, the safety component handed to text-to-image) and uses what
serves them from runtime/: the registry, devices, budgets, batching and the Hub.

Under the ``auto`` profile, a checkpoint that is neither in the local Hugging Face cache
nor downloadable (no network) is replaced by its tiny twin, with a notice that says so;
an explicitly chosen profile raises ``CheckpointUnavailable`` instead. Loading a model
that would not fit the budget first unloads the least recently used one (on a GPU:
moves it to the CPU while there is room there), and the memory is handed back.

``MODELS`` is the app's one mutable global (see the README's code map).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from pipelines.safety import SafetyFilter
from runtime import registry, settings
from runtime.backends import backend_for
from runtime.batching import DEVICE_LOCK, Batcher
from runtime.devices import configure_torch, fast_path_default, pick_device, pick_dtype
from runtime.hub import CheckpointUnavailable, estimate_bytes, locate
from runtime.memory import default_budget, release_memory, tensor_bytes
from runtime.messages import Notice, model_names
from runtime.registry import Checkpoint
from runtime.scripts import ScriptCheck

# task -> "module:Class" of its pipeline; imported on first use so that importing
# this module stays cheap.
PIPELINE_CLASSES = {
    "caption": "pipelines.captioning:CaptionPipeline",
    "vqa": "pipelines.vqa:VQAPipeline",
    "chat": "pipelines.vlm:ChatPipeline",
    "text_to_image": "pipelines.text_to_image:TextToImagePipeline",
    "retrieval": "pipelines.retrieval:RetrievalPipeline",
    "speech_recognition": "pipelines.speech_recognition:SpeechRecognitionPipeline",
    "text_to_speech": "pipelines.text_to_speech:TextToSpeechPipeline",
    "safety_checker": "pipelines.safety:SafetyChecker",
}
# (task, the task it borrows a checkpoint from) -> the "module:Class" that adapts the
# borrowed pipeline: a chat model asked to caption, or to answer in a word or a phrase.
# The one route for a chat model in Caption or Ask: a registry chat checkpoint offered
# there, or a checkpoint named for the task (MODEL_CAPTION, a Hub id or a folder) whose
# config is a chat model's (``served_as``).
ADAPTERS = {
    ("caption", "chat"): "pipelines.vlm_tasks:VLMCaptionPipeline",
    ("vqa", "chat"): "pipelines.vlm_tasks:VLMVQAPipeline",
}
# The tasks that may run on a model server (BACKEND_<TASK>, runtime/backends.py), and
# their adapters: the pipelines with the same methods that send each request there.
REMOTE_CLASSES = {
    "chat": "pipelines.remote:RemoteChatPipeline",
    "speech_recognition": "pipelines.remote:RemoteSpeechRecognitionPipeline",
    "text_to_image": "pipelines.remote:RemoteTextToImagePipeline",
}
REMOTE_ADAPTERS = {
    ("caption", "chat"): "pipelines.remote:RemoteCaptionPipeline",
    ("vqa", "chat"): "pipelines.remote:RemoteVQAPipeline",
}


def _import(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def served_as(task: str, checkpoint: Checkpoint, source: str, local_only: bool) -> str:
    """The task whose pipeline loads ``checkpoint`` for ``task``: "chat" for a checkpoint
    named for Caption or Ask (family "auto": a Hub id or a folder) whose config is a chat
    model's, which ``ADAPTERS`` then asks to caption or answer; else ``task``."""
    if checkpoint.family != "auto" or not any(kind == task for kind, _ in ADAPTERS):
        return task
    from transformers import AutoConfig

    from pipelines.vlm import SUPPORTED as CHAT_FAMILIES

    config = AutoConfig.from_pretrained(source, revision=checkpoint.revision, local_files_only=local_only)
    return "chat" if config.model_type in CHAT_FAMILIES else task


def load_options(cls, device: str, fast: bool) -> dict:
    """What the fast path passes to ``cls.from_pretrained`` on ``device``: the dtype, int8
    text decoders (on the CPU, for pipelines that take ``quantize``) and torch.compile
    (on CUDA with TORCH_COMPILE, never under ZeroGPU, for pipelines that take ``compile``).
    Tiny models get ``fast=False``: their 32-wide layers gain nothing."""
    options = {"dtype": pick_dtype(device, fast)}
    accepts = inspect.signature(cls.from_pretrained).parameters
    if "quantize" in accepts:
        options["quantize"] = fast and device == "cpu" and settings.INT8_DECODER not in ("off", "0", "false", "no")
    if "compile" in accepts:
        compile_ok = settings.TORCH_COMPILE and not settings.SPACES_ZERO_GPU
        options["compile"] = fast and device.startswith("cuda") and compile_ok
    if "cpu_runtime" in accepts:  # CLIP's towers on ONNX Runtime (runtime/ort.py), exported in float32
        from runtime import ort

        options["cpu_runtime"] = ort.choose(settings.CPU_RUNTIME, device, fast, options["dtype"])
        if options["cpu_runtime"] == "onnxruntime":
            options["dtype"] = pick_dtype(device, False)
    return options


@dataclass
class Loaded:
    """A pipeline in the cache, with what the UI tells the user about it."""

    pipeline: Any
    checkpoint: Checkpoint  # what is actually loaded
    requested: Checkpoint  # what was asked for (differs after a fallback)
    device: str
    seconds: float
    notice: str = ""  # set when a tiny model stands in for the requested one
    precision: str = ""  # e.g. "bfloat16 + int8 decoder"
    home: str = ""  # the device it runs on; differs from ``device`` while offloaded to the CPU
    runtime: str = ""  # "onnxruntime", "torch-fallback" (with ``runtime_note``: why) or "" (PyTorch)
    runtime_note: str = ""
    last_used: float = field(default_factory=time.time)
    sizes: dict | None = field(default=None, repr=False)  # tensor_bytes, counted when needed
    # Concurrent requests to this pipeline run through it as batches (runtime/batching.py).
    batcher: Batcher = field(default_factory=lambda: Batcher(settings.MAX_BATCH_SIZE), repr=False)

    adapters: dict = field(default_factory=dict, repr=False)  # task -> its adapter of this pipeline

    @property
    def offloaded(self) -> bool:
        return self.device != self.home

    @property
    def remote(self) -> bool:
        """Whether the model runs on a server (BACKEND_<TASK>) rather than in this process."""
        return self.device == "remote"

    def serving(self, task: str) -> Loaded:
        """This model as ``task`` uses it: a chat model in the Caption or Ask tab, through
        its adapter (``ADAPTERS``; one per loaded model, so requests with the same options
        still batch). A view: the weights, the batcher and the memory stay this one's."""
        kind = self.requested.task
        if task == kind:
            return self
        adapter = self.adapters.get(task)
        if adapter is None:
            adapters = REMOTE_ADAPTERS if self.remote else ADAPTERS
            adapter = self.adapters[task] = _import(adapters[(task, kind)])(self.pipeline)
        return dataclasses.replace(self, pipeline=adapter)

    def nbytes(self, device_type: str | None = None) -> int:
        """Bytes of weights on ``device_type`` ("cpu", "cuda"), or on every device when None."""
        if self.sizes is None:
            self.sizes = tensor_bytes(self.pipeline)
        return sum(self.sizes.values()) if device_type is None else self.sizes.get(device_type, 0)


class ModelCache:
    """Loaded pipelines by (task, checkpoint key), least recently used first, within a
    memory budget. Thread-safe: concurrent requests for the same model wait for one load
    instead of loading it twice."""

    def __init__(self, profile: str | None = None, budget: int | None = None):
        self.profile = profile
        self.budget_override = budget  # bytes; None: MODEL_MEMORY_BUDGET or the default
        self.fast_path = fast_path_default()
        self.safety_filter = settings.SAFETY_FILTER
        self._items: OrderedDict[tuple[str, str], Loaded] = OrderedDict()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.RLock()

    def configure(self, profile: str | None, safety_filter: str | None = None) -> None:
        """Set the profile, and whether text-to-image runs the safety filter ("on"/"off",
        SAFETY_FILTER when None: a classroom may lock it on)."""
        registry.resolve_profile(profile)  # validate
        self.profile = profile
        self.safety_filter = settings.SAFETY_FILTER if safety_filter is None else safety_filter

    def budget(self, device: str) -> int:
        """Bytes that models may take on ``device``; 0 means no limit."""
        return default_budget(device) if self.budget_override is None else self.budget_override

    def is_loaded(self, task: str, key: str | None = None) -> bool:
        return self.peek(task, key) is not None

    def _checkpoint(self, task: str, key: str | Checkpoint | None) -> Checkpoint:
        """A registry key offered under the profile (its default for None), or a checkpoint
        named directly (``registry.named``: a Hub id or a local directory)."""
        return key if isinstance(key, Checkpoint) else registry.get_checkpoint(task, key, self.profile)

    def peek(self, task: str, key: str | Checkpoint | None = None) -> Loaded | None:
        """The loaded pipeline for ``task``/``key``, or None; never loads, never counts as a use."""
        checkpoint = self._checkpoint(task, key)
        loaded = self._items.get((checkpoint.task, checkpoint.key))  # a borrowed one: in its own task's slot
        return None if loaded is None else loaded.serving(task)

    def get(
        self, task: str, key: str | Checkpoint | None = None, on_load: Callable[[Checkpoint], Any] | None = None
    ) -> Loaded:
        """The pipeline for ``task`` and checkpoint ``key`` (the profile's default when None),
        loading it on first use; ``on_load(checkpoint)`` is called just before a load starts and,
        when it returns a context manager (the caller's progress for a download or an export),
        the load runs inside it: a use of a loaded model enters nothing. A checkpoint that
        ``task`` borrows from another (a chat model in Caption) is that task's model, loaded
        once for both."""
        requested = self._checkpoint(task, key)
        if requested.task != task:
            return self.get(requested.task, requested, on_load).serving(task)
        slot = (task, requested.key)
        with self._lock:
            lock = self._locks.setdefault(slot, threading.Lock())
        with lock:
            with self._lock:
                loaded = self._items.get(slot)
                if loaded is not None:
                    self._items.move_to_end(slot)
            # Sizes change with a load, a move back from the CPU, or a pipeline that loads
            # parts on use (text-to-image's TAESD decoder): else the budget was checked already.
            measure = loaded is None or loaded.offloaded or getattr(loaded.pipeline, "loads_on_use", False)
            if loaded is None:
                loading = on_load(requested) if on_load is not None else None
                with loading if isinstance(loading, AbstractContextManager) else nullcontext():
                    loaded = self._load(task, requested)
                with self._lock:
                    self._items[slot] = loaded
            elif loaded.offloaded:
                self._make_room(loaded.home, loaded.nbytes("cpu"), keep=slot)
                self._move(loaded, loaded.home)
            loaded.last_used = time.time()
            if measure:
                loaded.sizes = None  # counted again
                self._make_room(loaded.home, 0, keep=slot)  # measured sizes may exceed the estimate
            return loaded

    def _load(self, task: str, requested: Checkpoint) -> Loaded:
        backend = backend_for(task, requested) if task in REMOTE_CLASSES else None
        if backend is not None:  # nothing to load here: requests go to the server
            extra = {}  # what the remote pipeline checks here: the scripts a chat model reads, the safety filter
            if task == "chat":
                extra = {"scripts": self.script_check(task, requested)}
            elif task == "text_to_image":
                extra = {"safety": self.safety_filter_for(requested), "defaults": requested.defaults}
            pipeline = _import(REMOTE_CLASSES[task])(backend, **extra)
            return Loaded(
                pipeline, requested, requested, "remote", 0.0, precision=f"remote: {backend.describe()}", home="remote"
            )
        checkpoint, notice = requested, ""
        try:
            source, local_only = locate(requested)
        except CheckpointUnavailable:
            explicit = (self.profile or settings.MODEL_PROFILE).strip().lower() != "auto"
            if explicit or requested.is_tiny:
                raise
            checkpoint = registry.tiny_twin(requested)
            source, local_only = locate(checkpoint)
            notice = Notice(
                "offline_stand_in",
                model=model_names(requested),
                repo=requested.repo_id,
            )
        kind = served_as(task, checkpoint, source, local_only)
        cls = _import(PIPELINE_CLASSES[kind])
        configure_torch(self.profile)
        device = pick_device()
        # Tiny models: 32-wide layers gain nothing from bfloat16 or int8, and float32 keeps
        # their outputs identical on every machine.
        options = load_options(cls, device, self.fast_path and not checkpoint.is_tiny)
        if checkpoint.defaults:
            options["defaults"] = checkpoint.defaults
        if "safety" in inspect.signature(cls.from_pretrained).parameters:  # text-to-image
            options["safety"] = self.safety_filter_for(checkpoint)
        if "scripts" in inspect.signature(cls.from_pretrained).parameters:  # models that read text
            options["scripts"] = self.script_check(task, requested)
        self._make_room(device, estimate_bytes(checkpoint, source, options["dtype"]), keep=None)
        start = time.perf_counter()
        pipeline = cls.from_pretrained(
            source, revision=checkpoint.revision, device=device, local_files_only=local_only, **options
        )
        quantized = getattr(pipeline, "quantized", options.get("quantize"))  # a chat model: only where it pays
        precision = str(options["dtype"]).replace("torch.", "") + (" + int8 decoder" if quantized else "")
        precision += " + torch.compile" if options.get("compile") else ""
        seconds = time.perf_counter() - start
        runtime = dict(runtime=getattr(pipeline, "runtime", ""), runtime_note=getattr(pipeline, "runtime_note", ""))
        if runtime["runtime"] == "torch":
            runtime["runtime"] = ""
        if kind != task:  # a chat model asked to caption or answer
            pipeline = _import(ADAPTERS[(task, kind)])(pipeline)
        return Loaded(pipeline, checkpoint, requested, device, seconds, notice, precision, home=device, **runtime)

    def script_check(self, task: str, checkpoint: Checkpoint) -> ScriptCheck:
        """What ``checkpoint`` reads (runtime/scripts.py), and which models of the task's
        picker read what it doesn't, for the notice a pipeline gives."""

        def readers(missing: set[str]) -> list[Checkpoint]:
            return [c for c in registry.readers(task, missing, self.profile) if c.key != checkpoint.key]

        return ScriptCheck(checkpoint.label, checkpoint.scripts, readers, key=checkpoint.key)

    def safety_filter_for(self, text_to_image: Checkpoint):
        """The safety component for images made with ``text_to_image`` (pipelines/safety.py):
        off when the filter is off; its checker loaded from this cache on first use.

        A tiny random checker stands in only for a tiny random image model: when the real
        checker can't be had (offline), images from a real model are refused rather than
        shown unchecked."""

        def checker(on_load=None):
            loaded = self.get("safety_checker", on_load=on_load)
            if loaded.checkpoint.is_tiny and not text_to_image.is_tiny:
                raise CheckpointUnavailable(
                    "safety_offline",
                    repo=loaded.requested.repo_id,
                    model=model_names(text_to_image),
                )
            return loaded.pipeline

        return SafetyFilter(on=lambda: self.safety_filter == "on", checker=checker)

    def _make_room(self, device: str, needed: int, keep: tuple[str, str] | None) -> None:
        """Unload (on a GPU: move to the CPU) the least recently used models until
        ``needed`` more bytes fit in ``device``'s budget; ``keep`` is never evicted."""
        device_type = device.split(":")[0]
        budget = self.budget(device)
        if not budget:
            return
        freed = False
        with self._lock:
            for slot, loaded in list(self._items.items()):  # least recently used first
                used = sum(item.nbytes(device_type) for item in self._items.values())
                if used + needed <= budget:
                    break
                if slot == keep or loaded.device.split(":")[0] != device_type or not loaded.nbytes(device_type):
                    continue  # e.g. a diffusion pipeline under model CPU offload: nothing to free here
                if device_type == "cuda" and hasattr(loaded.pipeline, "to"):
                    self._move(loaded, "cpu")
                    self._make_room("cpu", 0, keep=keep)  # the CPU has its own budget
                else:
                    self._evict(slot)
                freed = True
        if freed:
            release_memory()

    def _move(self, loaded: Loaded, device: str) -> None:
        with DEVICE_LOCK:  # never under a computation that is running
            loaded.pipeline.to(device)
            loaded.device = device
            loaded.sizes = None
        release_memory()

    def _evict(self, slot: tuple[str, str]) -> None:
        with self._lock:
            self._items.pop(slot, None)

    def unload(self, task: str, key: str) -> bool:
        """Unload one model and hand its memory back; False when it was not loaded."""
        with self._lock:
            found = (task, key) in self._items
            self._evict((task, key))
        release_memory()
        return found

    def set_fast_path(self, on: bool) -> None:
        """Switch the fast path; loaded models are unloaded, to reload in the new precision."""
        if on != self.fast_path:
            self.fast_path = on
            self.clear()

    def loaded(self) -> list[Loaded]:
        """Loaded models, least recently used first."""
        with self._lock:
            return list(self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        release_memory()


MODELS = ModelCache()
