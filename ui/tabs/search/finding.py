"""Search itself: the search box and the example image, the hits, a hit selected (more
like it, or removed when the visitor added it), and Show the code for a search.

The endpoints are methods over the app's collections (``FindEndpoints``, a part of the
tab's ``Search``); the page's events are declared in ``wire_search``.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from explain import snippets
from pipelines.limits import RETRIEVAL
from runtime.inputs import check_text
from runtime.messages import InputError
from search.collections import Collections
from search.index import SHOWN
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import examples, image_input, model_picker, session_state, status_line
from ui.context import Context
from ui.handlers import gpu_method
from ui.i18n import _, both
from ui.tabs.search.common import Endpoints, gallery, session

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


class FindEndpoints(Endpoints):
    """Search by text, by an example image or both, and more like a hit: the tab's endpoints
    that find images (``Search`` in ``ui.tabs.search`` gathers them with the collection's)."""

    def _answer(self, hits, request):
        hits = self.collections.named(hits, session(request))  # the visitor's images under their own names
        return gallery(hits), self.collections.public(hits)

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
        pictures, hits = self._answer(self.collections.search(found, query_embedding, top_k), request)
        return pictures, hits, hits

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
        pictures, hits = self._answer(
            self.collections.search(found, found[owner].embedding(image_id), top_k, exclude=[image_id]), request
        )
        return pictures, hits, hits


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


class SearchCode:
    """Show the code for a search: the query as its button used it, over the collection it
    searched. The page's own events, not endpoints of the API."""

    def __init__(self, collections: Collections):
        self.collections = collections

    def _code(self, text, image, weight, k, model, found, request):
        if not found:
            return "", None
        loaded, who = panels.loaded_model("retrieval", model), session(request)
        sources = self.collections.sources(loaded.pipeline, loaded.checkpoint.key, who)
        items = [{**item, "source": name} for name, index in sources.items() for item in index.items()]
        record = snippets.search_record(loaded, text, image, weight, k, self.collections.named(items, who), found)
        return panels.code_and_record(record)

    def text_code(self, text, k, model, found, request: gr.Request):
        return self._code(text, None, None, k, model, found, request)

    def image_code(self, image, k, model, found, request: gr.Request):
        return self._code(None, image, None, k, model, found, request)

    def both_code(self, text, image, k, weight, model, found, request: gr.Request):
        return self._code(text, image, weight, k, model, found, request)


def search_row(demo: gr.Blocks, ctx: Context) -> SimpleNamespace:
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


def wire_search(api, page: SimpleNamespace, refresh: dict, ctx: Context) -> tuple:
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


def wire_search_code(code: SearchCode, page, searches: tuple, outputs: list, ctx: Context) -> None:
    """Show the code for a search, once it found something."""
    by_text, by_image, by_both = searches
    private = dict(outputs=outputs, api_visibility="private")
    shown = [page.query, page.top_k, page.picker, page.hits_state]
    by_text.success(display(code.text_code, ctx, shown), shown, **private)
    shown = [page.query_image, page.top_k, page.picker, page.hits_state]
    by_image.success(display(code.image_code, ctx, shown), shown, **private)
    shown = [page.query, page.query_image, page.top_k, page.text_weight, page.picker, page.hits_state]
    by_both.success(display(code.both_code, ctx, shown), shown, **private)
