"""Contrastive lab tab: students train a small two-tower model with CLIP's symmetric
InfoNCE loss on the Fusion lab's frozen features and watch the image x text similarity
matrix turn diagonal, the loss fall and zero-shot accuracy on colour-shape combinations
never trained on (see labs/contrastive.py for the data, the model and the measures)."""

from __future__ import annotations

import html
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from labs import contrastive, fusion
from labs.contrastive import ContrastiveConfig, ContrastiveSet
from labs.fusion import FusionLab
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import model_picker, model_status, page_locale, seed_input, status_line
from ui.context import Context
from ui.handlers import get_model, gpu_method
from ui.i18n import _, bilingual, t

DEFAULTS = ContrastiveConfig()
UPDATES = 40  # snapshots sent to the browser per run, at most
# The largest batch: one picture of each concept trained on.
CONCEPTS = len(fusion.COLOURS) * len(fusion.SHAPES) - len(fusion.HELD_OUT_COMBINATIONS)
CURVES = ("diagonal_share", "zero_shot_accuracy", "kept_back_accuracy")
SERIES_COLOURS = {
    t(f"contrastive.series_{name}", locale): colour
    for name, colour in zip(CURVES, ("#4f46e5", "#f97316", "#16a34a"), strict=True)
    for locale in ("en", "zh-CN")
}


