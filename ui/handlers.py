"""What every handler shares: the ZeroGPU decorator, the mark for the classroom check, turning
failures into messages (``user_errors``), and loading a model with progress (``get_model``).

Pipelines raise ``ValueError``/``TypeError`` for bad input, with the rule and the bad
value; here those become ``gr.Error`` messages the user reads, in the page's language
when the error has a code (``runtime.messages.InputError``, see ui/messages.py). Anything
else is a fault: logged with its traceback, its memory freed, and the user told that the
app still runs.
"""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import traceback

import gradio as gr

from pipelines.cache import MODELS, Loaded
from runtime import registry
from runtime.backends import BackendError
from runtime.download import DownloadError, download_progress, size_text
from runtime.files import hide_paths
from runtime.hub import CheckpointUnavailable
from runtime.inputs import collect_notices
from runtime.ort import export_progress
from ui.i18n import bilingual
from ui.messages import handler_labels, text, translate

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
    parameters (``self`` left out), and the marks of ``@user_errors`` under it."""

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


def user_errors(fn):
    """Wrap every public handler: its failures become messages (``_errors_as_messages``),
    at every step of a handler that yields (live training curves). It is also marked for
    the classroom: in classroom mode, ``ClassroomPolicy.enforce`` checks each call of its
    events once, against the teacher's locks, limits and prompt log."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            steps = fn(*args, **kwargs)
            step = _errors_as_messages(functools.wraps(fn)(lambda: next(steps, _DONE)))
            try:
                while (item := step()) is not _DONE:
                    yield item
            finally:  # Stop or a closed page (Gradio closes this generator): the handler's cleanup runs now
                steps.close()

        stream.classroom_checked = True
        return stream

    wrapper = _errors_as_messages(fn)
    wrapper.classroom_checked = True
    return wrapper


_DONE = object()


def makes_images(count):
    """Declare how many images one call of a handler makes: the name of the argument that
    says so ("num_images"), a number, or a function of the call's arguments (a dict). In
    classroom mode they count toward the teacher's ``images_per_hour`` (classroom/policy.py).
    Put it under ``@user_errors``, whose wrapper carries the declaration along."""

    def declare(fn):
        fn.images_made = count
        return fn

    return declare


def shows_result(fn):
    """Declare a handler that only shows what a request already made (Show the code, an
    explanation redrawn at another layer or temperature): the page runs it after that
    request, on its own. In classroom mode it is held to the teacher's locks but is not
    another request (``requests_per_minute``), and nothing of it goes into the prompt log:
    the request it follows was counted and logged. Put it under ``@user_errors``."""
    fn.shows_result = True
    return fn


def _errors_as_messages(fn):
    """Run a handler; a pipeline's ValueError/TypeError (bad input) or a missing
    checkpoint becomes a gr.Error the user reads; running out of memory (host or GPU),
    a model that fails to load and any other failure are logged, the memory they held
    is freed, and the user gets a message while the app keeps serving. Notices the
    pipeline gave (``runtime.inputs.notify``) are shown as warnings."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        failure = None
        with collect_notices() as notices:
            try:
                result = fn(*args, **kwargs)
            except gr.Error:
                raise
            except BackendError as error:  # a model server down, slow, busy or failing: one line, no traceback
                log.warning("model server: %s", error)
                raise gr.Error(
                    hide_paths(translate(error)), title=text("title_server"), print_exception=False
                ) from None
            except (ValueError, TypeError, CheckpointUnavailable) as error:
                raise refusal(translate(error, labels=handler_labels(fn))) from None
            except DownloadError as error:  # missing, gated, a failing server, a full disk: one line, no traceback
                raise refusal(translate(error), title=text("title_download")) from None
            except Exception as error:  # MemoryError included
                failure = _failure_message(fn.__name__, error)
        if failure is not None:
            # Freed only here, out of the except block: until then the traceback keeps
            # every frame of the failed call alive, and with them its tensors.
            _free_memory()
            # Logged with its traceback already (_failure_message): not again by Gradio.
            raise gr.Error(failure[1], title=failure[0], print_exception=False) from None
        for message in notices:
            gr.Warning(translate(message, labels=handler_labels(fn)))
        return result

    return wrapper


def is_out_of_memory(error: BaseException) -> bool:
    """Host or accelerator memory exhausted: MemoryError, torch.OutOfMemoryError (CUDA,
    MPS, XPU), or the RuntimeError that torch's CPU allocator raises."""
    import torch

    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error).lower()
    messages = ("out of memory", "can't allocate memory", "not enough memory")
    return isinstance(error, RuntimeError) and any(message in text for message in messages)


def _failure_message(handler: str, error: Exception) -> tuple[str, str]:
    """(title, message) for an unexpected failure, logged with its traceback."""
    if is_out_of_memory(error):
        log.warning("handler %s ran out of memory: %s", handler, str(error)[:500])
        return text("title_memory"), text("out_of_memory")
    # The traceback is logged as text: a log record holding the exception itself would
    # keep the failed call's frames, and their tensors, alive in any handler that keeps records.
    log.error("handler %s failed:\n%s", handler, "".join(traceback.format_exception(error)).rstrip())
    if isinstance(error, ModelLoadError):
        model, detail = getattr(error, "model", ""), getattr(error, "detail", str(error))
        return text("title_load"), text("load_failed", model=model, detail=hide_paths(detail))
    detail = hide_paths(f"{type(error).__name__}: {error}")  # the log keeps the paths, the user doesn't see them
    detail = detail if len(detail) <= 300 else detail[:300] + "…"
    return text("title_model"), text("model_failed", detail=detail)


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def get_model(task: str, model: str | None, progress: gr.Progress | None = None) -> Loaded:
    """The cached pipeline for ``task``/``model``, loading it (with a progress message) on first use."""

    def on_load(checkpoint: registry.Checkpoint) -> None:
        if progress is not None:
            progress(0, desc=bilingual("common.loading", model=f"{checkpoint.label} ({checkpoint.size})"))

    def on_export() -> None:  # a first use that exports a component to ONNX Runtime (runtime/ort.py)
        if progress is not None:
            progress(0, desc=bilingual("common.exporting"))

    def on_download(done: int, total: int) -> None:  # a first use that downloads the model (runtime/download.py)
        if progress is not None:
            desc = bilingual("common.downloading", done=size_text(done), total=size_text(total))
            progress((done, total), desc=desc, unit="bytes")

    try:
        with export_progress(on_export), download_progress(on_download):
            return MODELS.get(task, model or None, on_load=on_load)
    except (ValueError, TypeError, CheckpointUnavailable, DownloadError):
        raise
    except Exception as error:
        if is_out_of_memory(error):
            raise
        checkpoint = registry.get_checkpoint(task, model or None, MODELS.profile)
        failure = ModelLoadError(
            f"{checkpoint.label} ({checkpoint.repo_id}) could not be loaded: {type(error).__name__}: {error}. "
            "Other models and tabs still work; try again, or pick another model."
        )
        failure.model, failure.detail = f"{checkpoint.label} ({checkpoint.repo_id})", f"{type(error).__name__}: {error}"
        raise failure from error
