"""The visitor's collection: browse it, add images, a folder or zip files to it, remove
an image they added, sort the whole of it into labels they type (zero-shot), and place a
query on a map of its embeddings (the CLIP lab's map).

The endpoints are methods over the app's collections (``CollectionEndpoints``, a part
of the tab's ``Search``); the page's events are declared in ``wire_collection``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from explain import clip as explain_clip
from runtime import settings
from runtime.inputs import check_text
from runtime.messages import InputError
from search.classify import EXAMPLES
from search.collections import Collections
from search.uploads import UploadBudget, is_zip
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, session_state
from ui.context import Context
from ui.handlers import get_model, gpu_method
from ui.i18n import _
from ui.messages import text, translate, words
from ui.server.limits import Allowance, visitor
from ui.server.mcp_inputs import Files
from ui.tabs.search.common import Endpoints, gallery, session

COLLECTION_LABELS_EXAMPLE = "animal, food, space, person, object"
COLLECTION_LABELS_EXAMPLE_ZH = "动物，食物，太空，人，物品"
PREVIEW = 48  # images shown in the collection preview


def count_headers() -> list[str]:
    """The "images per label" table's headers, in the request's language."""
    return [text("col_label"), text("col_images"), text("col_share")]


class CollectionEndpoints(Endpoints):
    """The collection's endpoints (``Search`` in ``ui.tabs.search`` gathers them with
    search's), and ``collection``, which the page loads."""

    def __init__(self, collections: Collections):
        super().__init__(collections)
        # Per visitor and hour, over all their requests: bytes unpacked and images added.
        self.unpacking = Allowance(settings.UPLOAD_BYTES_PER_HOUR, 3600)
        self.decoding = Allowance(settings.UPLOAD_IMAGES_PER_HOUR, 3600)

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
                session(request),
            )
            shown += gallery(
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
            added = self.collections.add(paths, loaded.pipeline, loaded.checkpoint.key, session(request), budget)
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
        names = self.collections.names(session(request))  # read before the removal forgets the name
        path = self.collections.remove(image_id.strip(), loaded.pipeline, loaded.checkpoint.key, session(request))
        return *self.collection(model, request, items=True), text("removed", name=names.get(path.name, path.name))

    def collection(self, model: str | None = None, request: gr.Request = None, items: bool = False):
        """The newest images of this visitor's collection (theirs first, then the bundled ones),
        each captioned with its name; with ``items``, also as data, for a click to select."""
        found = self.collections.browse(session(request), PREVIEW)
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
        paths, matrix = self.collections.embeddings(pipe, session(request))
        record, picture = explain_clip.embedding_map(
            paths, matrix, embedding, label, int(top_k), words("explain.figure.")
        )
        return picture, record


def collection_row() -> SimpleNamespace:
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


def sorting_row() -> SimpleNamespace:
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


def wire_collection(demo: gr.Blocks, api, page: SimpleNamespace, sorting, refresh: dict, ctx: Context) -> None:
    """Sort the whole collection; the collection on page load, and adding images, folders
    and zip files to it."""
    gr.on(
        [sorting.button.click, sorting.labels.submit],
        endpoint(api.classify_collection, ctx, [sorting.labels, sorting.per_label, page.picker]),
        [sorting.labels, sorting.per_label, page.picker],
        [sorting.counts, sorting.label_examples, sorting.details],
        api_name="classify_collection",
        concurrency_id="model",
    ).then(**refresh)
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
