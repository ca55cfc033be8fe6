"""Devices, finding checkpoints, and the one model cache.

A model is loaded the first time a task asks for it and reused after that. Under the
``auto`` profile, a checkpoint that is neither in the local Hugging Face cache nor
downloadable (no network) is replaced by its tiny twin, with a notice that says so;
an explicitly chosen profile raises ``CheckpointUnavailable`` instead.

Speed and memory (see the README's Performance section):

- precision: on a CPU with native bfloat16 (AVX512-BF16 or AMX) models load in
  bfloat16, elsewhere in float32; on CUDA in bfloat16 where the GPU supports it, else
  float16. ``FAST_PATH=off`` (or the Models panel) keeps float32 on the CPU. Tiny
  models always use float32: their 32-wide layers gain nothing from bfloat16.
- threads: PyTorch uses the CPUs this process may use (affinity and container quota).
- a memory budget: loading a model that would not fit first unloads the least
  recently used one (on a GPU: moves it to the CPU while there is room there), and
  the memory is handed back (``gc``, ``torch.cuda.empty_cache``, ``malloc_trim``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import importlib
import importlib.util
import inspect
import math
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
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


@functools.cache
def cuda_available() -> bool:
    """``torch.cuda.is_available()``, without importing torch (seconds) while the page
    starts: on Linux, a PyTorch built with CUDA and an NVIDIA driver loaded. Decides
    the ``auto`` profile; the device a model loads on is still PyTorch's answer."""
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return pick_device() == "cuda"
    if os.getenv("SPACES_ZERO_GPU"):  # ZeroGPU attaches a GPU inside each call
        return True
    if os.getenv("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    try:  # torch/version.py says `cuda: Optional[str] = '12.8'` in CUDA builds, `= None` in CPU ones
        version = (Path(spec.submodule_search_locations[0]) / "version.py").read_text()
    except OSError:
        return pick_device() == "cuda"
    built_with_cuda = re.search(r"^cuda\b[^=]*=\s*['\"]", version, re.MULTILINE) is not None
    return built_with_cuda and (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists())


# CPU features that make bfloat16 matmuls run natively (oneDNN uses them): AVX512-BF16
# (Intel Cooper Lake and later Xeons, AMD Zen 4 and later) and AMX (Sapphire Rapids and later).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, read once: /proc/cpuinfo on Linux, else what PyTorch detects."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    import torch

    found = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
    return frozenset(flag for flag, probe in found.items() if getattr(torch.cpu, probe, lambda: False)())


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    return any(flag in (cpu_flags() if flags is None else flags) for flag in BF16_CPU_FLAGS)


def fast_path_default() -> bool:
    """Whether the fast path starts on: ``FAST_PATH`` is anything but off/0/false/no."""
    return settings.FAST_PATH not in ("off", "0", "false", "no")


def pick_dtype(device: str, fast: bool = True, flags: frozenset[str] | None = None, cuda_bf16: bool | None = None):
    """The dtype models load in on ``device``.

    CPU: bfloat16 with the fast path on a CPU that has native bfloat16 instructions
    (about 2x the float32 matmul speed there, half the memory), else float32: without
    them bfloat16 is emulated and slower than float32, and float16 matmuls are slower
    still. CUDA: bfloat16 with the fast path on GPUs that support it (Ampere and later;
    the range of float32, so no VAE overflow), else float16 (half the memory, tensor cores).
    """
    import torch

    if device.startswith("cuda"):
        if cuda_bf16 is None:
            cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        return torch.bfloat16 if fast and cuda_bf16 else torch.float16
    return torch.bfloat16 if fast and cpu_has_bf16(flags) else torch.float32


def _cgroup_cpus() -> float | None:
    """CPUs a container may use (cgroup v2 cpu.max, else v1 cfs quota), None without a limit."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a container's CPU quota.
    ``os.cpu_count()`` reports the host's CPUs, which oversubscribes a 2-vCPU container."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        count = os.cpu_count() or 1
    quota = _cgroup_cpus()
    return max(1, min(count, math.ceil(quota))) if quota else count


@functools.cache
def configure_torch() -> int:
    """Set PyTorch's thread count once (NUM_THREADS, else every usable CPU) and let
    float32 matmuls on CUDA use TF32; returns the thread count."""
    import torch

    threads = settings.NUM_THREADS or usable_cpus()
    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return threads


def total_memory(device: str) -> int:
    """Bytes of memory on ``device``: the GPU's, or the machine's capped by a container limit."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows
        return 0
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            total = min(total, int(limit))
    return total


def default_budget(device: str) -> int:
    """MODEL_MEMORY_BUDGET, else 85% of a GPU's memory or 60% of the machine's (the rest
    is for activations, the app and the system); 0 when the size is unknown (no limit)."""
    if settings.MODEL_MEMORY_BUDGET:
        return settings.MODEL_MEMORY_BUDGET
    return int(total_memory(device) * (0.85 if device.startswith("cuda") else 0.6))


def tensor_bytes(pipeline: Any) -> dict[str, int]:
    """Bytes of weights and buffers a pipeline holds per device type ({"cpu": n, "cuda": m}),
    over every torch module among its attributes and, for diffusers, its components;
    tensors shared between modules are counted once."""
    import torch

    modules = []
    for value in [*vars(pipeline).values(), *getattr(getattr(pipeline, "pipe", None), "components", {}).values()]:
        if isinstance(value, torch.nn.Module):
            modules.append(value)
        elif hasattr(value, "components"):  # a diffusers pipeline
            modules += [c for c in value.components.values() if isinstance(c, torch.nn.Module)]
    seen, sizes = set(), {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            key = (tensor.device.type, tensor.data_ptr())
            if key in seen or tensor.device.type == "meta":
                continue
            seen.add(key)
            sizes[tensor.device.type] = sizes.get(tensor.device.type, 0) + tensor.numel() * tensor.element_size()
        for packed in _quantized_linears(module):
            weight = packed.weight()
            sizes["cpu"] = sizes.get("cpu", 0) + weight.numel() * weight.element_size()
    return sizes


def _quantized_linears(module) -> list:
    # torch.ao's dynamic Linear: its int8 weight is packed, outside parameters()
    return [m for m in module.modules() if hasattr(m, "_packed_params") and callable(getattr(m, "weight", None))]


def release_memory() -> None:
    """Hand freed memory back: collect cycles, empty PyTorch's CUDA cache, and return the
    C heap's free pages to the system (glibc keeps them otherwise; RSS would not drop)."""
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL("libc.so.6").malloc_trim(0)


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


def estimate_bytes(checkpoint: Checkpoint, source: str, dtype) -> int:
    """About how much memory ``checkpoint`` takes once loaded in ``dtype``: its weight files
    (a local directory or the Hub cache; the full-precision file where a folder has a
    float16 variant too), else the registry's download size, scaled from float32."""
    import torch

    folder = Path(source) if Path(source).is_dir() else _snapshot(checkpoint)
    total = 0
    if folder is not None:
        files = [f for f in folder.rglob("*") if f.suffix in (".safetensors", ".bin") and f.is_file()]
        if any(f.suffix == ".safetensors" for f in files):
            files = [f for f in files if f.suffix == ".safetensors"]
        largest: dict[tuple, int] = {}
        for f in files:
            key = (f.parent, re.sub(r"\.(fp16|bf16|fp32)(?=\.)", "", f.name))
            largest[key] = max(largest.get(key, 0), f.stat().st_size)
        total = sum(largest.values())
    if not total:
        number, _, unit = checkpoint.size.partition(" ")
        scale = {"KB": 2**10, "MB": 2**20, "GB": 2**30}.get(unit, 0)
        total = int(float(number or 0) * scale)
    return total * torch.finfo(dtype).bits // 32


def _snapshot(checkpoint: Checkpoint) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model_index.json", "config.json"):
        found = try_to_load_from_cache(checkpoint.repo_id, filename, revision=checkpoint.revision)
        if isinstance(found, str):
            return Path(found).parent
    return None


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
        compile_ok = settings.TORCH_COMPILE and not os.getenv("SPACES_ZERO_GPU")
        options["compile"] = fast and device.startswith("cuda") and compile_ok
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
    last_used: float = field(default_factory=time.time)
    sizes: dict | None = field(default=None, repr=False)  # tensor_bytes, counted when needed

    @property
    def offloaded(self) -> bool:
        return self.device != self.home

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
        self._items: OrderedDict[tuple[str, str], Loaded] = OrderedDict()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.RLock()

    def configure(self, profile: str | None) -> None:
        registry.resolve_profile(profile)  # validate
        self.profile = profile

    def budget(self, device: str) -> int:
        """Bytes that models may take on ``device``; 0 means no limit."""
        return default_budget(device) if self.budget_override is None else self.budget_override

    def is_loaded(self, task: str, key: str | None = None) -> bool:
        return self.peek(task, key) is not None

    def peek(self, task: str, key: str | None = None) -> Loaded | None:
        """The loaded pipeline for ``task``/``key``, or None; never loads, never counts as a use."""
        checkpoint = registry.get_checkpoint(task, key, self.profile)
        return self._items.get((task, checkpoint.key))

    def get(self, task: str, key: str | None = None, on_load: Callable[[Checkpoint], None] | None = None) -> Loaded:
        """The pipeline for ``task`` and checkpoint ``key`` (the profile's default when None),
        loading it on first use; ``on_load`` is called just before a load starts."""
        requested = registry.get_checkpoint(task, key, self.profile)
        slot = (task, requested.key)
        with self._lock:
            lock = self._locks.setdefault(slot, threading.Lock())
        with lock:
            with self._lock:
                loaded = self._items.get(slot)
                if loaded is not None:
                    self._items.move_to_end(slot)
            if loaded is None:
                if on_load is not None:
                    on_load(requested)
                loaded = self._load(task, requested)
                with self._lock:
                    self._items[slot] = loaded
            elif loaded.offloaded:
                self._make_room(loaded.home, loaded.nbytes("cpu"), keep=slot)
                self._move(loaded, loaded.home)
            loaded.last_used = time.time()
            loaded.sizes = None  # counted again: a pipeline may have grown (e.g. a decoder loaded on use)
            self._make_room(loaded.home, 0, keep=slot)  # measured sizes may exceed the estimate
            return loaded

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
        configure_torch()
        device = pick_device()
        # Tiny models: 32-wide layers gain nothing from bfloat16 or int8, and float32 keeps
        # their outputs identical on every machine.
        options = load_options(cls, device, self.fast_path and not checkpoint.is_tiny)
        if checkpoint.defaults:
            options["defaults"] = checkpoint.defaults
        self._make_room(device, estimate_bytes(checkpoint, source, options["dtype"]), keep=None)
        start = time.perf_counter()
        pipeline = cls.from_pretrained(
            source, revision=checkpoint.revision, device=device, local_files_only=local_only, **options
        )
        precision = str(options["dtype"]).replace("torch.", "") + (" + int8 decoder" if options.get("quantize") else "")
        precision += " + torch.compile" if options.get("compile") else ""
        seconds = time.perf_counter() - start
        return Loaded(pipeline, checkpoint, requested, device, seconds, notice, precision, home=device)

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
        from pipelines.batching import DEVICE_LOCK

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


# --- Precision helpers for the pipelines -------------------------------------------


def quantize_int8(module):
    """Dynamic int8 quantisation of ``module``'s Linear layers, in place (weights stored as
    int8 with a scale per output channel, activations quantised per call): a text decoder
    generates one token at a time, so it is bound by reading its weights, and int8 reads a
    quarter of float32's bytes. Per-channel scales kept BLIP's greedy tokens identical to
    float32 where one scale per matrix changed them. The module must be float32, on the CPU."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch.ao's eager API is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        qconfig = {torch.nn.Linear: per_channel_dynamic_qconfig}
        return quantize_dynamic(module, qconfig, dtype=torch.qint8, inplace=True)


def float_outputs(module) -> None:
    """Make ``module`` (e.g. a bfloat16 vision encoder) hand float32 tensors to what follows
    (an int8 decoder, which takes float32)."""
    import torch

    def cast(value):
        return value.float() if torch.is_tensor(value) and value.is_floating_point() else value

    def to_float(_module, _args, output):
        if isinstance(output, tuple):  # called with return_dict=False
            return tuple(cast(value) for value in output)
        for key, value in output.items():
            output[key] = cast(value)
        return output

    module.register_forward_hook(to_float)


def fused_vit_attention(vision_model) -> None:
    """Run the self-attention of BLIP's ViT with PyTorch's fused ``scaled_dot_product_attention``
    where that is faster: transformers runs it eager (scores, scale, softmax and weighted
    sum as separate ops over a (heads, 577, 577) matrix). In place, the same math. Measured
    on a 2-core CPU (ViT-B/16 at 384 px, alternating runs): 1.22x faster in float32, but
    5% slower in bfloat16, where the eager ops stay; on a GPU the fused kernel is the fast
    one. The vision encoder's own attention maps are then not returned (nothing here reads
    them: the explain views use the text side's cross-attention)."""
    import types

    import torch
    import torch.nn.functional as F

    parameter = next(vision_model.parameters())
    if parameter.device.type == "cpu" and parameter.dtype != torch.float32:
        return

    def forward(self, hidden_states, **kwargs):
        batch, length, width = hidden_states.shape  # (B, 1 + patches, D)
        qkv = self.qkv(hidden_states).reshape(batch, length, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, D / heads)
        context = F.scaled_dot_product_attention(query, key, value, scale=self.scale)
        return self.projection(context.transpose(1, 2).reshape(batch, length, width)), None

    for layer in vision_model.encoder.layers:
        layer.self_attn.forward = types.MethodType(forward, layer.self_attn)
