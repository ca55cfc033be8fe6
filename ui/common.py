"""What every tab shares: turning pipeline errors into messages, loading models with
progress, the model picker and its status line, and the ZeroGPU decorator."""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import threading
import traceback
from collections import OrderedDict

import gradio as gr

from classroom import policy as classroom
from runtime import registry
from runtime.cache import MODELS, Loaded
from runtime.hub import CheckpointUnavailable
from runtime.inputs import collect_notices, load_image
from ui.i18n import _, bilingual, both
from ui.server.language import LOCALE_JS, SWITCH_LOCALE_JS

log = logging.getLogger("playground")

try:  # On Hugging Face Spaces with ZeroGPU, a GPU is attached only inside spaces.GPU calls.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn=None, **_kwargs):
        return fn if fn is not None else (lambda f: f)


def image_input(**kwargs) -> gr.Image:
    """An image input that hands the uploaded file to the pipeline untouched (the
    pipeline converts modes, orientation and size itself, see runtime/inputs.py) and
    turns an upload that is not an image into a message instead of a crash.

    The check wraps this instance's preprocess: a gr.Image subclass would do the same,
    but Gradio writes a .pyi stub beside every module that defines a component class."""
    component = gr.Image(type="filepath", image_mode=None, **kwargs)
    preprocess = component.preprocess

    def checked_preprocess(payload):
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Exception:
            # Gradio's own check failed; the app's image checks say precisely why.
            path = getattr(payload, "path", None)
            try:
                load_image(path, "uploaded image")
            except (ValueError, TypeError) as error:
                raise gr.Error(f"{error} / 无法读取该图片。", title="Input problem / 输入有误") from None
            raise gr.Error(
                "The uploaded file is not an image that can be read (use PNG, JPEG, WEBP, GIF or BMP). / 无法读取该图片。"
            ) from None

    component.preprocess = checked_preprocess
    return component


class ModelLoadError(RuntimeError):
    """A checkpoint that is there but fails to load (damaged files, out of memory, ...)."""


def user_errors(fn):
    """Wrap every public handler: the classroom's locks, limits and prompt log first
    (classroom/policy.py; nothing outside classroom mode), then ``_errors_as_messages``.
    Handlers that yield (live training curves) get the same treatment at every step."""
    messages = _errors_as_messages(fn)
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            classroom.check_call(fn, args, kwargs)
            steps = fn(*args, **kwargs)
            step = _errors_as_messages(functools.wraps(fn)(lambda: next(steps, _DONE)))
            while (item := step()) is not _DONE:
                yield item

        stream.classroom_checked = True
        return stream

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        classroom.check_call(fn, args, kwargs)
        return messages(*args, **kwargs)

    wrapper.classroom_checked = True
    return wrapper


_DONE = object()


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
            except (ValueError, TypeError, CheckpointUnavailable) as error:
                raise gr.Error(str(error), title="Input problem / 输入有误") from None
            except Exception as error:  # MemoryError included
                failure = _failure_message(fn.__name__, error)
        if failure is not None:
            # Freed only here, out of the except block: until then the traceback keeps
            # every frame of the failed call alive, and with them its tensors.
            _free_memory()
            raise gr.Error(failure[1], title=failure[0]) from None
        for message in notices:
            gr.Warning(message)
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
        return "Out of memory / 内存不足", (
            "The model ran out of memory. Try a smaller image, fewer or smaller images, fewer steps, or a "
            "smaller model. The app is still running. / 内存不足，请减小图片或换用较小的模型。"
        )
    # The traceback is logged as text: a log record holding the exception itself would
    # keep the failed call's frames, and their tensors, alive in any handler that keeps records.
    log.error("handler %s failed:\n%s", handler, "".join(traceback.format_exception(error)).rstrip())
    if isinstance(error, ModelLoadError):
        return "Model failed to load / 模型加载失败", f"{error} / 模型加载失败，应用仍在运行。"
    detail = f"{type(error).__name__}: {error}"
    detail = detail if len(detail) <= 300 else detail[:300] + "…"
    return "Model error / 模型出错", (
        f"The model failed: {detail}. The app is still running; try again or pick another model. "
        "/ 模型运行失败，应用仍在运行。"
    )


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

    try:
        return MODELS.get(task, classroom.model_for(task, model or None), on_load=on_load)
    except (ValueError, TypeError, CheckpointUnavailable):
        raise
    except Exception as error:
        if is_out_of_memory(error):
            raise
        checkpoint = registry.get_checkpoint(task, model or None, MODELS.profile)
        raise ModelLoadError(
            f"{checkpoint.label} ({checkpoint.repo_id}) could not be loaded: {type(error).__name__}: {error}. "
            "Other models and tabs still work; try again, or pick another model."
        ) from error


