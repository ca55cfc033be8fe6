"""Nearest-neighbour search over unit vectors, behind one small interface.

An ``ImageIndex`` (``search/index.py``) owns the embeddings and their metadata; a
backend only answers "which ids are closest to this query". Every backend has the
same three methods:

- ``sync(ids, vectors)``: hold exactly these (N,) int64 ids and (N, D) float32 unit
  vectors, doing as little work as it can (appending new rows, dropping removed ones);
- ``search(queries, top_k)``: (Q, D) queries -> (scores, ids), both (Q, top_k), best
  first, cosine similarities, padded with id -1 when fewer than top_k exist;
- ``save()``: persist what is worth persisting (a faiss graph), ``close()``: let go.

Backends:

- ``ExactBackend``: a matrix product over all vectors (exact, no build time); the
  default for small collections.
- ``FaissBackend``: an approximate index from faiss (Johnson et al. 2017, "Billion-scale
  similarity search with GPUs"): HNSW (Malkov & Yashunin 2016), a navigable small-world
  graph, or IVF, an inverted file over k-means cells. Chosen automatically above
  ``settings.SEARCH_ANN_THRESHOLD`` vectors. The graph is cached on disk so a restart
  does not rebuild it.
- ``QdrantBackend``: the Qdrant vector database through ``qdrant-client``, embedded in
  this process (``path=``) or a Qdrant server or cluster (``url=``) with the same code.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path

import numpy as np

from runtime import settings
from runtime.files import atomic_write_bytes

log = logging.getLogger("playground.search")

BACKENDS = ("auto", "exact", "faiss", "qdrant")


def _missing(package: str, pip_name: str) -> ImportError:
    return ImportError(f"The {package} search backend needs the `{pip_name}` package: pip install {pip_name}")


def _empty(n_queries: int, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((n_queries, top_k), -np.inf, np.float32), np.full((n_queries, top_k), -1, np.int64)


def _as_queries(queries: np.ndarray) -> np.ndarray:
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    return queries[None, :] if queries.ndim == 1 else queries


class ExactBackend:
    """Exact search: scores = vectors @ query, the top_k of them by partial sort."""

    name = "exact"

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, 0), np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def sync(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        # No copy: the index's own arrays are searched directly.
        self.ids, self.vectors = ids, vectors

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_queries(queries)
        scores, ids = _empty(len(queries), top_k)
        n = len(self.ids)
        if n == 0:
            return scores, ids
        k = min(top_k, n)
        similarities = queries @ self.vectors.T  # (Q, N) cosine similarities of unit vectors
        # argpartition finds the k best in O(N); only those k are then sorted.
        best = (
            np.argpartition(-similarities, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(queries), 1))
        )
        best_scores = np.take_along_axis(similarities, best, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        rows = np.take_along_axis(best, order, axis=1)
        scores[:, :k] = np.take_along_axis(best_scores, order, axis=1)
        ids[:, :k] = self.ids[rows]
        return scores, ids

    def save(self) -> None:
        pass

    def close(self) -> None:
        pass


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


class FaissBackend:
    """Approximate search with a faiss index built by ``faiss.index_factory`` from a
    spec such as ``"HNSW32"`` (a graph with 32 links per node) or ``"IVF1024,Flat"``
    (1,024 k-means cells, ``nprobe`` of them scanned per query). Inner product on unit
    vectors is the cosine similarity.

    Removals: IVF removes ids for real; HNSW can't, so removed ids are hidden from
    results (tombstones) and the graph is rebuilt once they pass 20% of it."""

    name = "faiss"

    def __init__(
        self,
        spec: str | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        try:
            import faiss
        except ImportError:
            raise _missing("faiss", "faiss-cpu") from None
        self.faiss = faiss
        self.spec = spec or settings.FAISS_INDEX
        self.ef_search = ef_search or settings.FAISS_EF_SEARCH
        self.nprobe = nprobe or settings.FAISS_NPROBE
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.index = None
        self.ids = np.zeros(0, np.int64)  # every id in the faiss index, in insertion order
        self.deleted = np.zeros(0, bool)  # tombstones, aligned with self.ids
        self._dirty = False
        if self.cache_dir is not None:
            self._restore()

    def __len__(self) -> int:
        return int((~self.deleted).sum())

    @property
    def _ivf(self) -> bool:
        return self.spec.upper().startswith("IVF")

    def _new_index(self, vectors: np.ndarray):
        """A fresh index of the spec, trained on ``vectors`` when the spec needs it."""
        faiss = self.faiss
        spec = self.spec
        if self._ivf:
            # IVF needs at least ~39 training points per cell: shrink the cell count for small collections.
            cells = int(re.match(r"IVF(\d+)", spec, re.IGNORECASE).group(1))
            fitting = max(1, min(cells, len(vectors) // 39))
            spec = re.sub(r"IVF\d+", f"IVF{fitting}", spec, count=1, flags=re.IGNORECASE)
        inner = faiss.index_factory(vectors.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
        if hasattr(inner, "hnsw"):
            inner.hnsw.efConstruction = max(inner.hnsw.efConstruction, 80)
        if not inner.is_trained:
            # k-means on a sample is as good as on everything, and much faster.
            sample = vectors[np.random.default_rng(0).permutation(len(vectors))[: 64 * max(1, inner.nlist)]]
            inner.train(sample)
        # IVF stores our ids in its lists (and removes by them); HNSW numbers vectors
        # 0..N-1 itself, so a map from its numbers to our ids wraps it.
        return inner if self._ivf else faiss.IndexIDMap2(inner)

    def _set_search_params(self) -> None:
        inner = self.faiss.downcast_index(self.index.index) if hasattr(self.index, "id_map") else self.index
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.ef_search
        if hasattr(inner, "nprobe"):
            inner.nprobe = self.nprobe

    def _build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        log.info("building a faiss %s index over %d vectors", self.spec, len(ids))
        self.index = self._new_index(vectors) if len(ids) else None
        self.ids, self.deleted = np.zeros(0, np.int64), np.zeros(0, bool)
        if self.index is not None:
            self._set_search_params()
            self._add(ids, vectors)
        self._dirty = True

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids.astype(np.int64))
            self.ids = np.concatenate([self.ids, ids])
            self.deleted = np.concatenate([self.deleted, np.zeros(len(ids), bool)])
            self._dirty = True

    def sync(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if self.index is None:
            self._build(ids, vectors)
            return
        # The index only appends rows and removes some in place, so the live ids we hold
        # are, in order, a subsequence of the new ids followed by new rows.
        live = self.ids[~self.deleted]
        kept = np.isin(live, ids)
        n_kept = int(kept.sum())
        if not np.array_equal(live[kept], ids[:n_kept]):
            self._build(ids, vectors)  # reordered: start over
            return
        removed = live[~kept]
        if len(removed):
            if self._ivf:
                self.index.remove_ids(removed)
                keep = ~np.isin(self.ids, removed)
                self.ids, self.deleted = self.ids[keep], self.deleted[keep]
            else:
                self.deleted |= np.isin(self.ids, removed)
            self._dirty = True
            if self.deleted.sum() > 0.2 * len(self.ids):
                self._build(ids, vectors)
                return
        self._add(ids[n_kept:], vectors[n_kept:])

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_queries(queries)
        scores, ids = _empty(len(queries), top_k)
        if self.index is None or len(self) == 0:
            return scores, ids
        n_deleted = int(self.deleted.sum())
        found_scores, found_ids = self.index.search(queries, min(top_k + n_deleted, len(self.ids)))
        dead = set(self.ids[self.deleted].tolist())
        for q in range(len(queries)):
            keep = [j for j, i in enumerate(found_ids[q]) if i != -1 and i not in dead][:top_k]
            scores[q, : len(keep)], ids[q, : len(keep)] = found_scores[q, keep], found_ids[q, keep]
        return scores, ids

    # --- the on-disk cache: <slug>.<token>.faiss holds the index, <slug>.json names it ---

    def _paths(self) -> tuple[Path, str]:
        return self.cache_dir / f"{_slug(self.spec)}.json", _slug(self.spec)

    def _restore(self) -> None:
        pointer, _ = self._paths()
        try:
            meta = json.loads(pointer.read_text())
            with np.load(self.cache_dir / meta["ids"], allow_pickle=False) as data:
                ids, deleted = data["ids"], data["deleted"]
            index = self.faiss.read_index(str(self.cache_dir / meta["index"]))
        except (OSError, ValueError, KeyError, RuntimeError):
            return  # no cache or a damaged one: the next sync builds the index
        if index.ntotal != len(ids):
            return
        self.index, self.ids, self.deleted = index, ids, deleted
        self._set_search_params()

    def save(self) -> None:
        """Write the index beside the old cache, then switch the pointer to it atomically."""
        if self.cache_dir is None or not self._dirty:
            return

        pointer, slug = self._paths()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        names = {"index": f"{slug}.{token}.faiss", "ids": f"{slug}.{token}.npz"}
        if self.index is not None:
            self.faiss.write_index(self.index, str(self.cache_dir / names["index"]))
            np.savez(self.cache_dir / names["ids"], ids=self.ids, deleted=self.deleted)
            atomic_write_bytes(pointer, json.dumps(names).encode())
        else:
            pointer.unlink(missing_ok=True)
        for old in self.cache_dir.glob(f"{slug}.*"):  # older generations, now unreferenced
            if old.name not in names.values() and old != pointer:
                old.unlink(missing_ok=True)
        self._dirty = False

    def close(self) -> None:
        self.save()


class QdrantBackend:
    """The Qdrant vector database (https://qdrant.tech) through ``qdrant-client``.

    ``url`` points at a Qdrant server or cluster (``http://host:6333``; sharding and
    replication are the cluster's business); without one, Qdrant runs embedded in this
    process with its data under ``path``. Point ids are the index's ids (derived from
    each image's content hash), so any number of app processes agree on them."""

    name = "qdrant"

    def __init__(
        self, collection: str, url: str | None = None, path: Path | None = None, api_key: str | None = None
    ) -> None:
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise _missing("Qdrant", "qdrant-client") from None
        self.collection = collection
        self.url = url or None
        try:
            if self.url:
                self.client = QdrantClient(url=self.url, api_key=api_key or None, timeout=30)
            else:
                Path(path).mkdir(parents=True, exist_ok=True)
                self.client = QdrantClient(path=str(path))
        except RuntimeError as error:  # the embedded store allows one process at a time
            raise RuntimeError(
                f"The embedded Qdrant store at {path} is open in another process ({error}). "
                "Close it, or run a Qdrant server and point QDRANT_URL at it."
            ) from None
        self._known: np.ndarray | None = None  # sorted ids known to be in the collection

    def __len__(self) -> int:
        return 0 if self._known is None else len(self._known)

    def _ensure_collection(self, dim: int) -> None:
        from qdrant_client import models

        if not self.client.collection_exists(self.collection):
            self.client.create_collection(
                self.collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )
            return
        size = self.client.get_collection(self.collection).config.params.vectors.size
        if size != dim:
            raise ValueError(
                f"The Qdrant collection {self.collection!r} holds {size}-dimensional vectors, not {dim}: "
                "it was built with another model. Delete it or use another index."
            )

    def _all_ids(self) -> np.ndarray:
        found, offset = [], None
        while True:
            points, offset = self.client.scroll(
                self.collection, limit=10_000, offset=offset, with_payload=False, with_vectors=False
            )
            found += [int(p.id) for p in points]
            if offset is None:
                return np.unique(np.array(found, np.int64))

    def sync(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        from qdrant_client import models

        if self._known is None:
            if not len(ids) and not self.client.collection_exists(self.collection):
                self._known = np.zeros(0, np.int64)
                return
            self._ensure_collection(vectors.shape[1])
            self._known = self._all_ids()
        missing = ~np.isin(ids, self._known)
        extra = self._known[~np.isin(self._known, ids)]
        if len(extra):
            self.client.delete(self.collection, points_selector=models.PointIdsList(points=extra.tolist()))
        if missing.any():
            self._ensure_collection(vectors.shape[1])
            rows = np.flatnonzero(missing)
            for start in range(0, len(rows), 1024):
                batch = rows[start : start + 1024]
                self.client.upsert(
                    self.collection,
                    points=models.Batch(ids=ids[batch].tolist(), vectors=vectors[batch].tolist()),
                    wait=True,
                )
        self._known = np.unique(ids).astype(np.int64)

    def search(self, queries: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _as_queries(queries)
        scores, ids = _empty(len(queries), top_k)
        if not len(self):
            return scores, ids
        for q, query in enumerate(queries):
            points = self.client.query_points(
                self.collection, query=query.tolist(), limit=top_k, with_payload=False
            ).points
            scores[q, : len(points)] = [p.score for p in points]
            ids[q, : len(points)] = [int(p.id) for p in points]
        return scores, ids

    def save(self) -> None:
        pass  # Qdrant persists every write itself

    def close(self) -> None:
        self.client.close()


def choose(name: str | None, size: int) -> str:
    """The backend to use for ``size`` vectors: ``name`` (or SEARCH_BACKEND), where
    ``auto`` means exact search below SEARCH_ANN_THRESHOLD vectors and faiss above."""
    name = (name or settings.SEARCH_BACKEND).strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"Unknown search backend {name!r}; available backends = {list(BACKENDS)}")
    if name != "auto":
        return name
    if size < settings.SEARCH_ANN_THRESHOLD:
        return "exact"
    try:
        import faiss  # noqa: F401
    except ImportError:
        log.warning("faiss-cpu is not installed: searching %d vectors exactly (pip install faiss-cpu)", size)
        return "exact"
    return "faiss"


def create(name: str, root: Path, collection: str, qdrant_url: str | None = None):
    """A backend named ``name`` (not auto) for the index stored at ``root``; Qdrant at
    ``qdrant_url`` (QDRANT_URL when None; embedded when both are empty)."""
    if name == "exact":
        return ExactBackend()
    if name == "faiss":
        return FaissBackend(cache_dir=Path(root) / "ann")
    if name == "qdrant":
        return QdrantBackend(
            f"{settings.QDRANT_COLLECTION_PREFIX}{collection}",
            url=(settings.QDRANT_URL if qdrant_url is None else qdrant_url) or None,
            path=Path(root) / "qdrant",
            api_key=settings.QDRANT_API_KEY or None,
        )
    raise ValueError(f"Unknown search backend {name!r}; available backends = {list(BACKENDS[1:])}")
