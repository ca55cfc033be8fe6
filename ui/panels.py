"""Explain panels: "How it works" with the key formulas, "Show the code" with a runnable
snippet and a JSON record of each result, and the decoding explorer that the Caption
and Ask tabs share (why each token was chosen, where in the image the model looked).

Each tab owns its own explain panel (ui/tabs/*.py) and builds it from these parts; the
computations live in ``explain/`` (the torch-based ones are imported on first use, so
building the page loads nothing heavy).
"""

from __future__ import annotations

import re

import gradio as gr
import pandas as pd

from explain import snippets
from pipelines.cache import MODELS
from ui.actions import run_id
from ui.chain import display
from ui.components import session_state
from ui.i18n import _, t
from ui.messages import locale, text
from ui.server import outputs

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def how_it_works(key: str) -> None:
    with gr.Accordion(_("explain.how_title"), open=False):
        gr.Markdown(_(key), latex_delimiters=LATEX)


def show_code() -> tuple[gr.Code, gr.File]:
    """The "Show the code" accordion: the snippet and the JSON record to download."""
    with gr.Accordion(_("explain.code_title"), open=False):
        gr.Markdown(_("explain.code_intro"))
        code = gr.Code(language="python", label=_("explain.code"), interactive=False)
        record = gr.File(label=_("explain.record"), interactive=False)
    return code, record


def code_and_record(record: dict | None):
    if record is None:
        return "", None
    return snippets.snippet(record), snippets.write_record(record, outputs.new_folder("record"))


def loaded_model(task: str, model: str | None):
    """The model that made a result on screen: loaded already, so this is a cache hit."""
    return MODELS.get(task, model or None)


# Column names of charts filled by handlers can't go through gr.I18n (only component
# labels do), and a chart's axes are fixed when the page is built, so they are bilingual.
STEP, TOKEN, PROB, TOP5 = "#", "token / 词元", "p / 概率", "top 5 / 前五"


def token_columns() -> list[str]:
    """The token table's column names, in the request's language: #, token, p, top 5."""
    return [STEP, text("col_token"), text("col_p"), text("col_top5")]


STEP_LABEL, ANSWER, SIGMA, WORD, ATTENTION = "step / 步", "answer / 答案", "σ", "word / 词", "attention / 注意力"
# A chart's axis titles, in the request's language (the columns keep the names above).
AXIS_NAMES = {STEP_LABEL: "col_step", ANSWER: "col_answer", WORD: "col_word", ATTENTION: "col_attention", PROB: "col_p"}


def axis_title(column: str) -> str:
    return text(AXIS_NAMES[column]) if column in AXIS_NAMES else column


STRATEGY_KEYS = {
    "greedy": "explain.greedy",
    "beam": "explain.beam",
    "sampling": "explain.sampling",
    "classifier": "explain.classifier",
}


def _steps_table(steps: list[dict]) -> pd.DataFrame:
    rows = [
        [
            i + 1,
            s["token"],
            round(s["probability"], 4),
            " · ".join(f"{a['token']} {a['probability']:.3f}" for a in s["alternatives"]),
        ]
        for i, s in enumerate(steps)
    ]
    return pd.DataFrame(rows, columns=token_columns())


