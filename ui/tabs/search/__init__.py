"""Search tab: search the bundled gallery and your own images by text, by image or by
both, find more like a hit, add images, folders or zip files, and classify the whole
collection or one image against labels you type (zero-shot, CLIP).

What a visitor searches (the bundled gallery, the images they added, the SEARCH_INDEX
library) is the app's ``search.collections.Collections``. The tab in three parts, one
module each, with what they share in ``common.py``:

- ``finding.py``: search itself (by text, image or both), a hit selected, more like it,
  and Show the code for a search;
- ``collection.py``: the visitor's collection (browse, add, remove, sort into labels)
  and the map of its embeddings;
- ``clip_lab.py``: one image classified, the CLIP lab's similarity matrix, How it works
  and Show the code.

This module gathers their endpoints (``Search``, ``ENDPOINTS``) and builds the tab.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from ui.context import Context
from ui.i18n import _
from ui.tabs.search.clip_lab import (
    CLASSIFY_EXAMPLES,
    CLASSIFY_EXAMPLES_ZH,
    classify,
    classify_row,
    matrix_table,
    rescale_matrix,
    search_panel,
    similarity_matrix,
    wire_classify,
)
from ui.tabs.search.collection import (
    COLLECTION_LABELS_EXAMPLE,
    COLLECTION_LABELS_EXAMPLE_ZH,
    CollectionEndpoints,
    collection_row,
    sorting_row,
    wire_collection,
)
from ui.tabs.search.common import refresh
from ui.tabs.search.finding import (
    QUERY_EXAMPLES,
    QUERY_EXAMPLES_ZH,
    FindEndpoints,
    SearchCode,
    search_row,
    wire_search,
    wire_search_code,
)

__all__ = [
    "CLASSIFY_EXAMPLES",
    "CLASSIFY_EXAMPLES_ZH",
    "COLLECTION_LABELS_EXAMPLE",
    "COLLECTION_LABELS_EXAMPLE_ZH",
    "ENDPOINTS",
    "QUERY_EXAMPLES",
    "QUERY_EXAMPLES_ZH",
    "Search",
    "build",
    "classify",
    "endpoints",
    "matrix_table",
    "rescale_matrix",
    "similarity_matrix",
]


class Search(FindEndpoints, CollectionEndpoints):
    """The Search tab's endpoints, over the app's collections: each public method but
    ``collection`` (which the page loads) is one endpoint, named as its api_name, with the
    docstring the API docs and MCP tools show."""


def endpoints(ctx: Context) -> Search:
    """The Search tab's endpoints over the app's collections."""
    return Search(ctx.collections)


def build(demo: gr.Blocks, ctx: Context) -> None:
    api = endpoints(ctx)
    with gr.Tab(_("search.tab"), id="search"):
        gr.Markdown(_("search.intro"))
        page = search_row(demo, ctx)
        collection = collection_row()
        page = SimpleNamespace(**vars(page), **vars(collection))
        sorting = sorting_row()
        single = classify_row()

        after_model = refresh(page, ctx)  # one status refresh, after every model call
        searches = wire_search(api, page, after_model, ctx)
        wire_classify(single, page.picker, after_model, ctx)
        wire_collection(demo, api, page, sorting, after_model, ctx)
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
        wire_search_code(SearchCode(ctx.collections), page, searches, [code, record_file], ctx)


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
