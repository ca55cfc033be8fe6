"""What the Search tab's parts share: the endpoints' hold on the app's collections, the
gallery a list of hits becomes, and the status line's refresh after a model call."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from runtime.inputs import load_image
from search.collections import Collections
from ui.chain import display
from ui.components import model_status
from ui.context import Context
from ui.handlers import get_model
from ui.server.callers import session_of


class Endpoints:
    """Endpoints over the app's collections (the bundled gallery, the images each visitor
    added, the SEARCH_INDEX library): what a visitor searches, with the retrieval model."""

    def __init__(self, collections: Collections):
        self.collections = collections

    def _sources(self, model, request, progress=None, create=False):
        loaded = get_model("retrieval", model, progress)
        return loaded, self.collections.sources(loaded.pipeline, loaded.checkpoint.key, session(request), create)


def picture(hit: dict):
    """What the gallery shows: the file itself, or for the library (whose folders the
    app does not serve) a small copy, so no other file there is ever exposed."""
    if hit["source"] != "library":
        return hit["path"]
    from PIL import Image

    try:
        image = load_image(hit["path"])
    except (ValueError, TypeError):  # moved or deleted since it was indexed
        return Image.new("RGB", (64, 64), "lightgray")
    image.thumbnail((512, 512))
    return image


def gallery(hits: list[dict], caption=lambda hit: f"{hit['score']:.3f} · {hit['name']}") -> list[tuple]:
    return [(picture(hit), caption(hit)) for hit in hits]


def session(request: gr.Request | None) -> str | None:
    return session_of(request)  # an MCP agent's own, not the session all agents share


def refresh(page: SimpleNamespace, ctx: Context) -> dict:
    """The status line's refresh, run after a model call."""
    return dict(
        fn=display(lambda m: model_status("retrieval", m), ctx, page.picker),
        inputs=page.picker,
        outputs=page.status,
        api_visibility="private",
        queue=False,
    )
