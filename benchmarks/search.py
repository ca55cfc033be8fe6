"""Benchmark of searching your own collection: indexing throughput, and query latency,
recall, build time and memory of each search backend at growing sizes.

    python -m benchmarks.search --quick                       # a minute or two: 10k vectors, 32 images
    python -m benchmarks.search --sizes 10000,100000,1000000  # the full run (1M needs ~8 GB and a while)

Two parts, both on this machine, both printed as JSON lines (one per measurement)
and as a Markdown table at the end:

1. Embedding throughput, images/s, of the indexing path (``ImageIndex.add``: batches,
   decoding on worker threads while the model runs, written to disk) against a naive
   loop that embeds one image at a time, on the same model: CLIP ViT-B/32's
   architecture with random weights (checkpoints can't be downloaded here; speed does
   not depend on the weights), on synthetic 640x480 JPEGs.
2. For N synthetic unit vectors of CLIP ViT-B/32's size (512), clustered like the
   embeddings of a real collection, every backend: build time, memory (growth of this
   process's resident memory), query latency p50/p95 one query at a time, recall@10
   against exact search, and the latency of a whole text query: the real-size CLIP
   text encoder (random weights, a 12-token query, about what CLIP's BPE makes of
   "a photo of a dog on a beach at night") plus the search. The target on a 2-core
   CPU is a text query over 1M images under 50 ms p50 with recall@10 >= 0.95.
   The clustered data (N/100 clusters; cosine ~0.6 inside one, ~0 across) is kind to
   approximate indexes; ``--data uniform`` measures the structureless worst case.

Embedded Qdrant is a pure-Python brute-force store meant for tests and small data, so
it runs only up to ``--qdrant-max`` vectors; pass ``--qdrant-url`` to measure a Qdrant
server (which builds an HNSW graph) at every size.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 512  # CLIP ViT-B/32's projection size
TOP_K = 10


def _rss() -> int:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:  # Linux without psutil
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1000), float(np.percentile(seconds, 95) * 1000)


def clip_b32():
    """CLIP ViT-B/32's architecture (transformers' CLIPConfig defaults) with random
    weights, wrapped as the app's RetrievalPipeline. The tokenizer is the tiny
    profile's character-level one: it only decides token ids, not the model's cost."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    from pipelines.retrieval import RetrievalPipeline
    from runtime.tiny import _clip_tokenizer

    torch.manual_seed(0)
    config = CLIPConfig()  # vision: ViT-B/32 at 224 px; text: 12 layers of width 512; projection 512
    model = CLIPModel(config)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}),
        tokenizer=_clip_tokenizer(),
    )
    return RetrievalPipeline(model, processor, "clip-vit-b32-architecture-random-weights", "none")


