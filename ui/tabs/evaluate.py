"""Evaluate tab: run the models over the bundled probe set and see, per ability, what
they can do; put two checkpoints side by side; download the results (see evaluation/)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from classroom.policy import ClassroomPolicy
from evaluation.probes import TASKS
from pipelines.cache import MODELS
from runtime import registry, settings
from runtime.inputs import Range
from runtime.messages import InputError
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import picker_choice
from ui.context import Context
from ui.handlers import gpu
from ui.i18n import EN, _, t
from ui.messages import locale, model_name, text, translate
from ui.server import outputs
from ui.server.queue import Deadline

NONE = ""  # the "compare with" choice that runs nothing
# Probe items per task one request may ask for: its time budget (the command line has no cap).
ITEMS = Range(1, settings.EVAL_MAX_ITEMS)
ITEM_COLUMNS = ["task", "id", "ability", "input", "expected", "prediction", "score"]


def item_headers() -> list[str]:
    """The item table's headers, in the request's language."""
    return [text(f"eval_col_{column}") for column in ITEM_COLUMNS]


def _progress(progress: gr.Progress, start: float, share: float, label: str, deadline: Deadline | None = None):
    """A runner progress callback that fills [start, start + share] of the bar, and stops
    the run (ValueError) once ``deadline`` has passed."""

    def report(done: int, total: int, text: str) -> None:
        if deadline is not None and deadline.passed:
            raise InputError(
                "evaluation_stopped",
                done=done,
                total=total,
                seconds=f"{deadline.seconds:g}",
            )
        # The runner's line ("vqa · scene-000 · <the question>") is for the command line: the
        # page says which task, in its language, and how far (a probe's text may be in the other).
        task = text.partition(" · ")[0].replace("round trip", "text_to_image")
        name = t(f"evaluate.task.{task}", locale()) if f"evaluate.task.{task}" in EN else ""
        desc = f"{label}{name} · {done}/{total}" if name else f"{label}{done}/{total}"
        progress(start + share * (done / total if total else 0.0), desc=desc)

    return report


def _item_rows(results: dict) -> list[list]:
    from evaluation.probes import load_probes

    _, texts = load_probes().retrieval
    readable = {t["id"]: t["text"] for t in texts}  # retrieval answers by caption, not by id
    rows = []
    for item in results["items"]:
        scores = item["scores"]
        if item["task"] == "text_to_image" and item.get("round_trip"):
            answer = "; ".join(f"{q['question']} → {q['answer']}" for q in item["round_trip"])
            expected = "; ".join(q["answers"][0] for q in item["round_trip"])
        else:
            answer = item["prediction"]
            if not isinstance(answer, str):
                answer = " | ".join(readable.get(c, c) for c in answer)
            expected = " / ".join(readable.get(c, c) for c in item["reference"])
        headline = next(iter(scores.values()), None) if item["task"] != "caption" else scores.get("CIDEr")
        rows.append(
            [
                item["task"],
                item["id"],
                item["ability"],
                item["input"],
                expected,
                answer,
                "" if headline is None else round(float(headline), 3),
            ]
        )
    return rows


def _round_trip_gallery(results: dict, folder: Path) -> list[tuple[str, str]]:
    shown = []
    for item in results["items"]:
        if item["task"] == "text_to_image" and (folder / item["prediction"]).is_file():
            answers = " · ".join(f"{q['answer'] or '∅'} ({q['answers'][0]})" for q in item.get("round_trip", []))
            shown.append(
                (str(folder / item["prediction"]), f"{item['input']} → {answers}" if answers else item["input"])
            )
    return shown


def chart_words(where: str) -> dict[str, str]:
    """The chart's titles and tick words in ``where``'s language (evaluation.report.chart)."""
    words = {f"title.{task}": t(f"evaluate.task.{task}", where) for task in TASKS}
    for key in EN:
        if key.startswith(("evaluate.ability.", "evaluate.language.")):
            words[key.removeprefix("evaluate.")] = t(key, where)
    return words


def _task(task: str) -> str:
    return t(f"evaluate.task.{task}", locale())


def t_language(code: str) -> str:
    """A probe language's name in the request's language ("Chinese", "中文")."""
    key = f"evaluate.language.{code}"
    return t(key, locale()) if key in EN else code


def _summary(a: dict, b: dict | None) -> str:
    run = a["run"]
    lines = [text("evaluation_done", version=run["probe_set"]["version"], device=run["device"])]
    for name, res in (("A", a), ("B", b)):
        if res:
            by_language = res["run"].get("models_by_language", {})
            models = ", ".join(
                f"{_task(t)}: **{model_name(m['key'], m['label'])}**"
                + "".join(
                    f" ({t_language(lang)}: **{model_name(o['key'], o['label'])}**)"
                    for lang, o in by_language.get(t, {}).items()
                )
                for t, m in res["run"]["models"].items()
            )
            lines.append(f"- {name}: {models}")
    if run["judge"]:
        lines.append(
            f"- {text('judges')}: "
            + ", ".join(f"{k}: {model_name(v['key'], v['label'])}" for k, v in run["judge"].items())
        )
    notes = [("", n) for n in a["notes"]] + [("B: ", n) for n in (b or {}).get("notes", [])]
    lines += [f"- ⚠️ {side}{translate(n, locale())}" for side, n in notes]
    return "\n".join(lines)


def _images_made(arguments: dict) -> int:
    """Images an evaluation makes: one per text-to-image probe it runs, per model."""
    if "text_to_image" not in (arguments.get("tasks") or []):
        return 0
    from evaluation import probes, runner

    limit = arguments.get("limit") if isinstance(arguments.get("limit"), int) else None
    items = len(runner.select(probes.load_probes(), "text_to_image", limit))
    return items * (2 if arguments.get("compare_text_to_image_model") else 1)


@gpu(duration=240)  # ZeroGPU: an evaluation takes minutes, not the default 60 s
def evaluate(
    tasks: list[str],
    limit: int = settings.EVAL_DEFAULT_ITEMS,
    caption_model: str | None = None,
    vqa_model: str | None = None,
    text_to_image_model: str | None = None,
    retrieval_model: str | None = None,
    compare_caption_model: str | None = NONE,
    compare_vqa_model: str | None = NONE,
    compare_text_to_image_model: str | None = NONE,
    compare_retrieval_model: str | None = NONE,
    progress=gr.Progress(),
):
    """Measure what the models can do, per ability (colour, counting, shape, position, reading, yes/no, objects), on the bundled probe set; optionally compare a second checkpoint.

    Args:
        tasks: Which tasks to run: caption, vqa, retrieval, text_to_image.
        limit: Probe items per task (1-200).
        caption_model: The captioning checkpoint to evaluate.
        vqa_model: The VQA checkpoint to evaluate.
        text_to_image_model: The text-to-image checkpoint to evaluate.
        retrieval_model: The retrieval checkpoint to evaluate.
        compare_caption_model: A second captioning checkpoint to compare, or empty.
        compare_vqa_model: A second VQA checkpoint to compare, or empty.
        compare_text_to_image_model: A second text-to-image checkpoint to compare, or empty.
        compare_retrieval_model: A second retrieval checkpoint to compare, or empty.

    Returns:
        A summary, the results table, a chart, the files (results.json, report.md), the items and the round-trip images.
    """
    # Evaluate ``tasks`` on at most ``limit`` probe items each with models A, and with
    # models B for the tasks that name one; returns the summary, the results table, the
    # chart, the downloads, every item, and the text-to-image round trip's images.
    import pandas as pd

    from evaluation import report, runner

    tasks = runner.check_tasks(tasks)
    limit = ITEMS.check("limit", limit)
    models_a = dict(zip(TASKS, (caption_model, vqa_model, retrieval_model, text_to_image_model), strict=True))
    models_b = dict(
        zip(
            TASKS,
            (compare_caption_model, compare_vqa_model, compare_retrieval_model, compare_text_to_image_model),
            strict=True,
        )
    )
    for task in TASKS:  # check every picked key before spending minutes on a run
        for key in (models_a[task], models_b[task]):
            if key:
                registry.get_checkpoint(task, key, MODELS.profile)
    folder = outputs.new_folder("evaluation")
    a, b = _run(tasks, models_a, models_b, limit, folder, progress)
    paths = report.write_report(a, folder, b)
    headers, rows = report.table_rows(a, b)
    figure = report.chart([a, b] if b else [a], words=chart_words(locale()))
    return (
        _summary(a, b),
        pd.DataFrame(rows, columns=headers),
        figure,
        [str(p) for p in paths.values()],
        pd.DataFrame(_item_rows(a), columns=item_headers()),
        _round_trip_gallery(a, folder),
    )


def _run(tasks: list[str], models_a: dict, models_b: dict, limit: int, folder: Path, progress):
    """Run ``tasks`` with models A, then with models B those that name one (None if none
    does), under one time budget, each filling its share of the progress bar."""
    from evaluation import runner

    tasks_b = [t for t in tasks if models_b[t]]
    share = 0.5 if tasks_b else 1.0
    deadline = Deadline()
    a = runner.evaluate(
        tasks,
        models_a,
        limit=limit,
        image_dir=folder / "images",
        progress=_progress(progress, 0.0, share, "A · " if tasks_b else "", deadline),
    )
    b = None
    if tasks_b:
        b = runner.evaluate(
            tasks_b,
            models_b,
            limit=limit,
            image_dir=folder / "images-b",
            progress=_progress(progress, 0.5, 0.5, "B · ", deadline),
        )
    return a, b


def show_probes() -> list[tuple[str, str]]:
    """The probe images with their first reference caption, written once to a temp folder."""
    from evaluation.probes import load_probes

    probes = load_probes()
    folder = outputs.stable_folder(f"probes-v{probes.version}")
    shown = []
    for item in probes.captions:
        if item.get("language", "en") != "en":  # each image once (its Chinese captions are in the probe file)
            continue
        path = folder / f"{item['image']}.png"
        if not path.is_file():
            tmp = folder / f".{item['image']}.png.tmp"
            probes.image(item["image"]).save(tmp, format="PNG")
            tmp.replace(path)
        shown.append((str(path), f"{item['image']}: {item['references'][0]}"))
    return shown


def per_language(task: str, offered: list[registry.Checkpoint], profile: str | None = None) -> bool:
    """Whether model A's picker for ``task`` offers "the default, per language": where the
    picker's first model (BLIP) doesn't read Chinese and another it offers does (on the cpu
    and gpu profiles, the chat default, a Qwen VLM), which then answers the Chinese probes."""
    from evaluation.runner import PER_LANGUAGE

    if task not in PER_LANGUAGE or not offered:
        return False
    chinese = registry.language_default(task, "zh", profile or MODELS.profile)
    return chinese.key != offered[0].key and chinese.key in {c.key for c in offered}


def _picker(task: str, label: str, compare: bool, classroom: ClassroomPolicy) -> gr.Dropdown:
    """A checkpoint picker of the Evaluate tab: what the classroom offers for ``task``
    (the second column may also be "none"), guarded like every other model picker."""
    offered = classroom.offered(task)
    options = [picker_choice(c) for c in offered]
    value = NONE if compare else offered[0].key
    if compare:
        options = [(_("evaluate.none"), NONE), *options]
    elif per_language(task, offered, classroom.profile):  # empty: each language's default (runner.by_model)
        options, value = [(_("evaluate.per_language"), NONE), *options], NONE
    parameter = f"compare_{task}_model" if compare else f"{task}_model"  # the handler's, for the locks
    picker = classroom.control(parameter, gr.Dropdown, choices=options, value=value, label=_(label))
    return classroom.guard_picker(picker, task, optional=compare)


def build(demo: gr.Blocks, ctx: Context) -> None:
    with gr.Tab(_("evaluate.tab"), id="evaluate"):
        gr.Markdown(_("evaluate.intro"))
        with gr.Row(equal_height=False):
            tasks = ctx.classroom.control(
                "tasks",
                gr.CheckboxGroup,
                [(_(f"evaluate.task.{t}"), t) for t in TASKS],
                value=["caption", "vqa", "retrieval"],
                label=_("evaluate.tasks"),
                info=_("evaluate.tasks_info"),
                scale=2,
            )
            limit = ctx.classroom.control(
                "limit",
                gr.Slider,
                *ITEMS.ends,
                settings.EVAL_DEFAULT_ITEMS,
                step=1,
                label=_("evaluate.limit"),
                info=_("evaluate.limit_info"),
                scale=1,
            )
        with gr.Row(equal_height=False):
            with gr.Column():
                gr.Markdown(_("evaluate.models_a"))
                models_a = [_picker(t, f"evaluate.task.{t}", False, ctx.classroom) for t in TASKS]
            with gr.Column():
                gr.Markdown(_("evaluate.models_b"))
                models_b = [_picker(t, f"evaluate.task.{t}", True, ctx.classroom) for t in TASKS]
        button = gr.Button(_("evaluate.button"), elem_id=run_id("evaluate"), variant="primary")
        summary = gr.Markdown()
        table = gr.Dataframe(label=_("evaluate.table"), interactive=False, wrap=True)
        chart = gr.Plot(label=_("evaluate.chart"), format="png")
        downloads = gr.File(label=_("evaluate.downloads"), file_count="multiple", interactive=False)
        with gr.Accordion(_("evaluate.items"), open=False):
            items = gr.Dataframe(
                interactive=False,
                wrap=True,
                max_height=500,
                elem_classes="model-output",
                column_widths=["9%", "15%", "9%", "22%", "17%", "20%", "8%"],
            )
            round_trip = gr.Gallery(
                label=_("evaluate.round_trip"), interactive=False, columns=5, height=280, object_fit="contain"
            )
        with gr.Accordion(_("evaluate.probes"), open=False):
            gr.Markdown(_("evaluate.probes_info"))
            probes_button = gr.Button(_("evaluate.show_probes"), size="sm")
            probe_gallery = gr.Gallery(interactive=False, columns=8, height=360, object_fit="contain", show_label=False)

        # TASKS order is caption, vqa, retrieval, text_to_image; the API takes the
        # checkpoints in the order caption, vqa, text_to_image, retrieval.
        order = [TASKS.index(t) for t in ("caption", "vqa", "text_to_image", "retrieval")]
        inputs = [tasks, limit, *[models_a[i] for i in order], *[models_b[i] for i in order]]
        # One progress bar, over the scores table, naming the task and the item (not one per output).
        button.click(
            endpoint(evaluate, ctx, inputs, images=_images_made),
            inputs,
            [summary, table, chart, downloads, items, round_trip],
            api_name="evaluate",
            concurrency_id="evaluate",
            concurrency_limit=1,
            show_progress_on=table,
        )
        probes_button.click(display(show_probes, ctx), None, probe_gallery, api_visibility="private")


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their parameters).
ENDPOINTS = (evaluate,)
