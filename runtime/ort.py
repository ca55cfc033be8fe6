"""ONNX Runtime on the CPU, for the encoders where it is faster than PyTorch.

A component (CLIP's image tower, its text tower) is exported once per checkpoint with
PyTorch's maintained exporter (``torch.onnx.export(dynamo=True)``, the default since
torch 2.9, through onnxscript), cached on disk under ``DATA_DIR/onnx`` and run with
onnxruntime's CPU execution provider. The file name holds a key of the checkpoint
(its id and revision, the names and shapes of its weights and a sample of their values)
and of the versions of torch, transformers, onnx and onnxruntime, so a new checkpoint or
a new library version exports again and never reads a stale graph. The export is
written under a temporary name and renamed into place: an interrupted export leaves
nothing behind that a later load would read.

Each export (or cached file) is checked against PyTorch on the example inputs before it
is used. Anything that goes wrong (the exporter does not support the model, the file is
corrupt, onnxruntime is missing, the outputs differ) leaves the component on PyTorch,
with one line in the log and a notice: a request never fails because of this path.

Where it pays (docs/performance.md has the measurements, float32, random weights of the
real sizes, alternating runs): on an AVX2-only CPU the issue measured CLIP ViT-B/32's image
tower 1.3-1.4x faster than PyTorch; on the development machine (AVX-512, 2 cores) the towers
were 1.05-1.36x faster alone and no faster through the whole pipeline on a quiet machine, and
PyTorch in bfloat16 (native there) was faster than both. BLIP's ViT-B/16 at 384 px gained
nothing (0.96-0.99x against PyTorch's fused attention), so BLIP stays on PyTorch, and
``auto`` (``choose``) picks ONNX Runtime only on AVX2-only CPUs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from runtime import settings
from runtime.devices import cpu_flags
from runtime.inputs import notify
from runtime.messages import Notice

log = logging.getLogger(__name__)
# Called when a load starts an export (the UI's progress bar says so; see ``export_progress``).
_progress: ContextVar[Callable[[], None] | None] = ContextVar("onnx_export_progress", default=None)

RUNTIMES = ("auto", "torch", "onnxruntime")
FORMAT = 1  # bump when what is exported changes (the wrappers below), to export again


def choose(setting: str, device: str, fast: bool, dtype, flags: frozenset[str] | None = None) -> str:
    """ "onnxruntime" or "torch" for a model loaded on ``device`` in ``dtype``: ``setting``
    "onnxruntime" on the CPU whatever the dtype (the exported parts run in float32); "auto"
    only where PyTorch would run float32 on the fast path on a CPU without AVX-512 (``flags``:
    the CPU's, read when None). There, AVX2 only, ONNX Runtime ran CLIP's image tower
    1.3-1.4x faster (the issue's measurement); on an AVX-512 CPU it was no faster through the
    pipeline (2.73 s against 2.69 s for 64 images, quiet machine), and with native bfloat16
    PyTorch is faster still. Never on a GPU, for tiny models or with FAST_PATH=off (``fast``
    False) under "auto"."""
    import torch

    if setting not in RUNTIMES:
        raise ValueError(f"CPU_RUNTIME must be one of {', '.join(RUNTIMES)}, not {setting!r}.")
    if device != "cpu" or setting == "torch" or not available():
        return "torch"
    if setting == "onnxruntime":
        return "onnxruntime"
    avx512 = "avx512f" in (cpu_flags() if flags is None else flags)
    return "onnxruntime" if fast and dtype == torch.float32 and not avx512 else "torch"


def available() -> bool:
    """Whether onnxruntime and the exporter's packages (onnx, onnxscript) are installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnx", "onnxscript"))


@contextlib.contextmanager
def export_progress(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback()`` whenever a load inside the block has to export a component
    (seconds to a minute, once per checkpoint), so the caller can say so while it runs."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


def cache_dir() -> Path:
    """Where exported graphs are kept: DATA_DIR/onnx."""
    return settings.DATA_DIR / "onnx"


def versions() -> str:
    names = ("torch", "transformers", "onnx", "onnxscript", "onnxruntime")
    return ",".join(f"{name}={importlib.metadata.version(name)}" for name in names)


def checkpoint_key(module, name: str, model_id: str, revision: str) -> str:
    """16 hex digits that change with the checkpoint, the exported part and the versions:
    the names, shapes and dtypes of every weight, and the first and last 256 values of
    each (a whole-file hash of a 350 MB tower would take longer than the lookup saves)."""
    digest = hashlib.sha256(f"{FORMAT}|{name}|{model_id}|{revision}|{versions()}".encode())
    for key, tensor in module.state_dict().items():
        flat = tensor.detach().reshape(-1)
        digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype}".encode())
        if flat.numel() and tensor.dtype.is_floating_point:
            digest.update(flat[:256].float().numpy().tobytes() + flat[-256:].float().numpy().tobytes())
    return digest.hexdigest()[:16]


class OnnxModule:
    """An exported component as a callable: torch tensors in (by input name), the first
    output out as a float32 torch tensor on the CPU."""

    def __init__(self, path: Path):
        import onnxruntime
        import torch

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # as configure_torch set it (NUM_THREADS)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings are about the graph, not the request
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(node.name for node in self.session.get_inputs())  # forward's argument names
        self.path = path

    def __call__(self, **inputs):
        import torch

        feeds = {name: inputs[name].detach().cpu().numpy() for name in self.input_names}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def export(module, example: dict, dynamic: dict, path: Path) -> None:
    """Export ``module`` called with the keyword arguments ``example`` to ``path`` with
    torch.onnx's dynamo exporter; ``dynamic`` maps each argument to {axis: name} for the
    axes that vary (batch, length)."""
    import torch

    dims = {}
    shapes = {
        name: {axis: dims.setdefault(label, torch.export.Dim(label, min=1, max=4096)) for axis, label in axes.items()}
        for name, axes in dynamic.items()
        if name in example
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    quiet = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [logger.level for logger in quiet]
    try:
        # The exporter prints its steps and logs each graph pass: not for the user.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            warnings.simplefilter("ignore")
            for logger in quiet:
                logger.setLevel(logging.ERROR)  # e.g. "torchvision is not installed. Skipping torchvision::nms"
            torch.onnx.export(
                module.eval(),
                (),
                str(tmp),
                kwargs=example,
                output_names=["output"],
                dynamic_shapes=shapes,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        os.replace(tmp, path)  # atomic: a reader sees the whole graph or none
    finally:
        tmp.unlink(missing_ok=True)
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def _close(ours: np.ndarray, reference: np.ndarray) -> bool:
    """Float32 in both: the same math in another order differs by rounding only."""
    scale = max(1.0, float(np.abs(reference).max()))
    return ours.shape == reference.shape and float(np.abs(ours - reference).max()) <= 1e-3 * scale


class _Remembered(Exception):
    """An export that failed before (its ``.failed`` file says why)."""


def _why(error: Exception) -> str:
    """One line: the error's class and its first line ("RuntimeError: Unsupported operator ...")."""
    if isinstance(error, _Remembered):
        return str(error)
    first = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {first}".rstrip(": ")[:200]


def accelerate(
    module,
    example: dict,
    dynamic: dict,
    *,
    name: str,
    family: str,
    part: str,
    model_id: str = "",
    revision: str = "main",
) -> tuple[OnnxModule | None, str]:
    """``module`` (float32, on the CPU) as an ONNX Runtime session, exported on first use and
    read from the disk cache after that; ``example`` holds the keyword arguments (tensors)
    it is exported with and checked on. Returns (the session, "") or (None, why not): the caller
    then keeps PyTorch. ``family`` and ``part`` ("image" or "text") name it for people: "the
    CLIP image encoder"."""
    import torch

    label = f"{family} {part} encoder"
    path = cache_dir() / f"{name}-{checkpoint_key(module, name, model_id, revision)}.onnx"
    failed = path.with_suffix(".failed")  # an export that failed, with why: not tried again at every load
    try:
        if failed.is_file():
            raise _Remembered(failed.read_text(encoding="utf-8").strip() or "it failed before")
        session = None
        if path.is_file():
            try:
                session = OnnxModule(path)
            except Exception as error:  # a corrupt or foreign file: export it again
                log.warning("ONNX Runtime: %s is unreadable (%s); exporting it again", path.name, error)
                path.unlink(missing_ok=True)
        if session is None:
            if (report := _progress.get()) is not None:
                report()
            start = time.perf_counter()
            log.info("ONNX Runtime: exporting the %s of %s (once per checkpoint)", label, model_id or "this model")
            try:
                export(module, example, dynamic, path)
            except MemoryError:
                raise
            except Exception as error:  # unsupported by the exporter: remembered until a version changes
                path.parent.mkdir(parents=True, exist_ok=True)
                failed.write_text(_why(error), encoding="utf-8")
                raise
            session = OnnxModule(path)
            seconds = f"{time.perf_counter() - start:.0f}"
            notify(
                Notice(
                    f"onnx_exported_{part}",
                    family=family,
                    seconds=seconds,
                )
            )
        with torch.no_grad():
            reference = module(**example).float().numpy()
        if not _close(session(**example).numpy(), reference):
            path.unlink(missing_ok=True)  # not to be read again
            raise ValueError("its outputs differ from PyTorch's")
        return session, ""
    except Exception as error:
        why = _why(error)
        log.warning("ONNX Runtime: the %s stays on PyTorch (%s)", label, why)
        notify(
            Notice(
                f"onnx_fallback_{part}",
                family=family,
                why=why,
            )
        )
        return None, why
