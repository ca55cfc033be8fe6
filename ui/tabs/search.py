"""Search tab: search the bundled gallery and your own images by text, by image or by
both, find more like a hit, add images, folders or zip files, and classify the whole
collection or one image against labels you type (zero-shot, CLIP).

What a visitor searches (the bundled gallery, the images they added, the SEARCH_INDEX
library) is the app's ``search.collections.Collections``; this module lays out the tab,
its CLIP lab and Show the code, and turns requests into calls on it.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from explain import clip as explain_clip
from explain import snippets
from pipelines.limits import RETRIEVAL
from runtime import settings
from runtime.inputs import check_text, load_image, parse_labels
from runtime.messages import InputError
from search.classify import EXAMPLES
from search.collections import Collections
from search.index import SHOWN
from search.uploads import UploadBudget, is_zip
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, image_input, model_picker, model_status, session_state, status_line
from ui.context import Context
from ui.handlers import get_model, gpu, gpu_method
from ui.i18n import _, both
from ui.messages import text, translate, words
from ui.server.limits import Allowance, session_of, visitor
from ui.server.mcp_inputs import Files

QUERY_EXAMPLES = [
    "a cat",
    "a rocket launch",
    "old coins",
    "a cup of coffee",
    "stars in deep space",
    "a woman in uniform",
]
# The Chinese page's examples, the same ones in Chinese (a model that reads Chinese
# answers them: SigLIP 2 or Chinese-CLIP).
QUERY_EXAMPLES_ZH = ["一只猫", "火箭发射", "古老的硬币", "一杯咖啡", "深空中的星星", "穿制服的女人"]
CLASSIFY_EXAMPLES = [("cat.jpg", "cat, dog, horse, bird"), ("coffee.jpg", "coffee, tea, orange juice, soup")]
CLASSIFY_EXAMPLES_ZH = [("cat.jpg", "猫，狗，马，鸟"), ("coffee.jpg", "咖啡、茶、橙汁、汤")]
COLLECTION_LABELS_EXAMPLE = "animal, food, space, person, object"
COLLECTION_LABELS_EXAMPLE_ZH = "动物，食物，太空，人，物品"
PREVIEW = 48  # images shown in the collection preview


def count_headers() -> list[str]:
    """The "images per label" table's headers, in the request's language."""
    return [text("col_label"), text("col_images"), text("col_share")]


def _picture(hit: dict):
    """What the gallery shows: the file itself, or for the library (whose folders the
    app does not serve) a small copy, so no other file there is ever exposed."""
    if hit["source"] != "library":
        return hit["path"]
    from PIL import Image

    from runtime.inputs import load_image

    try:
        image = load_image(hit["path"])
    except (ValueError, TypeError):  # moved or deleted since it was indexed
        return Image.new("RGB", (64, 64), "lightgray")
    image.thumbnail((512, 512))
    return image


def _gallery(hits: list[dict], caption=lambda hit: f"{hit['score']:.3f} · {hit['name']}") -> list[tuple]:
    return [(_picture(hit), caption(hit)) for hit in hits]


def _session(request: gr.Request | None) -> str | None:
    return session_of(request)  # an MCP agent's own, not the session all agents share


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


class Search:
    """The Search tab's endpoints, over the app's collections: each public method but
    ``collection`` (which the page loads) is one endpoint, named as its api_name, with the
    docstring the API docs and MCP tools show."""

    def __init__(self, collections: Collections):
        self.collections = collections
        # Per visitor and hour, over all their requests: bytes unpacked and images added.
        self.unpacking = Allowance(settings.UPLOAD_BYTES_PER_HOUR, 3600)
        self.decoding = Allowance(settings.UPLOAD_IMAGES_PER_HOUR, 3600)

    def _sources(self, model, request, progress=None, create=False):
        loaded = get_model("retrieval", model, progress)
        return loaded, self.collections.sources(loaded.pipeline, loaded.checkpoint.key, _session(request), create)

    def _answer(self, hits, request):
        hits = self.collections.named(hits, _session(request))  # the visitor's images under their own names
        return _gallery(hits), self.collections.public(hits)

    @gpu_method
    def search_by_text(
        self,
        query: str,
        top_k: int = 8,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ) -> tuple[list[tuple[str, str]], list[dict]]:
        """Search the image collection (the bundled gallery and the images you added) with a text query, using CLIP embeddings.

        Args:
            query: What to look for, e.g. "a rocket launch".
            top_k: How many hits to return (1-24).
            model: Which retrieval checkpoint to use; the profile's default when empty.

        Returns:
            The hits, best first, each captioned with its similarity and file name.
        """
        # The gallery of hits (what the API returns) and the hits as data (kept in the page's state).
        query = check_text(query, "search text")  # before the model loads
        loaded, found = self._sources(model, request, progress)
        query_embedding = loaded.pipeline.embed_query(text=query)
        return self._answer(self.collections.search(found, query_embedding, top_k), request)

    @gpu_method
    def search_by_image(
        self,
        image: str,
        top_k: int = 8,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ) -> tuple[list[tuple[str, str]], list[dict]]:
        """Search the image collection for images like an example image.

        Args:
            image: The example image.
            top_k: How many hits to return (1-24).
            model: Which retrieval checkpoint to use; the profile's default when empty.

        Returns:
            The hits, best first, each captioned with its similarity and file name.
        """
        if image is None:
            raise InputError("image_missing", name="image")
        loaded, found = self._sources(model, request, progress)
        return self._answer(self.collections.search(found, loaded.pipeline.embed_query(image=image), top_k), request)

    @gpu_method
    def search(
        self,
        query: str | None = None,
        image: str | None = None,
        top_k: int = 8,
        text_weight: float = 0.5,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ) -> tuple[list[tuple[str, str]], list[dict], list[dict]]:
        """Search the image collection by text, by an example image, or both (the text then modifies the image, e.g. an image of a street and "at night").

        Args:
            query: Optional text query.
            image: Optional example image.
            top_k: How many hits to return (1-24).
            text_weight: With both, the text's share of the query (0-1).
            model: Which retrieval checkpoint to use; the profile's default when empty.

        Returns:
            The hits as a gallery, and as data (id, name, score, size, source) for more_like_this and remove_from_gallery.
        """
        # By text, by image, or both: the text then modifies the image ("at night").
        loaded, found = self._sources(model, request, progress)
        query_embedding = loaded.pipeline.embed_query(text=query, image=image, text_weight=text_weight)
        gallery, hits = self._answer(self.collections.search(found, query_embedding, top_k), request)
        return gallery, hits, hits

    @gpu_method
    def more_like_this(
        self,
        image_id: str,
        top_k: int = 8,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ) -> tuple[list[tuple[str, str]], list[dict], list[dict]]:
        """Find the images most like one already in the collection.

        Args:
            image_id: The image's id, from the data that search returns.
            top_k: How many hits to return (1-24).
            model: Which retrieval checkpoint to use; the profile's default when empty.

        Returns:
            The hits as a gallery, and as data.
        """
        # The images closest to one already in the collection (by its id), itself left out.
        if not image_id or not isinstance(image_id, str):
            raise InputError("no_result_chosen")
        image_id = image_id.strip()
        _, found = self._sources(model, request, progress)
        owner = self.collections.owner(found, image_id)
        if owner is None:
            raise InputError("unknown_image", id=image_id)
        gallery, hits = self._answer(
            self.collections.search(found, found[owner].embedding(image_id), top_k, exclude=[image_id]), request
        )
        return gallery, hits, hits

    @gpu_method
    def classify_collection(
        self,
        labels: str,
        examples: int = 4,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ) -> tuple[dict, list[tuple[str, str]], dict]:
        """Sort every image of the collection into one of the labels you give (zero-shot, no training).

        Args:
            labels: The labels, separated by commas, e.g. "animal, food, space".
            examples: How many example images to return per label (0-24).
            model: Which retrieval checkpoint to use; the profile's default when empty.

        Returns:
            A table of counts and shares per label, the example images, and the details as JSON.
        """
        # Every image of the collection sorted into one of ``labels``: a count per label
        # and the images the model is surest of.
        from search.classify import classify_collection  # imports torch: not while the page starts

        loaded, found = self._sources(model, request, progress)
        result = classify_collection(loaded.pipeline, list(found.values()), labels, examples)
        table = [[row["label"], row["count"], round(100 * row["share"], 1)] for row in result["labels"]]
        shown = []
        for row in result["labels"]:
            row["examples"] = self.collections.named(
                [{**item, "source": self.collections.owner(found, item["id"])} for item in row["examples"]],
                _session(request),
            )
            shown += _gallery(
                row["examples"], lambda item, label=row["label"]: f"{label} · {item['score']:.2f} · {item['name']}"
            )
            row["examples"] = self.collections.public(row["examples"])
        return {"headers": count_headers(), "data": table}, shown, result

    def _add(self, paths: list[str], model: str | None, request: gr.Request | None, progress) -> tuple:
        loaded = get_model("retrieval", model, progress)
        who = visitor(request)
        max_bytes, settle_bytes = self.unpacking.take(who, settings.MAX_ZIP_BYTES)
        max_images, settle_images = self.decoding.take(who, settings.MAX_INDEX_UPLOAD)
        budget = UploadBudget(max_bytes, max_images)
        try:
            if max_images == 0:
                raise InputError(
                    "uploads_per_hour",
                    limit=settings.UPLOAD_IMAGES_PER_HOUR,
                )
            added = self.collections.add(paths, loaded.pipeline, loaded.checkpoint.key, _session(request), budget)
        finally:
            settle_bytes(budget.bytes_used)
            settle_images(budget.images_used)
        lines = [text("added", added=added.added, already=added.already, skipped=len(added.skipped))]
        lines += [
            f"- {text('already_in', name=name, known=known, source=text('source_' + where))}"
            for name, where, known in added.duplicates[:30]
        ]
        lines += [f"- {name}: {translate(why)}" for name, why in added.skipped[:30]]
        return *self.collection(model, request, items=True), "\n".join(lines)

    def add_to_gallery(
        self,
        files: list[str] | None,
        folder: list[str] | None = None,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ) -> tuple[list[tuple[str, str]], list[dict], str]:
        """Add images, a folder or zip files of images to your collection, so that search finds them.

        Args:
            files: Image files or zip files of images.
            folder: Optional files of a folder.
            model: Which retrieval checkpoint embeds them; the profile's default when empty.

        Returns:
            The newest images of the collection, and a report of what was added and what was skipped and why.
        """
        paths = [str(f) for f in [*(files or []), *(folder or [])]]
        if not paths:
            raise InputError("no_files")
        return self._add(paths, model, request, progress)

    def index_zip(
        self,
        file: str | None,
        model: str | None = None,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ) -> tuple[list[tuple[str, str]], list[dict], str]:
        """Add the images of one zip file to your collection.

        Args:
            file: A .zip file of images.
            model: Which retrieval checkpoint embeds them; the profile's default when empty.

        Returns:
            The newest images of the collection, and a report of what was added and skipped.
        """
        if not file:
            raise InputError("no_zip")
        if not is_zip(file):
            raise InputError("not_zip", file=Path(str(file)).name)
        return self._add([str(file)], model, request, progress)

    def remove_from_gallery(
        self, image_id: str, model: str | None = None, request: gr.Request = None
    ) -> tuple[list[tuple[str, str]], list[dict], str]:
        """Remove an image you added from your collection (the bundled gallery can't be changed).

        Args:
            image_id: The image's id, from the data that search returns.
            model: Which retrieval checkpoint's index to update; the profile's default when empty.

        Returns:
            The newest images of the collection, and a report.
        """
        # Remove an image you added (by id); the bundled gallery stays as it is.
        if not image_id or not isinstance(image_id, str):
            raise InputError("no_image_chosen")
        loaded = get_model("retrieval", model)
        names = self.collections.names(_session(request))  # read before the removal forgets the name
        path = self.collections.remove(image_id.strip(), loaded.pipeline, loaded.checkpoint.key, _session(request))
        return *self.collection(model, request, items=True), text("removed", name=names.get(path.name, path.name))

    def collection(self, model: str | None = None, request: gr.Request = None, items: bool = False):
        """The newest images of this visitor's collection (theirs first, then the bundled ones),
        each captioned with its name; with ``items``, also as data, for a click to select."""
        found = self.collections.browse(_session(request), PREVIEW)
        gallery = [(item["path"], item["name"]) for item in found]
        return (gallery, found) if items else gallery

    @gpu_method
    def embedding_map(
        self,
        query: str | None = None,
        image: str | None = None,
        model: str | None = None,
        top_k: int = 5,
        request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True),
    ):
        """Place a query on a 2-D map (PCA) of the collection's image embeddings, next to its nearest images.

        Args:
            query: A text to place on the map (or give an image).
            image: An image to place on the map.
            model: Which retrieval checkpoint to use; the profile's default when empty.
            top_k: How many nearest images to mark (1-24).

        Returns:
            The map as a picture, and its points as JSON.
        """
        # The gallery's embeddings on a 2-D map, with the query placed among them.
        pipe = get_model("retrieval", model, progress).pipeline
        if image:
            embedding, label = pipe.embed_images([image])[0], explain_clip.IMAGE_QUERY
        elif query and query.strip():
            label = check_text(query, "search text")
            embedding = pipe.embed_texts([label])[0]
        else:
            raise InputError("no_map_query")
        paths, matrix = self.collections.embeddings(pipe, _session(request))
        record, picture = explain_clip.embedding_map(
            paths, matrix, embedding, label, int(top_k), words("explain.figure.")
        )
        return picture, record


def endpoints(ctx: Context) -> Search:
    """The Search tab's endpoints over the app's collections."""
    return Search(ctx.collections)


def _selected(items: list[dict] | None, event: gr.SelectData):
    """A click on a result or on an image of the collection: its id (kept for 'more like
    this' and 'remove', never shown), its name and where it comes from, a thumbnail, and
    the remove button, live only for an image the visitor added."""
    if not items or event.index is None or event.index >= len(items):
        return "", both("search.nothing_selected"), None, gr.update(interactive=False)
    item = items[event.index]
    source = item.get("source") if item.get("source") in ("yours", "bundled", "library") else "library"
    # The thumbnail the gallery shows (its served copy): hits as data carry no server path.
    shown = event.value.get("image") if isinstance(event.value, dict) else None
    picture = shown.get("path") if isinstance(shown, dict) else None
    return (
        item["id"],
        both(f"search.selected_{source}", name=item["name"]),
        picture,
        gr.update(interactive=source == "yours"),
    )


# --- Explain, How it works and Show the code ---------------------------------------


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


class SearchCode:
    """Show the code for a search: the query as its button used it, over the collection it
    searched. The page's own events, not endpoints of the API."""

    def __init__(self, collections: Collections):
        self.collections = collections

    def _code(self, text, image, weight, k, model, found, request):
        if not found:
            return "", None
        loaded, session = panels.loaded_model("retrieval", model), _session(request)
        sources = self.collections.sources(loaded.pipeline, loaded.checkpoint.key, session)
        items = [{**item, "source": name} for name, index in sources.items() for item in index.items()]
        record = snippets.search_record(loaded, text, image, weight, k, self.collections.named(items, session), found)
        return panels.code_and_record(record)

    def text_code(self, text, k, model, found, request: gr.Request):
        return self._code(text, None, None, k, model, found, request)

    def image_code(self, image, k, model, found, request: gr.Request):
        return self._code(None, image, None, k, model, found, request)

    def both_code(self, text, image, k, weight, model, found, request: gr.Request):
        return self._code(text, image, weight, k, model, found, request)


# --- The page: layout, then wiring --------------------------------------------------


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


def _search_row(demo: gr.Blocks, ctx: Context) -> SimpleNamespace:
    """The search box, the example image, the model and the hits with the selection beside them."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            query = gr.Textbox(label=_("search.query"), placeholder=_("search.query_placeholder"), max_length=1000)
            text_button = gr.Button(_("search.by_text"), elem_id=run_id("search_by_text"), variant="primary")
            query_image = image_input(label=_("search.query_image"), sources=["upload", "clipboard"], height=200)
            with gr.Row():
                image_button = gr.Button(_("search.by_image"), elem_id=run_id("search_by_image"))
                both_button = gr.Button(_("search.both"), elem_id=run_id("search"))
            picker = model_picker("retrieval", ctx.classroom)
            with gr.Accordion(_("common.advanced"), open=False):
                top_k = gr.Slider(*SHOWN.ends, 8, step=1, label=_("search.top_k"))
                text_weight = gr.Slider(
                    *RETRIEVAL["text_weight"].ends,
                    0.5,
                    step=0.05,
                    label=_("search.text_weight"),
                    info=_("search.text_weight_info"),
                )
        with gr.Column(scale=3):
            # No preview: a click selects the result, and the grid stays in view.
            hits = gr.Gallery(
                label=_("search.results"),
                interactive=False,
                columns=4,
                height="auto",
                object_fit="cover",
                allow_preview=False,
                elem_classes="search-hits",
            )
            selection = _selection()
            # The hits as data: returned by /search and /more_like_this, kept for 'more like this'.
            hits_json = gr.JSON(visible=False)
            hits_state = session_state([])
            status = status_line(demo, "retrieval", picker, ctx)
    examples([[q] for q in QUERY_EXAMPLES], [[q] for q in QUERY_EXAMPLES_ZH], inputs=[query])
    return SimpleNamespace(
        query=query,
        text_button=text_button,
        query_image=query_image,
        image_button=image_button,
        both_button=both_button,
        picker=picker,
        top_k=top_k,
        text_weight=text_weight,
        hits=hits,
        **vars(selection),
        hits_json=hits_json,
        hits_state=hits_state,
        status=status,
    )


def _selection() -> SimpleNamespace:
    """The selected image by name and thumbnail, with More like this and Remove; its id (a
    content hash) travels hidden."""
    with gr.Group(elem_classes="search-selection"):
        with gr.Row(equal_height=True):
            selected_picture = gr.Image(
                label=_("search.selected_thumb"),
                show_label=False,
                height=72,
                width=72,
                interactive=False,
                container=False,
                min_width=72,
                scale=0,
                buttons=[],
            )
            selected_view = gr.Markdown(both("search.nothing_selected"), padding=True)
        with gr.Row():
            more_button = gr.Button(
                _("search.more_like_this"), elem_id=run_id("more_like_this"), size="md", min_width=120
            )
            remove_button = gr.Button(
                _("search.remove"),
                elem_id=run_id("remove_from_gallery"),
                variant="stop",
                size="md",
                min_width=120,
                interactive=False,
            )
    selected = gr.Textbox(label=_("search.selected"), visible=False)
    return SimpleNamespace(
        selected_picture=selected_picture,
        selected_view=selected_view,
        more_button=more_button,
        remove_button=remove_button,
        selected=selected,
    )


def _collection_row() -> SimpleNamespace:
    """Adding and browsing in plain view: the collection, and the upload beside it."""
    gr.Markdown(_("search.collection_heading"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            everything = gr.Gallery(
                label=_("search.browse"),
                interactive=False,
                columns=6,
                height=320,
                object_fit="cover",
                allow_preview=False,
                elem_classes="search-hits",
            )
            everything_state = session_state([])
        with gr.Column(scale=2):
            files = Files(file_count="multiple", file_types=["image", ".zip"], label=_("search.add_files"), height=140)
            with gr.Accordion(_("search.add_folder"), open=False):
                folder = Files(file_count="directory", label=_("search.add_folder"), height=120)
            add_button = gr.Button(_("search.add"), elem_id=run_id("add_to_gallery"), variant="primary")
            gr.Markdown(_("search.collection_info"), elem_classes="search-help")
            report = gr.Markdown()
    return SimpleNamespace(
        everything=everything,
        everything_state=everything_state,
        files=files,
        folder=folder,
        add_button=add_button,
        report=report,
    )


def _sorting_row() -> SimpleNamespace:
    """Classify the whole collection against labels the visitor types."""
    gr.Markdown(_("search.classify_collection_intro"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            labels = gr.Textbox(
                label=_("search.labels"), placeholder=_("search.collection_labels_placeholder"), max_length=1000
            )
            per_label = gr.Slider(*EXAMPLES.ends, 4, step=1, label=_("search.examples_per_label"))
            button = gr.Button(
                _("search.classify_collection"), elem_id=run_id("classify_collection"), variant="primary"
            )
        with gr.Column(scale=3):
            counts = gr.Dataframe(interactive=False, label=_("search.counts"))
            label_examples = gr.Gallery(
                label=_("search.label_examples"), interactive=False, columns=6, height=240, object_fit="cover"
            )
            with gr.Accordion(_("search.details"), open=False):
                details = gr.JSON(label=_("search.details"))
    examples([[COLLECTION_LABELS_EXAMPLE]], [[COLLECTION_LABELS_EXAMPLE_ZH]], inputs=[labels])
    return SimpleNamespace(
        labels=labels, per_label=per_label, button=button, counts=counts, label_examples=label_examples, details=details
    )


def _classify_row() -> SimpleNamespace:
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


def _refresh(page: SimpleNamespace, ctx: Context) -> dict:
    """The status line's refresh, run after a model call."""
    return dict(
        fn=display(lambda m: model_status("retrieval", m), ctx, page.picker),
        inputs=page.picker,
        outputs=page.status,
        api_visibility="private",
        queue=False,
    )


def _wire_search(api: Search, page: SimpleNamespace, refresh: dict, ctx: Context) -> tuple:
    """Search by text, by image or both, select a hit, more like it, remove it; returns the
    three searches' events (Show the code follows them)."""
    model_call = dict(concurrency_id="model")
    # /search_by_text and /search_by_image return the gallery only (the state is not
    # part of the API); /search and /more_like_this also return the hits as data.
    by_text = gr.on(
        [page.text_button.click, page.query.submit],
        endpoint(api.search_by_text, ctx, [page.query, page.top_k, page.picker]),
        [page.query, page.top_k, page.picker],
        [page.hits, page.hits_state],
        api_name="search_by_text",
        **model_call,
    )
    by_image = page.image_button.click(
        endpoint(api.search_by_image, ctx, [page.query_image, page.top_k, page.picker]),
        [page.query_image, page.top_k, page.picker],
        [page.hits, page.hits_state],
        api_name="search_by_image",
        **model_call,
    )
    both_inputs = [page.query, page.query_image, page.top_k, page.text_weight, page.picker]
    by_both = page.both_button.click(
        endpoint(api.search, ctx, both_inputs),
        both_inputs,
        [page.hits, page.hits_json, page.hits_state],
        api_name="search",
        **model_call,
    )
    for event in (by_text, by_image, by_both):
        event.then(**refresh)
    chosen = [page.selected, page.selected_view, page.selected_picture, page.remove_button]
    select = dict(api_visibility="private", queue=False)
    page.hits.select(display(_selected, ctx, page.hits_state), page.hits_state, chosen, **select)
    page.everything.select(display(_selected, ctx, page.everything_state), page.everything_state, chosen, **select)
    page.more_button.click(
        endpoint(api.more_like_this, ctx, [page.selected, page.top_k, page.picker]),
        [page.selected, page.top_k, page.picker],
        [page.hits, page.hits_json, page.hits_state],
        api_name="more_like_this",
        **model_call,
    )
    removed = page.remove_button.click(
        endpoint(api.remove_from_gallery, ctx, [page.selected, page.picker]),
        [page.selected, page.picker],
        [page.everything, page.everything_state, page.report],
        api_name="remove_from_gallery",
        **model_call,
    )
    removed.success(
        display(lambda: ("", both("search.nothing_selected"), None, gr.update(interactive=False)), ctx),
        None,
        chosen,
        api_visibility="private",
        queue=False,
    )
    return by_text, by_image, by_both


def _wire_classify(api: Search, page, single, sorting, refresh: dict, ctx: Context) -> None:
    """Classify one image, and sort the whole collection."""
    gr.on(
        [single.button.click, single.labels.submit],
        endpoint(classify, ctx, [single.image, single.labels, page.picker]),
        [single.image, single.labels, page.picker],
        single.confidences,
        api_name="classify",
        concurrency_id="model",
    ).then(**refresh)
    gr.on(
        [sorting.button.click, sorting.labels.submit],
        endpoint(api.classify_collection, ctx, [sorting.labels, sorting.per_label, page.picker]),
        [sorting.labels, sorting.per_label, page.picker],
        [sorting.counts, sorting.label_examples, sorting.details],
        api_name="classify_collection",
        concurrency_id="model",
    ).then(**refresh)


def _wire_collection(demo: gr.Blocks, api: Search, page, sorting, ctx: Context) -> None:
    """The collection on page load, and adding images, folders and zip files to it."""
    demo.load(
        display(functools.partial(api.collection, items=True), ctx, page.picker),
        page.picker,
        [page.everything, page.everything_state],
        api_visibility="private",
        queue=False,
    )
    # The per-label table's headers before its first run, in the page's language (headers are
    # values, which Gradio's i18n doesn't translate).
    headers = display(lambda: {"headers": count_headers(), "data": []}, ctx)
    demo.load(headers, None, sorting.counts, api_visibility="private", queue=False)
    page.add_button.click(
        endpoint(api.add_to_gallery, ctx, [page.files, page.folder, page.picker]),
        [page.files, page.folder, page.picker],
        [page.everything, page.everything_state, page.report],
        api_name="add_to_gallery",
        concurrency_id="model",
    )
    # A zip on its own, for API clients (the UI takes zips in the files box above).
    zip_file = gr.File(file_types=[".zip"], visible=False)
    zip_file.upload(
        endpoint(api.index_zip, ctx, [zip_file, page.picker]),
        [zip_file, page.picker],
        [page.everything, page.everything_state, page.report],
        api_name="index_zip",
        concurrency_id="model",
    )


def _wire_search_code(code: SearchCode, page, searches: tuple, outputs: list, ctx: Context) -> None:
    """Show the code for a search, once it found something."""
    by_text, by_image, by_both = searches
    private = dict(outputs=outputs, api_visibility="private")
    shown = [page.query, page.top_k, page.picker, page.hits_state]
    by_text.success(display(code.text_code, ctx, shown), shown, **private)
    shown = [page.query_image, page.top_k, page.picker, page.hits_state]
    by_image.success(display(code.image_code, ctx, shown), shown, **private)
    shown = [page.query, page.query_image, page.top_k, page.text_weight, page.picker, page.hits_state]
    by_both.success(display(code.both_code, ctx, shown), shown, **private)


def build(demo: gr.Blocks, ctx: Context) -> None:
    api = endpoints(ctx)
    with gr.Tab(_("search.tab"), id="search"):
        gr.Markdown(_("search.intro"))
        page = _search_row(demo, ctx)
        collection = _collection_row()
        page = SimpleNamespace(**vars(page), **vars(collection))
        sorting = _sorting_row()
        single = _classify_row()

        refresh = _refresh(page, ctx)  # one status refresh, after every model call
        searches = _wire_search(api, page, refresh, ctx)
        _wire_classify(api, page, single, sorting, refresh, ctx)
        _wire_collection(demo, api, page, sorting, ctx)
        code, record_file = search_panel(
            demo,
            ctx,
            query=page.query,
            query_image=page.query_image,
            picker=page.picker,
            top_k=page.top_k,
            embedding_map=api.embedding_map,
            classify_image=single.image,
            confidences=single.confidences,
        )
        _wire_search_code(SearchCode(ctx.collections), page, searches, [code, record_file], ctx)


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their
# parameters); the methods of Search run over the app's collections (``endpoints``).
ENDPOINTS = (
    classify,
    similarity_matrix,
    Search.search_by_text,
    Search.search_by_image,
    Search.search,
    Search.more_like_this,
    Search.classify_collection,
    Search.add_to_gallery,
    Search.index_zip,
    Search.remove_from_gallery,
    Search.embedding_map,
)
