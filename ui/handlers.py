"""What handlers use: the ZeroGPU decorator (``gpu``, ``gpu_method``), a refusal said as a
message (``refusal``), and loading a model with progress (``get_model``).

A handler is plain code: it raises ``ValueError``/``TypeError`` for bad input, with the
rule and the bad value, as the pipelines do. Where each event is declared, ui/chain.py
turns those into messages in the page's language, and any other failure into a fault
logged with its traceback, its memory freed, the user told that the app still runs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import gradio as gr

from pipelines.cache import MODELS, Loaded
from runtime import registry
from runtime.download import DownloadError, download_progress, size_text
from runtime.files import hide_paths
from runtime.hub import CheckpointUnavailable
from runtime.messages import english
from runtime.ort import export_progress
from ui.i18n import bilingual
from ui.messages import model_name, text, translate

log = logging.getLogger("playground")

try:  # On Hugging Face Spaces with ZeroGPU, a GPU is attached only inside spaces.GPU calls.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn=None, **_kwargs):
        return fn if fn is not None else (lambda f: f)


class gpu_method:  # noqa: N801 (a decorator, named like @gpu and @functools.cached_property)
    """``@gpu`` for a handler that is a method: a tab's endpoints over the app's objects
    (its collections, the Fusion lab), which the instance holds.

    ZeroGPU (``spaces.GPU``) pickles a GPU call's arguments to send them to its worker
    process, and the instance can't be pickled (locks, open indexes): decorated plainly,
    ``self`` would be the first argument. So the method is wrapped once it is bound,
    once per instance; the instance then reaches the worker through its fork, as any
    module-level object does. Gradio sees the bound method: its name, docstring and
    parameters (``self`` left out), which ui/chain.py keeps for the API."""

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:  # read from the class: the method itself, for tests and docs
            return self.fn
        bound = gpu(self.fn.__get__(instance, owner))
        instance.__dict__[self.name] = bound  # one wrapper per instance: ZeroGPU keeps a worker per function
        return bound


def refusal(message, title: str | None = None) -> gr.Error:
    """The gr.Error for a request the app refuses (bad input, a rule): logged as one line,
    without the traceback Gradio prints for an error by default, so a client sending bad
    input again and again can't flood the log. The app's own faults keep theirs. An
    ``InputError`` is said in the request's language (``ui.messages.translate``)."""
    message = hide_paths(translate(message))
    title = title or text("title_input")
    log.info("refused: %s", " ".join(message.split())[:300])
    return gr.Error(message, title=title, print_exception=False)


class ModelLoadError(RuntimeError):
    """A checkpoint that is there but fails to load (damaged files, out of memory, ...)."""


def is_out_of_memory(error: BaseException) -> bool:
    """Host or accelerator memory exhausted: MemoryError, torch.OutOfMemoryError (CUDA,
    MPS, XPU), or the RuntimeError that torch's CPU allocator raises."""
    import torch

    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error).lower()
    messages = ("out of memory", "can't allocate memory", "not enough memory")
    return isinstance(error, RuntimeError) and any(message in text for message in messages)


def get_model(task: str, model: str | None, progress: gr.Progress | None = None) -> Loaded:
    """The cached pipeline for ``task``/``model``, loading it (with a progress message) on first use."""

    def on_export() -> None:  # a first use that exports a component to ONNX Runtime (runtime/ort.py)
        if progress is not None:
            progress(0, desc=bilingual("common.exporting"))

    def on_download(done: int, total: int) -> None:  # a first use that downloads the model (runtime/download.py)
        if progress is not None:
            desc = bilingual("common.downloading", done=size_text(done), total=size_text(total))
            progress((done, total), desc=desc, unit="bytes")

    @contextlib.contextmanager
    def loading(checkpoint: registry.Checkpoint) -> Iterator[None]:  # the cache enters it around a load, only
        if progress is not None:
            name = f"{model_name(checkpoint.key, checkpoint.label)} ({checkpoint.size})"
            progress(0, desc=bilingual("common.loading", model=name))
        with export_progress(on_export), download_progress(on_download):
            yield

    try:
        return MODELS.get(task, model or None, on_load=loading)
    except (ValueError, TypeError, CheckpointUnavailable, DownloadError):
        raise
    except Exception as error:
        if is_out_of_memory(error):
            raise
        checkpoint = registry.get_checkpoint(task, model or None, MODELS.profile)
        model, detail = f"{checkpoint.label} ({checkpoint.repo_id})", f"{type(error).__name__}: {error}"
        failure = ModelLoadError(english("load_failed", {"model": model, "detail": detail}))  # ui/chain.py says it
        failure.model, failure.detail = model, detail
        raise failure from error
