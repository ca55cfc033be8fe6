"""Controls every tab shares, written once: the image input, the model picker and its
status line, the seed box, the language switch and the page's language for server-written text."""

from __future__ import annotations

import gradio as gr

from classroom.policy import ClassroomPolicy
from pipelines.cache import MODELS
from runtime import registry, settings
from runtime.backends import backend_for
from runtime.inputs import Range, load_image
from runtime.messages import InputError
from ui.chain import display
from ui.context import Context
from ui.handlers import refusal
from ui.i18n import EN, _, both
from ui.messages import locale, model_name, translate
from ui.server.language import LOCALE_JS, PRESENTER_JS, SWITCH_LOCALE_JS, SWITCH_PRESENTER_JS


class ImageInput(gr.Image):
    """``gr.Image`` that turns an upload that is not an image into a message instead of a
    crash: Gradio's own reading fails with a bare error, the app's image checks
    (runtime/inputs.py) say precisely why. A component subclass (Gradio's documented
    route for custom components); Gradio writes its stub, ``components.pyi``, beside this
    module on import, which git and ruff ignore."""

    def get_block_name(self) -> str:
        return "image"  # the page shows Gradio's own image input

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        except Exception:
            path = getattr(payload, "path", None)
            try:
                load_image(path, "uploaded image")
            except (ValueError, TypeError) as error:
                raise refusal(error) from None
            raise refusal(InputError("image_upload")) from None


def image_input(**kwargs) -> gr.Image:
    """An image input that hands the uploaded file to the pipeline untouched (the
    pipeline converts modes, orientation and size itself, see runtime/inputs.py) and
    says why an upload is not an image it can read (``ImageInput``)."""
    return ImageInput(type="filepath", image_mode=None, **kwargs)


def examples(english: list[list], chinese: list[list], inputs: list, **kwargs) -> tuple[gr.Examples, gr.Examples]:
    """gr.Examples in the page's language: an English and a Chinese set, each in a column
    that the i18n CSS hides in the other language (ui/page/page.css), so the Chinese page
    shows Chinese questions, labels and prompts (Gradio's examples hold values, which its
    i18n does not translate). Both sets fill the same inputs."""
    if len(english) != len(chinese):
        raise ValueError(f"Give every example in both languages: {len(english)} English, {len(chinese)} Chinese.")
    made = []
    for rows, css in ((english, "i18n-en"), (chinese, "i18n-zh")):
        with gr.Column(elem_classes=["examples", css]):
            made.append(gr.Examples(rows, inputs=inputs, label=_("common.examples"), **kwargs))
    return made[0], made[1]


def picker_choice(checkpoint: registry.Checkpoint) -> tuple[str, str]:
    """A checkpoint as a model picker lists it: its display name in the page's language
    (``checkpoints.<key>``, translated in the browser; the registry's label where the name
    reads the same in both) and its download size, with its key as the value."""
    key = f"checkpoints.{checkpoint.key}"
    name = _(key) if key in EN else checkpoint.label
    return (name + f" · {checkpoint.size}" if checkpoint.size else name), checkpoint.key


