"""The CLIP lab: classify one image against labels the visitor types (zero-shot), the
similarity matrix of images x texts with its temperature, and the panels below the tab
(the lab, How it works, Show the code for a classification and for the matrix).

``classify`` and ``similarity_matrix`` are plain module-level endpoints: they read no
collection. The lab's map of the collection's embeddings is the collection's endpoint
(``ui.tabs.search.collection``), wired here beside the matrix.
"""

from __future__ import annotations

import html
from types import SimpleNamespace

import gradio as gr

from explain import clip as explain_clip
from explain import snippets
from runtime import settings
from runtime.inputs import load_image, parse_labels
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, image_input, session_state
from ui.context import Context
from ui.handlers import get_model, gpu
from ui.i18n import _, both
from ui.messages import words
from ui.server.mcp_inputs import Files

CLASSIFY_EXAMPLES = [("cat.jpg", "cat, dog, horse, bird"), ("coffee.jpg", "coffee, tea, orange juice, soup")]
CLASSIFY_EXAMPLES_ZH = [("cat.jpg", "猫，狗，马，鸟"), ("coffee.jpg", "咖啡、茶、橙汁、汤")]


@gpu
def classify(image: str, labels: str, model: str | None = None, progress=gr.Progress(track_tqdm=True)) -> dict:
    """Zero-shot classification: how well an image matches each of the labels you give, with no training (CLIP).

    Args:
        image: The image to classify.
        labels: The labels, separated by commas, e.g. "cat, dog, bird".
        model: Which retrieval checkpoint to use; the profile's default when empty.

    Returns:
        Each label's confidence.
    """
    # The checks that need no model run first: a bad input is refused before a download.
    image, labels = load_image(image), parse_labels(labels)
    pipe = get_model("retrieval", model, progress).pipeline
    return pipe.classify(image, labels)


@gpu
def similarity_matrix(
    images: list[str] | None, texts: str, model: str | None = None, progress=gr.Progress(track_tqdm=True)
):
    """The CLIP lab: the cosine similarity of every image with every text, as the model sees them.

    Args:
        images: The images (at most 16).
        texts: The texts, one per line (at most 16).
        model: Which retrieval checkpoint to use; the profile's default when empty.

    Returns:
        The matrix as JSON (with the model's temperature) and as a picture.
    """
    pipe = get_model("retrieval", model, progress).pipeline
    record, loaded = explain_clip.similarity_matrix(pipe, list(images or []), texts)
    thumbnails = [explain_clip.fit(image, 96) for image in loaded]
    return record, explain_clip.matrix_figure(record, thumbnails, words=words("explain.figure.")), (record, thumbnails)


def rescale_matrix(state, temperature: float):
    if not state:
        return gr.skip(), gr.skip()
    record, thumbnails = state
    figure = explain_clip.matrix_figure(record, thumbnails, temperature, words("explain.figure."))
    return figure, matrix_table(record, temperature)


def _share(p: float) -> str:
    """A probability as a compact share that never wraps: 45%, 0.3%, <0.1%."""
    return f"{100 * p:.0f}%" if p >= 0.095 else f"{100 * p:.1f}%" if p >= 0.001 else "<0.1%"


def matrix_table(record: dict | None, temperature: float | None = None) -> str:
    """The CLIP lab's numbers as a table that reads on a phone: a row per image, a column
    per text, each cell the cosine similarity over the softmax share; it scrolls sideways
    inside its box rather than shrinking the numbers or wrapping them."""
    if not record:
        return ""
    temperature = record["temperature"] if temperature is None else temperature
    probs = explain_clip.probabilities(record["cosine"], temperature)
    head = "".join(f"<th>{html.escape(text)}</th>" for text in record["texts"])
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td><b>{c:.3f}</b><br><small>{_share(q)}</small></td>" for c, q in zip(cos, prob, strict=True))
        + "</tr>"
        for name, cos, prob in zip(record["images"], record["cosine"], probs, strict=True)
    )
    caption = both("search.matrix_caption", temperature=f"{temperature:.3g}")
    return f'<div class="matrix-table"><table><caption>{caption}</caption><tr><th></th>{head}</tr>{rows}</table></div>'


def classify_code(image, model, output):
    """Show the code for /classify; ``output`` is its {label: confidence}, best first."""
    if not isinstance(output, dict) or not output or image is None:
        return "", None
    return panels.code_and_record(
        snippets.classify_record(panels.loaded_model("retrieval", model), image, list(output), output)
    )


def matrix_code(images, model, matrix):
    """Show the code for the CLIP lab's similarity matrix."""
    if not matrix or not images:
        return "", None
    return panels.code_and_record(
        snippets.similarity_matrix_record(panels.loaded_model("retrieval", model), list(images), matrix)
    )


