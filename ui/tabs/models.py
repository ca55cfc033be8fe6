"""Models panel: which models are loaded, where each came from, the memory they take, the
precision they run in, buttons to unload them or switch the CPU fast path (see
pipelines/cache.py), and one to download a profile's models before class (runtime/prepare.py)."""

from __future__ import annotations

import time

import gradio as gr

from pipelines.cache import MODELS
from runtime import registry, settings
from runtime.download import DownloadError, origin, size_text
from runtime.prepare import checkpoints, prepare
from ui.chain import display
from ui.context import Context
from ui.i18n import _, both, t
from ui.messages import locale, model_name, text, translate

MB = 2**20


def _size(nbytes: int) -> str:
    if nbytes >= 2**30:
        return f"{nbytes / 2**30:.2f} GB"
    return f"{nbytes / MB:.0f} MB" if nbytes >= MB else f"{nbytes / 2**10:.0f} KB"


def machine_summary() -> str:
    """One line about the device, the precision the next loads will use, threads and the budget."""
    import torch

    from runtime.devices import configure_torch, cpu_has_bf16, pick_device, pick_dtype
    from runtime.memory import total_memory

    device = pick_device()
    dtype = str(pick_dtype(device, MODELS.fast_path)).replace("torch.", "")
    if device == "cpu":
        why = both("models.bf16_native" if cpu_has_bf16() else "models.bf16_missing")
        why = why if MODELS.fast_path else both("models.fast_off")
        where = f"CPU · {both('models.threads', count=configure_torch(MODELS.profile))}"
    else:
        why = both("models.fast_on" if MODELS.fast_path else "models.fast_off")
        where = torch.cuda.get_device_name(0)
    if registry.resolve_profile(MODELS.profile) == "tiny":
        dtype, why = "float32", both("models.tiny_float32")
    budget = MODELS.budget(device)
    total = _size(total_memory(device))
    budget_text = both("models.budget_of", budget=_size(budget), total=total) if budget else both("models.no_limit")
    line = f"**{where}** · {both('models.loads_in')} **{dtype}** ({why}) · {both('models.budget')}: **{budget_text}**"
    return line + servers_summary()


def servers_summary() -> str:
    """Where the tasks that may run on a model server run (BACKEND_<TASK>): empty when all run here."""
    from runtime.backends import backend_for

    if not settings.BACKENDS:
        return ""
    where = []
    for task in settings.REMOTE_TASKS:
        try:
            backend = backend_for(task, registry.get_checkpoint(task, None, MODELS.profile))
        except ValueError as error:
            where.append(f"{both(f'models.here_{task}')} ⚠️ {error}")
            continue
        where.append(
            both(f"models.server_{task}", model=backend.shown_model, where=backend.where)
            if backend
            else both(f"models.here_{task}")
        )
    return f"\n\n**{both('models.servers')}**: " + " · ".join(where)


def loaded_table() -> str:
    """The loaded models as a Markdown table, least recently used first, with their total."""
    loaded = MODELS.loaded()
    if not loaded:
        return both("models.none_loaded")
    now = time.time()
    columns = ("task", "model", "source", "device", "precision", "memory", "last_used")
    rows = ["| " + " | ".join(both(f"models.col_{c}") for c in columns) + " |", "|---|---|---|---|---|---:|---:|"]
    for item in loaded:
        where = f"{item.device} ({both('models.offloaded')})" if item.offloaded else item.device
        if item.runtime == "onnxruntime":  # what runs its encoders (CPU_RUNTIME, runtime/ort.py)
            where += f" · {both('models.runtime_onnxruntime')}"
        elif item.runtime == "torch-fallback":
            where += f" · {both('models.runtime_fallback', why=item.runtime_note)}"
        rows.append(
            f"| {task_name(item.requested.task)} | {shown(item.checkpoint)} | {source(item.checkpoint)} | {where} | "
            f"{item.precision} | "
            f"{_size(item.nbytes())} | {now - item.last_used:.0f} s |"
        )
    total = sum(item.nbytes() for item in loaded)
    return "\n".join(rows) + f"\n\n**{both('models.total')}: {_size(total)}**"


def task_name(task: str) -> str:
    """A task as the page names it ("speech recognition", "语音识别"), never its registry key."""
    return both(f"models.task_{task}")


def shown(checkpoint: registry.Checkpoint) -> str:
    """A checkpoint's display name in the request's language (ui/locales/*/checkpoints.json)."""
    return model_name(checkpoint.key, checkpoint.label)


def source(checkpoint: registry.Checkpoint) -> str:
    """Where a checkpoint came from: built here, a folder, the Hub, a mirror, ModelScope, the cache."""
    found = origin(checkpoint)
    return both(f"models.origin_{found['kind']}", where=found["where"]).strip()


def _choices() -> list[tuple[str, str]]:
    return [
        (
            f"{t(f'models.task_{i.requested.task}', locale())}: {shown(i.checkpoint)}",
            f"{i.requested.task}|{i.requested.key}",
        )
        for i in MODELS.loaded()
    ]


def refresh():
    choices = _choices()
    return machine_summary(), loaded_table(), gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)


def unload(slot: str | None):
    if not slot:  # nothing picked: say so, rather than refresh as if something happened
        raise gr.Error(text("unload_none"), title=text("title_input"), print_exception=False)
    task, _, key = slot.partition("|")
    registry.check_task(task)
    MODELS.unload(task, key)
    return refresh()


