"""Which hardware the app runs on, and how: the device, the precision models load in,
and PyTorch's threads.

- precision: on a CPU with native bfloat16 (AVX512-BF16 or AMX) models load in
  bfloat16, elsewhere in float32; on CUDA in bfloat16 where the GPU supports it, else
  float16. ``FAST_PATH=off`` (or the Models panel) keeps float32 on the CPU.
- threads: PyTorch uses the CPUs this process may use (affinity and container quota).

Probing never imports PyTorch while the page starts (``cuda_available`` reads the
installed build instead), so the page comes up in seconds.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import re
import sys
from pathlib import Path

from runtime import settings


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
    if settings.SPACES_ZERO_GPU:  # ZeroGPU attaches a GPU inside each call
        return True
    if settings.CUDA_VISIBLE_DEVICES in ("", "-1"):
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
def configure_torch(profile: str | None = None) -> int:
    """Set PyTorch's thread count once (NUM_THREADS, else every usable CPU, else one for
    the tiny profile: ``profile``, MODEL_PROFILE when None) and let float32 matmuls on CUDA
    use TF32; returns the thread count.

    Tiny models run one thread: their 32-wide layers are far smaller than what a second
    thread is worth, and each parallel region (every layer norm) waits for that thread
    to be woken, which on a busy machine takes milliseconds. Measured on 2 loaded cores
    (2026-12-03): a layer norm 12 us with one thread, 2.2 ms with two; the Evaluate
    tab's 3 tasks x 20 items 74 s -> 7 s."""
    import torch

    tiny = (profile or settings.MODEL_PROFILE).strip().lower() == "tiny"  # "auto" never resolves to tiny
    threads = settings.NUM_THREADS or (1 if tiny else usable_cpus())
    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return threads


class _LibraryNote(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


# Notes libraries log on every start or first use that ask nothing of the user, each by
# its logger and its exact words; anything else those loggers say still shows.
LIBRARY_NOTES = {
    # The app runs without torchvision on purpose (PyPI's torchvision for the CPU torch is a
    # CUDA build) and loads PIL image processors itself, but diffusers imports transformers'
    # torchvision ones by name (CLIPImageProcessor, SiglipImageProcessor, ...): each import
    # logs the fallback to the PIL class that the app wants anyway.
    "transformers.utils.import_utils": "requires torchvision (not installed); falling back to",
    # transformers' own Whisper generate() passes suppress_tokens beside its generation
    # config (a workaround in generation_whisper.py), and its base class calls that deprecated.
    "transformers.generation.utils": "Passing `generation_config` together with generation-related arguments=({'",
    # Counting a text's tokens before cutting it to what the model reads (and saying so on
    # the page: runtime/inputs.note_truncation, the evaluation's metrics) tokenizes the whole
    # text once, which logs this; a text that reached a model uncut would fail loudly instead.
    "transformers.tokenization_utils_base": "Token indices sequence length is longer than the specified maximum",
}


def quiet_library_notes() -> None:
    """Drop the ``LIBRARY_NOTES`` from the log, and only them (once per process)."""
    for name, text in LIBRARY_NOTES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LibraryNote) and f.text == text for f in logger.filters):
            logger.addFilter(_LibraryNote(text))