def _clip_lab() -> SimpleNamespace:
    """The CLIP lab's controls: a similarity matrix of images x texts, and the embedding map."""
    with gr.Accordion(_("explain.clip_title"), open=False):
        gr.Markdown(_("explain.clip_intro"))
        with gr.Row(equal_height=False):
            with gr.Column():
                files = Files(file_count="multiple", file_types=["image"], label=_("explain.matrix_images"))
                examples = gr.Button(_("explain.matrix_examples"), size="sm")
            texts = gr.Textbox(
                label=_("explain.matrix_texts"),
                info=_("explain.matrix_texts_info"),
                lines=5,
                value="a photo of a cat.\na photo of a cup of coffee.\na photo of a rocket.\na photo of coins.",
                max_length=5000,
            )
        button = gr.Button(_("explain.matrix_button"), elem_id=run_id("similarity_matrix"), variant="secondary")
        temperature = gr.Slider(
            *explain_clip.TEMPERATURE.ends,
            0.01,
            step=0.001,
            label=_("explain.temperature"),
            info=_("explain.temperature_info"),
        )
        matrix = gr.Image(label=_("explain.matrix"), type="pil", format="png", interactive=False)
        numbers = gr.HTML()
        with gr.Accordion(_("explain.json"), open=False):
            record = gr.JSON(label="JSON")
        gr.Markdown(_("explain.map_intro"))
        map_button = gr.Button(_("explain.map_button"), elem_id=run_id("embedding_map"), variant="secondary")
        picture = gr.Image(label=_("explain.map"), type="pil", format="png", interactive=False)
        with gr.Accordion(_("explain.json"), open=False):
            map_record = gr.JSON(label="JSON")
    return SimpleNamespace(
        files=files,
        examples=examples,
        texts=texts,
        button=button,
        temperature=temperature,
        matrix=matrix,
        numbers=numbers,
        record=record,
        map_button=map_button,
        picture=picture,
        map_record=map_record,
    )


def search_panel(
    demo, ctx, *, query, query_image, picker, top_k, embedding_map, classify_image, confidences
) -> tuple[gr.Code, gr.File]:
    """The Search tab's CLIP lab, How it works and Show the code panels; returns Show the
    code's program and record, which a search fills too."""
    lab = _clip_lab()
    state = session_state()
    panels.how_it_works("explain.search_how")
    code, record_file = panels.show_code()

    names = ["cat.jpg", "coffee.jpg", "rocket.jpg", "coins.jpg"]
    lab.examples.click(
        lambda: [str(settings.EXAMPLE_IMAGES_DIR / n) for n in names],
        None,
        lab.files,
        api_visibility="private",
        queue=False,
    )
    event = lab.button.click(
        endpoint(similarity_matrix, ctx, [lab.files, lab.texts, picker]),
        [lab.files, lab.texts, picker],
        [lab.record, lab.matrix, state],
        api_name="similarity_matrix",
        concurrency_id="model",
    )
    # The slider starts at the model's learned temperature: what zero-shot classification uses.
    event.success(
        lambda r: r["temperature"] if r else gr.skip(),
        lab.record,
        lab.temperature,
        api_visibility="private",
        queue=False,
    )
    event.success(
        display(matrix_table, ctx, lab.record), lab.record, lab.numbers, api_visibility="private", queue=False
    )
    rescaled = [state, lab.temperature]
    lab.temperature.release(
        display(rescale_matrix, ctx, rescaled), rescaled, [lab.matrix, lab.numbers], api_visibility="private"
    )
    lab.map_button.click(
        endpoint(embedding_map, ctx, [query, query_image, picker, top_k]),
        [query, query_image, picker, top_k],
        [lab.picture, lab.map_record],
        api_name="embedding_map",
        concurrency_id="model",
    )
    lab.record.change(
        display(matrix_code, ctx, [lab.files, picker, lab.record]),
        [lab.files, picker, lab.record],
        [code, record_file],
        api_visibility="private",
    )
    confidences.change(
        display(classify_code, ctx, [classify_image, picker, confidences]),
        [classify_image, picker, confidences],
        [code, record_file],
        api_visibility="private",
    )
    return code, record_file


def classify_row() -> SimpleNamespace:
    """Classify one image against labels the visitor types."""
    gr.Markdown(_("search.classify_intro"))
    with gr.Row(equal_height=False):
        with gr.Column():
            image = image_input(label=_("common.image"), sources=["upload", "clipboard", "webcam"], height=260)
            labels = gr.Textbox(label=_("search.labels"), placeholder=_("search.labels_placeholder"), max_length=1000)
            button = gr.Button(_("search.classify"), elem_id=run_id("classify"), variant="primary")
        with gr.Column():
            confidences = gr.Label(num_top_classes=5, label=_("search.confidences"))
    images = [[str(settings.EXAMPLE_IMAGES_DIR / name), text] for name, text in CLASSIFY_EXAMPLES]
    images_zh = [[str(settings.EXAMPLE_IMAGES_DIR / name), text] for name, text in CLASSIFY_EXAMPLES_ZH]
    examples(images, images_zh, inputs=[image, labels])
    return SimpleNamespace(image=image, labels=labels, button=button, confidences=confidences)


def wire_classify(single: SimpleNamespace, picker, refresh: dict, ctx: Context) -> None:
    """Classify one image."""
    gr.on(
        [single.button.click, single.labels.submit],
        endpoint(classify, ctx, [single.image, single.labels, picker]),
        [single.image, single.labels, picker],
        single.confidences,
        api_name="classify",
        concurrency_id="model",
    ).then(**refresh)