def model_picker(task: str, classroom: ClassroomPolicy, parameter: str = "model") -> gr.Dropdown:
    """The model picker of ``task``: the checkpoints the profile offers (runtime/registry.py
    ``choices``), narrowed and guarded by the classroom; ``parameter``: the handlers'
    parameter it feeds, for the teacher's locks."""
    offered = classroom.offered(task)
    picker = classroom.control(
        parameter,
        gr.Dropdown,
        choices=[picker_choice(c) for c in offered],
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
    try:
        backend = backend_for(checkpoint.task, checkpoint)  # a chat model in Caption: the chat server
    except ValueError as error:
        return f"⚠️ {error}"
    name = model_name(checkpoint.key, checkpoint.label)
    if backend is not None:
        return f"**{name}** · {both('common.runs_on', model=backend.shown_model, where=backend.where)}"
    if loaded is None:
        return f"**{name}** (`{checkpoint.repo_id}`) · {both('common.loads_on_first_use')}"
    line = (
        f"**{model_name(loaded.checkpoint.key, loaded.checkpoint.label)}** (`{loaded.checkpoint.repo_id}`) · "
        f"{loaded.device} · {loaded.precision} · {both('common.loaded_in', seconds=f'{loaded.seconds:.1f}')}"
    )
    if loaded.notice:
        line = f"⚠️ {translate(loaded.notice, locale())}\n\n{line}"
    return line


def status_line(demo: gr.Blocks, task: str, picker: gr.Dropdown, ctx: Context | None = None) -> gr.Markdown:
    """A status line under the outputs, refreshed on page load and when the picker changes."""
    status = gr.Markdown(elem_classes="model-status")
    refresh = dict(
        fn=display(lambda m: model_status(task, m), ctx, picker),
        inputs=picker,
        outputs=status,
        api_visibility="private",
        queue=False,
    )
    demo.load(**refresh)
    picker.change(**refresh)
    return status


def language_switch(demo: gr.Blocks) -> gr.Radio:
    """English / 简体中文 on the page itself. Gradio chooses the language from the browser
    (and has a selector in its Settings); this switch reloads the page in the chosen
    language and the browser remembers it (see ``ui.server.language.LanguageScript``)."""
    switch = gr.Radio(
        [("English", "en"), ("简体中文", "zh-CN")],
        value="en",
        label=_("app.language"),
        elem_id="language-switch",
        container=False,
    )
    switch.input(None, switch, switch, js=SWITCH_LOCALE_JS)
    demo.load(None, None, switch, js=LOCALE_JS)
    gr.Timer(1.0).tick(None, None, switch, js=LOCALE_JS)  # follows Settings; runs in the browser only
    return switch


def presenter_switch(demo: gr.Blocks) -> gr.Checkbox:
    """Presenter mode for a projector: larger text and stronger contrast, switched in the
    browser at once and remembered there like the language (see ui/server/language.py)."""
    switch = gr.Checkbox(False, label=_("app.presenter"), elem_id="presenter-switch", container=False)
    switch.input(None, switch, switch, js=SWITCH_PRESENTER_JS)
    demo.load(None, None, switch, js=PRESENTER_JS)
    return switch


def page_locale(demo: gr.Blocks) -> gr.Textbox:
    """A hidden value holding the page's language ("en" or "zh-CN"), for handlers that
    write text themselves (tables, plot legends); its change event fires on a switch."""
    locale = gr.Textbox("en", visible=False)
    demo.load(None, None, locale, js=LOCALE_JS)
    gr.Timer(1.0).tick(None, None, locale, js=LOCALE_JS)  # runs in the browser only
    return locale


def session_state(value=None) -> gr.State:
    """A visitor's own value (the last result an explain view reads, a search's hits), kept
    SESSION_TTL seconds after it was last set; Gradio then drops it (the page starts over)."""
    return gr.State(value, time_to_live=settings.SESSION_TTL if settings.SESSION_TTL > 0 else None)


def seed_input(
    classroom: ClassroomPolicy, value: int = -1, *, limit: Range | None = None, label=None, info=None
) -> gr.Number:
    """The seed box, written once for every tab: a whole number, labelled "Seed" unless
    the tab says otherwise, built with the teacher's lock on ``seed`` (``classroom``).

    A model's seed (``limit`` None) takes -1 to draw one; any other is checked by
    ``runtime.inputs.check_seed``, which refuses one outside 0-4294967295 in those words.
    A lab's training seed has a declared range (``labs.fusion.LIMITS["seed"]``): the box
    starts at its low end, and the lab's check says the high end, written out in full."""
    return classroom.control(
        "seed",
        gr.Number,
        value,
        precision=0,
        minimum=None if limit is None else limit.low,
        label=label if label is not None else _("common.seed"),
        info=info if info is not None else _("common.seed_info"),
    )