def short(label: str, limit: int = 18) -> str:
    """A chart's category label short enough not to be cut off under its bar."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def probability_bars(frame: pd.DataFrame) -> gr.BarPlot:
    """Bars of probabilities on an axis that shows their differences: 0 to 1 when one
    is large, else zoomed to 0 up to a little above the largest, and the axis says so
    (a tiny random model's 0.005s look like an empty chart on 0 to 1)."""
    top = float(frame[PROB].max()) if len(frame) else 1.0
    x_title = axis_title(frame.columns[0])
    if top >= 0.5 or top <= 0:
        return gr.BarPlot(frame, y_lim=[0, 1], x_title=x_title, y_title=axis_title(PROB))
    high = float(f"{top * 1.15:.2g}")
    title = t("explain.zoomed_axis", locale()).format(p=axis_title(PROB), top=f"{high:g}")
    # Below 0.01 the ticks in scientific notation (2.0e-31), not rows of zeros.
    return gr.BarPlot(
        frame, y_lim=[0, high], x_title=x_title, y_title=title, y_axis_format=".1e" if high < 0.01 else None
    )


def _steps_chart(steps: list[dict]) -> gr.BarPlot:
    """Chosen token's probability per step; the label keeps steps in order."""
    return probability_bars(
        pd.DataFrame(
            [{STEP_LABEL: f"{i + 1:02d} {short(s['token'], 12)}", PROB: s["probability"]} for i, s in enumerate(steps)],
            columns=[STEP_LABEL, PROB],
        )
    )


def _number(value: float) -> str:
    """A number for a Markdown table, whose line never breaks inside it: 2.09e‑23 with a
    non-breaking hyphen (a narrow column broke "2.09e-" from "23")."""
    return f"{value:.3g}".replace("-", "\u2011")


def _markdown_text(text: str) -> str:
    """Model output shown as plain text inside Markdown (a backtick is not code here)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~$])", r"\\\1", text) if text else "∅"


def _summary(record: dict) -> str:
    lines = []
    for s in record["strategies"]:
        extra = ", ".join(f"{k} = {s[k]}" for k in ("num_beams", "seed", "temperature", "top_p") if k in s)
        lines.append(
            f"| **{_strategy_name(s['name'])}**{f' ({extra})' if extra else ''} | {_markdown_text(s['text'])} | {_number(s['sequence_probability'])} |"
        )
    return f"| | {text('col_text')} | P |\n|---|---|---|\n" + "\n".join(lines)


def _strategy_name(name: str) -> str:
    """greedy, beam, sampling, classifier as the page's Strategy choices name them."""
    return t(STRATEGY_KEYS[name], locale()) if name in STRATEGY_KEYS else name


def _pick(explanation, strategy: str) -> str:
    names = [s["name"] for s in explanation.record["strategies"]]
    return strategy if strategy in names else names[0]


def attention_gallery(explanation, strategy: str, layer: int) -> list:
    strategy = _pick(explanation, strategy)
    from explain import generation as explain_generation

    layer = min(int(layer or 0), explanation.num_layers)
    items = explain_generation.heatmaps(explanation, strategy, layer)
    if "question" in explanation.maps:  # VQA: the question's words over the image too
        items += explain_generation.heatmaps(explanation, "question", layer, prefix="Q")
    return as_files(items)


def as_files(items: list[tuple]) -> list[tuple[str, str]]:
    """(image, caption) gallery items as (path, caption), each image in a file of its own.
    Gradio writes a returned PIL image into its cache in place, under the hash of its bytes:
    two visitors given the same map (a class on one example) rewrite the same file while
    one of them downloads it, and that download breaks off. A file of our own is copied
    into the cache under a temporary name and renamed, never rewritten."""
    folder = outputs.new_folder("maps")
    found = []
    for n, (image, caption) in enumerate(items):
        path = folder / f"map-{n:02d}.png"
        image.save(path)
        found.append((str(path), caption))
    return found


def render_generation(explanation, strategy: str, layer: int):
    """Summary, table, chart and heatmaps of one strategy, from a stored explanation."""
    if explanation is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    strategy = _pick(explanation, strategy)
    steps = next(s for s in explanation.record["strategies"] if s["name"] == strategy)["steps"]
    return (
        _summary(explanation.record),
        _steps_table(steps),
        _steps_chart(steps),
        attention_gallery(explanation, strategy, layer),
    )


def redraw_generation(ctx, state, strategy, layer, views: list) -> dict:
    """Wire a generation panel's redraw: its ``views`` (summary, table, chart, maps) follow
    the decoding strategy and the layer picked. Returns the redraw as event options, for the
    explain event's ``.success`` to run once it has a result."""
    render = dict(
        fn=display(render_generation, ctx, [state, strategy, layer]),
        inputs=[state, strategy, layer],
        outputs=views,
        api_visibility="private",
        queue=False,
    )
    strategy.change(**render)
    layer.release(**render)
    return render


def layer_slider(explanation):
    """The layer slider's range follows the model just explained."""
    return gr.Slider(maximum=explanation.num_layers) if explanation is not None else gr.skip()


def generation_panel(demo, classroom, title: str, intro: str, button_label: str, endpoint: str):
    """The components the caption and the VQA explain panels share (``classroom``: their
    controls are built with the teacher's locks)."""
    with gr.Accordion(_(title), open=False):
        gr.Markdown(_(intro))
        button = gr.Button(_(button_label), elem_id=run_id(endpoint), variant="secondary")
        with gr.Row():
            strategy = classroom.control(
                "decoding",
                gr.Radio,
                [(_(key), name) for name, key in STRATEGY_KEYS.items() if name != "classifier"],
                value="greedy",
                label=_("explain.strategy"),
                info=_("explain.strategy_info"),
            )
            layer = classroom.control(
                "layer", gr.Slider, 0, 24, 0, step=1, label=_("explain.layer"), info=_("explain.layer_info")
            )
        summary = gr.Markdown()
        # The table across the page (its top-5 column is the widest), the chart under it.
        table = gr.Dataframe(
            label=_("explain.steps"),
            interactive=False,
            wrap=True,
            max_height=360,
            column_widths=["7%", "20%", "11%", "62%"],
            elem_classes="token-table",
        )
        chart = gr.BarPlot(
            x=STEP_LABEL, y=PROB, label=_("explain.chart"), y_lim=[0, 1], x_label_angle=-45, height=320, sort=None
        )
        maps = gr.Gallery(label=_("explain.maps"), columns=6, height=300, object_fit="contain", format="png")
        extra = gr.Column()  # room for a panel's own outputs
        with gr.Accordion(_("explain.json"), open=False):
            record = gr.JSON(label="JSON")
    state = session_state()
    return button, strategy, layer, summary, table, chart, maps, extra, record, state