def synthetic_images(folder: Path, count: int) -> list[Path]:
    """``count`` different 640x480 JPEGs: smooth random colour fields, like photos to a decoder."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        path = folder / f"photo{i:05d}.jpg"
        Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC).save(path, quality=90)
        paths.append(path)
    return paths


def bench_embedding(pipe, images: int, batch_size: int) -> list[dict]:
    from search.index import ImageIndex

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        paths = synthetic_images(Path(tmp), images)
        pipe.embed_images([paths[0]])  # warm-up: first-call allocations
        start = time.perf_counter()
        for path in paths:
            pipe.embed_images([path])
        naive = images / (time.perf_counter() - start)
        start = time.perf_counter()
        with ImageIndex.create(Path(tmp) / "index", pipe, backend="exact") as index:
            index.add(paths, pipe, batch_size=batch_size)
            assert len(index) == images
        indexed = images / (time.perf_counter() - start)
    common = {"part": "embedding", "model": "CLIP ViT-B/32 architecture, random weights", "images": images}
    rows.append({**common, "method": "naive loop, one image at a time", "images_per_s": naive, "speedup": 1.0})
    rows.append(
        {**common, "method": f"indexing path, batch {batch_size}", "images_per_s": indexed, "speedup": indexed / naive}
    )
    return rows


def clustered_vectors(n: int, dim: int, seed: int, centres: np.ndarray) -> np.ndarray:
    """Unit vectors around ``centres``: points of one cluster have cosine ~0.6, of two
    clusters ~0; built in chunks so 1M x 512 never needs more than the result."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 65_536):
        stop = min(start + 65_536, n)
        chunk = centres[rng.integers(0, len(centres), stop - start)] + 0.8 * rng.standard_normal(
            (stop - start, dim), np.float32
        )
        out[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    from search.backends import ExactBackend

    exact = ExactBackend()
    exact.sync(np.arange(len(vectors), dtype=np.int64), vectors)
    return np.concatenate([exact.search(queries[i : i + 32], k)[1] for i in range(0, len(queries), 32)])


def make_backend(name: str, n: int, tmp: Path, args):
    from search import backends as search_backends

    if name == "exact":
        return search_backends.ExactBackend()
    if name == "faiss-hnsw":
        return search_backends.FaissBackend(f"HNSW{args.hnsw_m}", ef_search=args.ef_search)
    if name == "faiss-ivf":
        cells = 2 ** round(math.log2(4 * math.sqrt(n)))  # faiss's rule of thumb: 4-16 x sqrt(N) cells
        return search_backends.FaissBackend(f"IVF{cells},Flat", nprobe=args.nprobe)
    if name == "qdrant":
        return search_backends.QdrantBackend(f"bench-{n}", url=args.qdrant_url, path=tmp / "qdrant")
    raise ValueError(f"Unknown backend {name!r}")


def bench_search(n: int, backends: list[str], queries: int, encoder, args) -> list[dict]:
    rng = np.random.default_rng(1)
    if args.data == "uniform":  # the worst case for any index: no structure at all
        centres = np.zeros((1, DIM), np.float32)
    else:
        centres = rng.standard_normal((max(16, n // 100), DIM)).astype(np.float32)
    vectors = clustered_vectors(n, DIM, 2, centres)
    ids = np.arange(n, dtype=np.int64)
    query_vectors = clustered_vectors(queries, DIM, 3, centres)  # new points from the same clusters
    truth = exact_top_k(vectors, query_vectors, TOP_K)
    rows = []
    for name in backends:
        row = {"part": "search", "backend": name, "vectors": n, "dim": DIM, "data": args.data}
        if name == "qdrant" and not args.qdrant_url and n > args.qdrant_max:
            rows.append(
                {
                    **row,
                    "skipped": f"embedded Qdrant is brute force in Python; over {args.qdrant_max:,} "
                    "vectors measure a server with --qdrant-url",
                }
            )
            continue
        with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
            gc.collect()
            before = _rss()
            start = time.perf_counter()
            backend = make_backend(name, n, Path(tmp), args)
            backend.sync(ids, vectors)
            build = time.perf_counter() - start
            memory = max(0, _rss() - before)
            backend.search(query_vectors[:1], TOP_K)  # warm-up
            latencies, found = [], []
            for query in query_vectors:
                start = time.perf_counter()
                found.append(backend.search(query[None, :], TOP_K)[1][0])
                latencies.append(time.perf_counter() - start)
            recall = float(np.mean([len(set(f) & set(t)) / TOP_K for f, t in zip(found, truth, strict=True)]))
            text_latencies = []
            if encoder is not None:
                for query in query_vectors[: args.text_queries]:
                    start = time.perf_counter()
                    encoder()  # the text query's embedding, at the cost of a real one
                    backend.search(query[None, :], TOP_K)
                    text_latencies.append(time.perf_counter() - start)
            backend.close()
        p50, p95 = _percentiles(latencies)
        row.update(
            build_s=build,
            memory_mb=memory / 2**20,
            search_p50_ms=p50,
            search_p95_ms=p95,
            recall_at_10=recall,
            queries=len(latencies),
        )
        if text_latencies:
            row["text_query_p50_ms"], row["text_query_p95_ms"] = _percentiles(text_latencies)
        rows.append(row)
        del backend
        gc.collect()
    return rows


def text_encoder(pipe, tokens: int):
    """A callable that embeds one ``tokens``-long text query with the real-size text tower."""
    import torch

    ids = torch.randint(1, 1000, (1, tokens))

    @torch.inference_mode()
    def encode():
        features = pipe.model.get_text_features(input_ids=ids, attention_mask=torch.ones_like(ids)).pooler_output
        return torch.nn.functional.normalize(features, dim=-1)

    for _ in range(3):  # warm-up
        encode()
    return encode


def run(
    sizes=(10_000, 100_000, 1_000_000),
    quick: bool = False,
    backends=None,
    queries: int | None = None,
    images: int | None = None,
    echo: bool = False,
    **options,
) -> list[dict]:
    """Run the benchmark and return its rows (what ``python -m benchmarks`` collects);
    ``echo`` prints each row as a JSON line as soon as it is measured."""
    args = argparse.Namespace(**{**vars(_parser().parse_args([])), **options})
    backends = list(backends or ["exact", "faiss-hnsw", "faiss-ivf", "qdrant"])
    queries = queries or (50 if quick else 200)
    images = images if images is not None else (32 if quick else 256)
    env = {"part": "machine", "cpus": os.cpu_count(), "torch_threads": None, "python": sys.version.split()[0]}
    pipe = None
    rows = _Rows(echo)
    if images or args.text_queries:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        pipe = clip_b32()
    rows.append(env)
    if images:
        rows += bench_embedding(pipe, images, args.batch_size)
    encoder = text_encoder(pipe, args.query_tokens) if pipe is not None and args.text_queries else None
    if encoder is not None:
        times = []
        for _ in range(20):
            start = time.perf_counter()
            encoder()
            times.append(time.perf_counter() - start)
        p50, p95 = _percentiles(times)
        rows.append({"part": "text encoding", "tokens": args.query_tokens, "p50_ms": p50, "p95_ms": p95})
    for n in sizes:
        rows += bench_search(int(n), backends, queries, encoder, args)
    return list(rows)


class _Rows(list):
    """A list of rows that can print each one as it arrives."""

    def __init__(self, echo: bool):
        super().__init__()
        self.echo = echo

    def append(self, row: dict) -> None:
        super().append(row)
        if self.echo:
            print(json.dumps(row), flush=True)

    def __iadd__(self, rows):
        for row in rows:
            self.append(row)
        return self


def markdown(rows: list[dict]) -> str:
    """The rows as Markdown tables, one per part."""
    out = []
    embedding = [r for r in rows if r["part"] == "embedding"]
    if embedding:
        out += ["| indexing method | images | images/s | speed-up |", "|---|---:|---:|---:|"]
        out += [f"| {r['method']} | {r['images']} | {r['images_per_s']:.1f} | {r['speedup']:.2f}x |" for r in embedding]
        out.append("")
    text = [r for r in rows if r["part"] == "text encoding"]
    if text:
        out += [
            f"Text encoding ({text[0]['tokens']} tokens, real-size CLIP text tower): "
            f"p50 {text[0]['p50_ms']:.1f} ms, p95 {text[0]['p95_ms']:.1f} ms.",
            "",
        ]
    search = [r for r in rows if r["part"] == "search"]
    if search:
        out += [
            "| backend | vectors | build (s) | memory (MB) | search p50 / p95 (ms) | text query p50 / p95 (ms) | recall@10 |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in search:
            if "skipped" in r:
                out.append(f"| {r['backend']} | {r['vectors']:,} | skipped: {r['skipped']} | | | | |")
                continue
            text_cell = (
                f"{r['text_query_p50_ms']:.1f} / {r['text_query_p95_ms']:.1f}" if "text_query_p50_ms" in r else ""
            )
            out.append(
                f"| {r['backend']} | {r['vectors']:,} | {r['build_s']:.2f} | {r['memory_mb']:.0f} | "
                f"{r['search_p50_ms']:.2f} / {r['search_p95_ms']:.2f} | {text_cell} | {r['recall_at_10']:.3f} |"
            )
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated collection sizes")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10k vectors, 32 images, 50 queries")
    parser.add_argument("--backends", default="exact,faiss-hnsw,faiss-ivf,qdrant", help="comma-separated")
    parser.add_argument("--queries", type=int, default=None, help="queries per backend (default 200, quick 50)")
    parser.add_argument("--text-queries", type=int, default=50, help="end-to-end text queries per backend (0: skip)")
    parser.add_argument("--query-tokens", type=int, default=12, help="tokens in a text query")
    parser.add_argument(
        "--images", type=int, default=None, help="images for the throughput part (default 256, quick 32; 0: skip)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of the indexing path")
    parser.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-search", type=int, default=128, help="HNSW candidates per query (FAISS_EF_SEARCH)")
    parser.add_argument("--nprobe", type=int, default=32, help="IVF cells scanned per query (FAISS_NPROBE)")
    parser.add_argument("--qdrant-url", default=None, help="measure a Qdrant server instead of embedded Qdrant")
    parser.add_argument("--qdrant-max", type=int, default=20_000, help="largest size for embedded Qdrant")
    parser.add_argument("--threads", type=int, default=None, help="torch and faiss threads (default: all cores)")
    parser.add_argument(
        "--data",
        choices=("clustered", "uniform"),
        default="clustered",
        help="synthetic vectors: clustered like a real collection, or uniform on the sphere (worst case)",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON lines to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:
        import faiss
        import torch

        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    sizes = (
        [10_000]
        if args.quick and args.sizes == _parser().get_default("sizes")
        else [int(s) for s in args.sizes.split(",")]
    )
    options = {
        k: v for k, v in vars(args).items() if k not in {"sizes", "quick", "backends", "queries", "images", "out"}
    }
    rows = run(sizes, args.quick, args.backends.split(","), args.queries, args.images, echo=True, **options)
    lines = [json.dumps(row) for row in rows]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    print()
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
