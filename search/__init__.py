"""Searching your own collection: the on-disk index of embeddings, its search backends
(exact, faiss, Qdrant), uploads (zip files, images stored by content), each visitor's
collections, sorting a collection into labels, and the command line
(``python -m search``)."""

from runtime.lazy import exports

_WHERE = {
    "ImageIndex": "search.index",
    "Collections": "search.collections",
    "classify_collection": "search.classify",
    "extract_zip": "search.uploads",
    "store_images": "search.uploads",
}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
