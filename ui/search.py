"""Search tab: find gallery images by text or by example image, add your own images,
and classify an image against labels you type (zero-shot, CLIP)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import gradio as gr

from pipelines import settings
from pipelines.inputs import check_text
from pipelines.retrieval import Gallery, add_images
from ui import explain
from ui.common import get_model, gpu, image_input, model_picker, model_status, status_line, user_errors
from ui.i18n import _

GALLERY = Gallery([settings.EXAMPLE_IMAGES_DIR], settings.DATA_DIR / "embeddings")
QUERY_EXAMPLES = [
    "a cat",
    "a rocket launch",
    "old coins",
    "a cup of coffee",
    "stars in deep space",
    "a woman in uniform",
]
CLASSIFY_EXAMPLES = [("cat.jpg", "cat, dog, horse, bird"), ("coffee.jpg", "coffee, tea, orange juice, soup")]


def upload_folder(request: gr.Request | None) -> Path:
    """Where this visitor's added images go: one shared folder, or one per session."""
    root = settings.DATA_DIR / "uploads"
    if settings.GALLERY_MODE == "session" and request is not None and request.session_hash:
        return root / "sessions" / hashlib.sha256(request.session_hash.encode()).hexdigest()[:24]
    return root / "shared"


def _hits(hits: list[dict]) -> list[tuple[str, str]]:
    return [(hit["path"], f"{hit['score']:.3f} · {hit['name']}") for hit in hits]


def _embed_progress(progress):
    return lambda done, total: progress((done, total), desc=f"Embedding gallery images {done}/{total}")


@gpu
@user_errors
def search_by_text(
    query: str, top_k: int = 8, model: str | None = None, request: gr.Request = None,
    progress=gr.Progress(track_tqdm=True),
) -> list[tuple[str, str]]:  # fmt: skip
    pipe = get_model("retrieval", model, progress).pipeline
    embedding = pipe.embed_texts([check_text(query, "search text")])[0]
    return _hits(GALLERY.search(pipe, embedding, top_k, [upload_folder(request)], _embed_progress(progress)))


@gpu
@user_errors
def search_by_image(
    image: str, top_k: int = 8, model: str | None = None, request: gr.Request = None,
    progress=gr.Progress(track_tqdm=True),
) -> list[tuple[str, str]]:  # fmt: skip
    pipe = get_model("retrieval", model, progress).pipeline
    embedding = pipe.embed_images([image])[0]
    return _hits(GALLERY.search(pipe, embedding, top_k, [upload_folder(request)], _embed_progress(progress)))


@gpu
@user_errors
def classify(image: str, labels: str, model: str | None = None, progress=gr.Progress(track_tqdm=True)) -> dict:
    pipe = get_model("retrieval", model, progress).pipeline
    return pipe.classify(image, labels)


@user_errors
def add_to_gallery(files: list[str] | None, request: gr.Request = None) -> tuple[list[str], str]:
    if not files:
        raise ValueError("No files given: choose one or more images to add.")
    added, refused = add_images(files, upload_folder(request), settings.MAX_GALLERY_UPLOAD)
    report = f"Added {len(added)} image(s). / 已添加 {len(added)} 张图片。"
    if refused:
        report += "\n\nSkipped / 已跳过:\n" + "\n".join(f"- {line}" for line in refused)
    return collection(request), report


def collection(request: gr.Request = None) -> list[str]:
    return [str(p) for p in GALLERY.files([upload_folder(request)])]


def build(demo: gr.Blocks) -> None:
    with gr.Tab(_("search.tab"), id="search"):
        gr.Markdown(_("search.intro"))
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                query = gr.Textbox(label=_("search.query"), placeholder=QUERY_EXAMPLES[0], max_length=1000)
                text_button = gr.Button(_("search.by_text"), variant="primary")
                query_image = image_input(label=_("search.query_image"), sources=["upload", "clipboard"], height=200)
                image_button = gr.Button(_("search.by_image"))
                picker = model_picker("retrieval")
                with gr.Accordion(_("common.advanced"), open=False):
                    top_k = gr.Slider(1, 24, 8, step=1, label=_("search.top_k"))
            with gr.Column(scale=3):
                hits = gr.Gallery(label=_("search.results"), columns=4, height=460, object_fit="cover")
                status = status_line(demo, "retrieval", picker)
        gr.Examples([[q] for q in QUERY_EXAMPLES], inputs=[query], label=_("common.examples"))

        with gr.Accordion(_("search.collection"), open=False):
            gr.Markdown(_("search.collection_info"))
            everything = gr.Gallery(label=_("search.collection"), columns=8, height=260, object_fit="cover")
            files = gr.File(file_count="multiple", file_types=["image"], label=_("search.add_files"))
            add_button = gr.Button(_("search.add"))
            report = gr.Markdown()

        gr.Markdown(_("search.classify_intro"))
        with gr.Row(equal_height=False):
            with gr.Column():
                classify_image = image_input(
                    label=_("common.image"), sources=["upload", "clipboard", "webcam"], height=260
                )
                labels = gr.Textbox(label=_("search.labels"), placeholder="cat, dog, horse, bird", max_length=1000)
                classify_button = gr.Button(_("search.classify"), variant="primary")
            with gr.Column():
                confidences = gr.Label(num_top_classes=5, label=_("search.confidences"))
        examples = [[str(settings.EXAMPLE_IMAGES_DIR / name), text] for name, text in CLASSIFY_EXAMPLES]
        gr.Examples(examples, inputs=[classify_image, labels], label=_("common.examples"))

        refresh = dict(fn=lambda m: model_status("retrieval", m), inputs=picker, outputs=status,
                       api_visibility="private", queue=False)  # fmt: skip
        gr.on([text_button.click, query.submit], search_by_text, [query, top_k, picker], hits,
              api_name="search_by_text", concurrency_id="model").then(**refresh)  # fmt: skip
        image_button.click(search_by_image, [query_image, top_k, picker], hits, api_name="search_by_image",
                           concurrency_id="model").then(**refresh)  # fmt: skip
        gr.on([classify_button.click, labels.submit], classify, [classify_image, labels, picker], confidences,
              api_name="classify", concurrency_id="model").then(**refresh)  # fmt: skip
        demo.load(collection, None, everything, api_visibility="private", queue=False)
        add_button.click(add_to_gallery, files, [everything, report], api_name="add_to_gallery")
        explain.search_panel(demo, query=query, query_image=query_image, picker=picker, top_k=top_k, gallery=GALLERY,
                             upload_folder=upload_folder, classify_image=classify_image, confidences=confidences)  # fmt: skip
