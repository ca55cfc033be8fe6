"""What every tab shares: turning pipeline errors into messages, loading models with
progress, the model picker and its status line, and the ZeroGPU decorator."""

from __future__ import annotations

import functools
import gc
import inspect
import logging

import gradio as gr

from pipelines import registry
from pipelines.loading import MODELS, CheckpointUnavailable, Loaded
from ui import classroom
from ui.i18n import LOCALE_JS, SWITCH_LOCALE_JS, _, bilingual, both

log = logging.getLogger("playground")

try:  # On Hugging Face Spaces with ZeroGPU, a GPU is attached only inside spaces.GPU calls.
    import spaces

    gpu = spaces.GPU
except ImportError:

    def gpu(fn=None, **_kwargs):
        return fn if fn is not None else (lambda f: f)


def image_input(**kwargs) -> gr.Image:
    """An image input that hands the uploaded file to the pipeline untouched (the
    pipeline converts modes, orientation and size itself, see pipelines/inputs.py) and
    turns an upload that is not an image into a message instead of a crash.

    The check wraps this instance's preprocess: a gr.Image subclass would do the same,
    but Gradio writes a .pyi stub beside every module that defines a component class."""
    from PIL import Image

    component = gr.Image(type="filepath", image_mode=None, **kwargs)
    preprocess = component.preprocess

    def checked_preprocess(payload):
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            raise gr.Error("The image is too large to decode safely. Please resize it. / 图片过大。") from None
        except Exception:
            raise gr.Error(
                "The uploaded file is not an image that can be read (use PNG, JPEG, WEBP, GIF or BMP). / 无法读取该图片。"
            ) from None

    component.preprocess = checked_preprocess
    return component


def user_errors(fn):
    """Wrap every public handler: the classroom's locks, limits and prompt log first
    (ui/classroom.py; nothing outside classroom mode), then ``_errors_as_messages``.
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
    checkpoint becomes a gr.Error the user reads, running out of memory frees what it
    can, and any other failure is logged and reported without taking the app down."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, TypeError, CheckpointUnavailable) as error:
            raise gr.Error(str(error), title="Input problem / 输入有误") from None
        except MemoryError:
            _free_memory()
            raise gr.Error(
                "Out of memory. Try a smaller image, fewer images or a smaller model. / 内存不足。"
            ) from None
        except Exception as error:
            import torch

            if isinstance(error, torch.OutOfMemoryError):
                _free_memory()
                raise gr.Error(
                    "The GPU ran out of memory. Try fewer or smaller images, or a smaller model. / 显存不足。"
                ) from None
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error(
                f"The model failed: {type(error).__name__}: {error}. The app is still running; try again or "
                "pick another model. / 模型运行失败，应用仍在运行。"
            ) from None

    return wrapper


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

    return MODELS.get(task, classroom.model_for(task, model or None), on_load=on_load)


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