def unload_all():
    MODELS.clear()
    return refresh()


def may_prepare(request: gr.Request | None, classroom: bool) -> bool:
    """Who may download models from the panel: anyone where the panel is full; in classroom
    mode only the computer the app runs on (the teacher's: students reach it over the network)."""
    if not classroom:
        return settings.MODELS_PANEL == "full"
    host = getattr(getattr(request, "client", None), "host", "") or ""
    return host in ("127.0.0.1", "::1", "localhost")


def prepare_table(results) -> str:
    """The outcome of ``prepare`` as a Markdown table, in the request's language."""
    columns = ("task", "model", "status", "source")
    rows = ["| " + " | ".join(both(f"models.col_{c}") for c in columns) + " |", "|---|---|---|---|"]
    for r in results:
        if r.status == "failed":
            status = both("models.prepare_failed", why=translate(r.error))
        elif r.status == "downloaded":
            status = both("models.prepare_downloaded", size=size_text(r.nbytes))
        else:
            status = both("models.prepare_here")
        where = source(r.checkpoint) if r.status != "failed" else ""
        rows.append(f"| {task_name(r.checkpoint.task)} | {shown(r.checkpoint)} | {status} | {where} |")
    ready = sum(r.status != "failed" for r in results)
    return "\n".join(rows) + f"\n\n**{both('models.prepare_ready', ready=ready, count=len(results))}**"


def set_fast_path(on: bool):
    MODELS.set_fast_path(bool(on))  # unloads every model: each reloads in the new precision
    return refresh()


class Downloads:
    """The download button: shown to whoever ``may_prepare`` when the page loads, and
    checked again on the server when clicked."""

    def __init__(self, classroom: bool):
        self.classroom = classroom  # in classroom mode, the teacher alone

    def show_prepare(self, request: gr.Request):  # the tiny profile builds its models here: nothing to download
        tiny = registry.resolve_profile(MODELS.profile) == "tiny"
        return gr.Group(visible=may_prepare(request, self.classroom) and not tiny)

    def prepare_models(self, request: gr.Request, progress=gr.Progress()):
        """Download the profile's models (runtime/prepare.py), with progress; a table of what is ready."""
        if not may_prepare(request, self.classroom):
            raise gr.Error(both("models.prepare_teacher_only"), print_exception=False)

        def on_progress(done: int, total: int) -> None:
            progress((done, total), desc=f"{size_text(done)} / {size_text(total)}", unit="bytes")

        try:
            results = prepare(checkpoints(MODELS.profile), on_progress)
        except DownloadError as error:  # the disk check: nothing was downloaded
            raise gr.Error(translate(error), title=text("title_download"), print_exception=False) from None
        return prepare_table(results)


def build(demo: gr.Blocks, ctx: Context) -> None:
    """The panel; with MODELS_PANEL=view (a public Space without a login) or in classroom
    mode, only the list: what would act for every visitor (unloading, the fast-path
    switch) is not built, so no request can reach it either. Where it is built, those
    actions go through the queue, so RATE_LIMIT counts them as it counts model runs.
    The download button is there for whoever ``may_prepare``: shown to them when the page
    loads, and checked again on the server when clicked."""
    if settings.MODELS_PANEL not in ("full", "view"):
        raise ValueError(f"MODELS_PANEL must be full or view, not {settings.MODELS_PANEL!r}.")
    full = settings.MODELS_PANEL == "full" and not ctx.classroom.active
    classroom = ctx.classroom.active
    with gr.Accordion(_("models.title"), open=False) as panel:
        gr.Markdown(_("models.intro"))
        summary = gr.Markdown()
        table = gr.Markdown()
        with gr.Row():
            picked = gr.Dropdown(label=_("models.pick"), choices=[], scale=3, visible=full)
            if full:
                unload_button = gr.Button(_("models.unload"), variant="stop", scale=1)
                unload_all_button = gr.Button(_("models.unload_all"), scale=1)
            refresh_button = gr.Button(_("models.refresh"), scale=1)
        if full:
            fast = gr.Checkbox(MODELS.fast_path, label=_("models.fast_path"), info=_("models.fast_path_info"))
        else:
            gr.Markdown(_("models.view_only"))
        with gr.Group(visible=False) as preparing:
            gr.Markdown(_("models.prepare_info"))
            prepare_button = gr.Button(_("models.prepare"))
            prepared = gr.Markdown()

    outputs = [summary, table, picked]
    private = dict(api_visibility="private", queue=False)
    shown = display(refresh, ctx)
    panel.expand(shown, None, outputs, **private)
    refresh_button.click(shown, None, outputs, **private)

    downloads = Downloads(classroom)
    demo.load(display(downloads.show_prepare, ctx), None, preparing, **private)
    prepared_by = dict(api_visibility="private", concurrency_id="models-panel")
    prepare_button.click(display(downloads.prepare_models, ctx), None, prepared, **prepared_by)
    if not full:
        return
    acting = dict(api_visibility="private", concurrency_id="models-panel")  # queued: rate-limited
    unload_button.click(display(unload, ctx, picked), picked, outputs, **acting)
    unload_all_button.click(display(unload_all, ctx), None, outputs, **acting)
    fast.input(display(set_fast_path, ctx, fast), fast, outputs, **acting)
    demo.load(lambda: MODELS.fast_path, None, fast, **private)