class Contrastive:
    """The Contrastive lab's endpoint, on the Fusion lab's cached features: each public
    method is one endpoint, named as its api_name."""

    def __init__(self, lab: FusionLab):
        self.lab = lab

    @gpu_method
    def train_contrastive(
        self,
        embedding_size: int = DEFAULTS.embedding_size,
        batch_size: int = DEFAULTS.batch_size,
        temperature: float = DEFAULTS.temperature,
        learn_temperature: bool = DEFAULTS.learn_temperature,
        learning_rate: float = DEFAULTS.learning_rate,
        epochs: int = DEFAULTS.epochs,
        seed: int = DEFAULTS.seed,
        model: str | None = None,
        progress=gr.Progress(),
    ):
        """The Contrastive lab: train an image tower and a text tower on frozen CLIP features of synthetic pictures and captions with CLIP's symmetric InfoNCE loss. Streams results as it trains.

        Args:
            embedding_size: Width of the shared space the towers project into (2-256).
            batch_size: Pictures of different concepts per step (2-9): each has its own caption and batch_size - 1 wrong ones (the negatives).
            temperature: The temperature τ dividing the cosine similarities (0.01-1).
            learn_temperature: Learn τ as CLIP does, starting from `temperature`.
            learning_rate: Adam's learning rate.
            epochs: Passes over the training pictures (1-300).
            seed: The training seed; the same seed gives the same numbers.
            model: Which retrieval checkpoint gives the features; the profile's default when empty.

        Returns:
            The result as JSON: per-epoch curves (loss, diagonal share, zero-shot accuracies, temperature), the similarity matrix of one held-back picture per concept with every caption, and the final metrics.
        """
        loaded = get_model("retrieval", model, progress)

        def on_encode(done: int, total: int) -> None:
            progress((done, total), desc=bilingual("fusion.progress_encoding"))

        data = ContrastiveSet.build(self.lab.scenes, self.lab.features(loaded.pipeline, on_encode))
        config = ContrastiveConfig(
            embedding_size=embedding_size,
            batch_size=batch_size,
            temperature=temperature,
            learn_temperature=learn_temperature,
            learning_rate=learning_rate,
            epochs=epochs,
            seed=seed,
        )
        every = max(1, int(epochs) // UPDATES) if isinstance(epochs, (int, float)) else 1
        for result in contrastive.train_steps(data, config, every=every):
            result["config"]["model"] = loaded.checkpoint.key
            progress((len(result["curves"]["epoch"]), result["config"]["epochs"]), desc=bilingual("contrastive.tab"))
            yield result


def endpoints(ctx: Context) -> Contrastive:
    """The Contrastive lab's endpoint over the app's Fusion lab."""
    return Contrastive(ctx.lab)


# --- Showing results (server-side, in the page's language) -------------------------


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _summary(result: dict, locale: str) -> str:
    m, c = result["metrics"], result["config"]
    key = "contrastive.summary_done" if result["done"] else "contrastive.summary_running"
    return t(key, locale).format(
        epoch=len(result["curves"]["epoch"]),
        epochs=c["epochs"],
        loss=f"{m['loss']:.3f}",
        share=_percent(m["diagonal_share"]),
        start=_percent(result["start"]["diagonal_share"]),
        zero_shot=_percent(m["zero_shot_accuracy"]),
        kept_back=_percent(m["kept_back_accuracy"]),
        chance=_percent(m["chance_accuracy"]),
        temperature=f"{m['temperature']:.3f}",
        seconds=f"{result['seconds']:.1f}",
        unseen=", ".join(result["data"]["unseen_captions"]),
    )


def _curves(result: dict, locale: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    curves = result["curves"]
    loss = pd.DataFrame({"epoch": curves["epoch"], "value": curves["loss"]})
    rows = [
        {"epoch": epoch, "value": value, "series": t(f"contrastive.series_{name}", locale)}
        for name in CURVES
        for epoch, value in zip(curves["epoch"], curves[name], strict=True)
    ]
    return loss, pd.DataFrame(rows, columns=["epoch", "value", "series"])


def _matrix(result: dict, locale: str) -> str:
    """The probe pictures x captions matrix, each row's probabilities shading its cells;
    the concepts never trained on are marked."""
    matrix = result["matrix"]
    star = ' <span title="{}">★</span>'.format(html.escape(t("contrastive.unseen", locale)))
    names = [
        html.escape(c) + ("" if seen else star) for c, seen in zip(matrix["captions"], matrix["seen"], strict=True)
    ]
    head = "".join(f"<th>{name}</th>" for name in names)
    rows = []
    for i, (name, probabilities) in enumerate(zip(names, matrix["probabilities"], strict=True)):
        cells = "".join(
            f'<td class="{"hit" if i == j else "miss"}" style="--share:{p:.3f}">{100 * p:.0f}</td>'
            for j, p in enumerate(probabilities)
        )
        rows.append(f"<tr><th>{name}</th>{cells}</tr>")
    title = t("contrastive.matrix_title", locale)
    corner = t("contrastive.matrix_corner", locale)
    return (
        f'<div class="fusion-confusion" style="overflow-x:auto"><p>{html.escape(title)}</p><table>'
        f'<tr><th class="corner">{html.escape(corner)}</th>{head}</tr>{"".join(rows)}</table></div>'
    )


def show(result: dict | None, locale: str):
    if not result:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    loss, measures = _curves(result, locale)
    return _summary(result, locale), loss, measures, _matrix(result, locale)


# --- The page: layout, then wiring --------------------------------------------------


def _settings(ctx: Context) -> SimpleNamespace:
    """The towers and their training: batch, width, temperature, epochs, learning rate, seed."""
    with gr.Row():
        batch_size = ctx.classroom.control(
            "batch_size",
            gr.Slider,
            *contrastive.batch_sizes(CONCEPTS).ends,
            DEFAULTS.batch_size,
            step=1,
            label=_("contrastive.batch_size"),
            info=_("contrastive.batch_size_info"),
        )
        embedding_size = ctx.classroom.control(
            "embedding_size",
            gr.Slider,
            *contrastive.LIMITS["embedding_size"].ends,
            DEFAULTS.embedding_size,
            step=2,
            label=_("contrastive.embedding_size"),
            info=_("contrastive.embedding_size_info"),
        )
    with gr.Row():
        temperature = ctx.classroom.control(
            "temperature",
            gr.Slider,
            *contrastive.LIMITS["temperature"].ends,
            DEFAULTS.temperature,
            step=0.01,
            label=_("contrastive.temperature"),
            info=_("contrastive.temperature_info"),
        )
        learn_temperature = ctx.classroom.control(
            "learn_temperature",
            gr.Checkbox,
            DEFAULTS.learn_temperature,
            label=_("contrastive.learn_temperature"),
            info=_("contrastive.learn_temperature_info"),
        )
    with gr.Row():
        epochs = ctx.classroom.control(
            "epochs",
            gr.Slider,
            *contrastive.LIMITS["epochs"].ends,
            DEFAULTS.epochs,
            step=1,
            label=_("fusion.epochs"),
            info=_("contrastive.epochs_info"),
        )
        learning_rate = ctx.classroom.control(
            "learning_rate",
            gr.Number,
            DEFAULTS.learning_rate,
            minimum=contrastive.LIMITS["learning_rate"].low,
            maximum=contrastive.LIMITS["learning_rate"].high,
            step=0.001,
            label=_("fusion.learning_rate"),
            info=_("fusion.learning_rate_info"),
        )
    seed = seed_input(ctx.classroom, DEFAULTS.seed, limit=contrastive.LIMITS["seed"], info=_("fusion.seed_info"))
    with gr.Accordion(_("fusion.data"), open=False):
        picker = model_picker("retrieval", ctx.classroom)
    return SimpleNamespace(
        batch_size=batch_size,
        embedding_size=embedding_size,
        temperature=temperature,
        learn_temperature=learn_temperature,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
        picker=picker,
    )


def _results() -> SimpleNamespace:
    """The run so far: its summary, the loss and the measures, and the similarity matrix."""
    summary = gr.Markdown(_("contrastive.summary_empty"))
    with gr.Row():
        loss_plot = gr.LinePlot(
            x="epoch",
            y="value",
            label=_("fusion.loss"),
            x_title=_("fusion.epoch"),
            y_title=_("contrastive.loss"),
        )
        measures_plot = gr.LinePlot(
            x="epoch",
            y="value",
            color="series",
            label=_("contrastive.measures"),
            x_title=_("fusion.epoch"),
            y_title=_("contrastive.share"),
            y_lim=[0, 1],
            color_map=SERIES_COLOURS,
            color_title=_("contrastive.measure"),
        )
    matrix = gr.HTML()
    return SimpleNamespace(summary=summary, loss_plot=loss_plot, measures_plot=measures_plot, matrix=matrix)


def build(demo: gr.Blocks, ctx: Context) -> None:
    api = endpoints(ctx)
    with gr.Tab(_("contrastive.tab"), id="contrastive"):
        gr.Markdown(_("contrastive.intro"), latex_delimiters=panels.LATEX)
        locale = page_locale(demo)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                page = _settings(ctx)
                train_button = gr.Button(_("contrastive.train"), elem_id=run_id("train_contrastive"), variant="primary")
            with gr.Column(scale=3):
                results = _results()
                status = status_line(demo, "retrieval", page.picker, ctx)
        panels.how_it_works("contrastive.how")
        with gr.Accordion(_("contrastive.raw"), open=False):
            raw = gr.JSON(label=_("contrastive.raw"))

        inputs = [
            page.embedding_size,
            page.batch_size,
            page.temperature,
            page.learn_temperature,
            page.learning_rate,
            page.epochs,
            page.seed,
            page.picker,
        ]
        event = train_button.click(
            endpoint(api.train_contrastive, ctx, inputs),
            inputs,
            raw,
            api_name="train_contrastive",
            concurrency_id="model",
        )
        outputs = [results.summary, results.loss_plot, results.measures_plot, results.matrix]
        shown = display(show, ctx, [raw, locale])
        raw.change(shown, [raw, locale], outputs, api_visibility="private", queue=False)
        locale.change(shown, [raw, locale], outputs, api_visibility="private", queue=False)
        status_shown = display(lambda m: model_status("retrieval", m), ctx, page.picker)
        event.then(status_shown, page.picker, status, api_visibility="private", queue=False)


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their
# parameters); the method of Contrastive runs over the app's Fusion lab (``endpoints``).
ENDPOINTS = (Contrastive.train_contrastive,)
