"""Memory accounting: how much a machine or GPU has, the budget models may take, how
many bytes a loaded pipeline holds, and handing freed memory back to the system."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
from pathlib import Path
from typing import Any

from runtime import settings


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