def model_picker(task: str) -> gr.Dropdown:
    offered = classroom.offered(task)
    picker = gr.Dropdown(
        choices=[(f"{c.label} · {c.size}" if c.size else c.label, c.key) for c in offered],
        value=offered[0].key,
        label=_("common.model"),
        info=_("common.model_info"),
        interactive=len(offered) > 1,
    )
    return classroom.guard_picker(picker, task)


def model_status(task: str, model: str | None) -> str:
    """Markdown for the line under a tab: what is loaded, where, and any fallback notice."""
    try:
        checkpoint = registry.get_checkpoint(task, model or None, MODELS.profile)
    except ValueError as error:
        return f"⚠️ {error}"
    loaded = MODELS.peek(task, checkpoint.key)  # never loads, and a status check is not a use
    if loaded is None:
        return f"**{checkpoint.label}** (`{checkpoint.repo_id}`) · {both('common.loads_on_first_use')}"
    line = (
        f"**{loaded.checkpoint.label}** (`{loaded.checkpoint.repo_id}`) · {loaded.device} · "
        f"{loaded.precision} · {both('common.loaded_in', seconds=f'{loaded.seconds:.1f}')}"
    )
    if loaded.notice:
        line = f"⚠️ {loaded.notice}\n\n{line}"
    return line


# The seed drawn for a session's last sampled caption (seed -1): the status line shows it and
# Show the code uses it, so the caption can be made again (the API returns the caption
# alone). Bounded: the oldest sessions drop out.
_drawn_seeds: OrderedDict[str, int] = OrderedDict()
_drawn_lock = threading.Lock()
MAX_DRAWN_SEEDS = 1000


def remember_drawn_seed(request: gr.Request | None, seed: int | None) -> None:
    """Keep ``seed`` as the one drawn for ``request``'s session (None forgets it)."""
    key = getattr(request, "session_hash", None)
    if key is None:
        return
    with _drawn_lock:
        _drawn_seeds.pop(key, None)
        if seed is not None:
            _drawn_seeds[key] = seed
            while len(_drawn_seeds) > MAX_DRAWN_SEEDS:
                _drawn_seeds.popitem(last=False)


def drawn_seed(request: gr.Request | None) -> int | None:
    with _drawn_lock:
        return _drawn_seeds.get(getattr(request, "session_hash", None))


def status_line(demo: gr.Blocks, task: str, picker: gr.Dropdown) -> gr.Markdown:
    """A status line under the outputs, refreshed on page load and when the picker changes."""
    status = gr.Markdown(elem_classes="model-status")
    refresh = dict(
        fn=lambda m: model_status(task, m), inputs=picker, outputs=status, api_visibility="private", queue=False
    )
    demo.load(**refresh)
    picker.change(**refresh)
    return status


def language_switch(demo: gr.Blocks) -> gr.Radio:
    """English / 简体中文 on the page itself. Gradio chooses the language from the browser
    (and has a selector in its Settings); this switch reloads the page in the chosen
    language and the browser remembers it (see ``ui.i18n.LanguageScript``)."""
    switch = gr.Radio([("English", "en"), ("简体中文", "zh-CN")], value="en", label=_("app.language"),
                      elem_id="language-switch", container=False)  # fmt: skip
    switch.input(None, switch, switch, js=SWITCH_LOCALE_JS)
    demo.load(None, None, switch, js=LOCALE_JS)
    gr.Timer(1.0).tick(None, None, switch, js=LOCALE_JS)  # follows Settings; runs in the browser only
    return switch


def page_locale(demo: gr.Blocks) -> gr.Textbox:
    """A hidden value holding the page's language ("en" or "zh-CN"), for handlers that
    write text themselves (tables, plot legends); its change event fires on a switch."""
    locale = gr.Textbox("en", visible=False)
    demo.load(None, None, locale, js=LOCALE_JS)
    gr.Timer(1.0).tick(None, None, locale, js=LOCALE_JS)  # runs in the browser only
    return locale
