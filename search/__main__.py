"""The command line for collections of any size one machine holds::

    python -m search index ~/Pictures --index pictures.idx
    python -m search search --index pictures.idx --text "a dog on a beach" --top-k 5
    python -m search search --index pictures.idx --image dog.jpg --text "at night" --json
    python -m search classify --index pictures.idx --labels "cat, dog, landscape"
    python -m search remove --index pictures.idx PATH_OR_ID...
    python -m search info --index pictures.idx

An index built here can be searched in the app too (SEARCH_INDEX).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.cache import MODELS
from runtime import registry
from runtime.hub import CheckpointUnavailable
from runtime.inputs import collect_notices
from search.classify import classify_collection
from search.index import ImageIndex, IndexBusyError, scan


def load_pipeline(model: str | None = None, profile: str | None = None, recorded: dict | None = None):
    """(pipeline, checkpoint key) for the command line: ``model`` (a registry key, Hub id
    or local directory), else the model an index was built with (``recorded``), else
    the profile's default. A fallback notice goes to stderr."""
    if model is None and recorded:
        model = recorded.get("key") or f"{recorded['id']}@{recorded['revision']}"
        checkpoint = registry.CHECKPOINTS.get(model)
        if checkpoint is not None and checkpoint.is_tiny and profile is None:
            profile = "tiny"  # an index built with a tiny model is searched with it
    MODELS.configure(profile)
    offered = {c.key for c in registry.choices("retrieval", profile)}
    # A Hub id, a directory or another profile's key names its checkpoint directly.
    chosen = registry.named("retrieval", model) if model and model not in offered else model
    loaded = MODELS.get("retrieval", chosen)
    if loaded.notice:
        print(f"warning: {loaded.notice}", file=sys.stderr)
    return loaded.pipeline, loaded.checkpoint.key


def _print_hits(hits: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(hits, indent=1, ensure_ascii=False))
        return
    if not hits:
        print("no images in the index")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>3}. {hit['score']:.4f}  {hit['path']}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m search", description="Index and search your own images with CLIP.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument("--index", required=True, type=Path, help="the index directory")
        sub.add_argument("--model", help="registry key, Hub id or local directory (default: the index's model)")
        sub.add_argument("--profile", choices=("auto", "gpu", "cpu", "tiny"), help="checkpoint profile (MODEL_PROFILE)")
        sub.add_argument(
            "--backend", choices=("auto", "exact", "faiss", "qdrant"), help="search backend (SEARCH_BACKEND)"
        )
        sub.add_argument("--qdrant-url", help="a Qdrant server or cluster for --backend qdrant (QDRANT_URL)")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        return sub

    index = command("index", "Add the images under DIR (recursively) to an index, creating it if needed.")
    index.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="folders or image files")
    index.add_argument("--batch-size", type=int, default=None, help="images embedded at once (INDEX_BATCH_SIZE)")
    index.add_argument("--prune", action="store_true", help="also remove indexed images whose file is gone")
    index.add_argument("--quiet", action="store_true", help="no progress bar")

    search = command("search", "Search an index by text, by image, or both.")
    search.add_argument("--text", help="what to look for")
    search.add_argument("--image", type=Path, help="an example image (with --text: the text modifies it)")
    search.add_argument("--text-weight", type=float, default=0.5, help="with both, the text's share (0-1)")
    search.add_argument("--top-k", type=int, default=10, help="number of hits")

    classify = command("classify", "Sort every image of an index into one of the labels (zero-shot).")
    classify.add_argument("--labels", required=True, help="comma-separated labels")
    classify.add_argument("--examples", type=int, default=3, help="examples shown per label")

    remove = command("remove", "Remove images from an index, by path or id (content hash).")
    remove.add_argument("keys", nargs="+", metavar="PATH_OR_ID")

    command("info", "What an index holds and which model built it.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the notices the models give (a query in a script the model can't
    read, a text cut to the model's length) go to stderr, as the app shows them."""
    with collect_notices() as notices:
        code = _run(argv)
    for notice in notices:
        print(f"notice: {notice}", file=sys.stderr)
    return code


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "index":
            files = [path.resolve() for path in scan(args.dirs)]
            exists = (args.index / "index.json").exists()
            recorded = ImageIndex._read_manifest(args.index)["model"] if exists else None
            pipe, key = load_pipeline(args.model, args.profile, recorded)
            with ImageIndex.open_or_create(args.index, pipe, key, args.backend, args.qdrant_url) as index:
                report = index.add(files, pipe, batch_size=args.batch_size, progress=not args.quiet)
                pruned = index.prune() if args.prune else []
                if index.info()["backend"] != "exact":  # build (and cache) the search index now, not at the first query
                    print(f"Building the {index.info()['backend']} search index...", file=sys.stderr)
                    index.backend  # noqa: B018
                if args.json:
                    print(
                        json.dumps(
                            {**report.as_dict(), "removed": [i["path"] for i in pruned], "index": index.info()},
                            indent=1,
                            ensure_ascii=False,
                        )
                    )
                else:
                    print(report.summary())
                    if pruned:
                        print(f"Removed {len(pruned)} image(s) whose file is gone.")
                    print(f"The index at {args.index} holds {len(index)} image(s).")
            return 0
        with ImageIndex.open(args.index, args.backend, args.qdrant_url) as index:
            if args.command == "info":
                info = index.info()
                print(
                    json.dumps(info, indent=1, ensure_ascii=False)
                    if args.json
                    else "\n".join(f"{k}: {v}" for k, v in info.items())
                )
            elif args.command == "remove":
                removed = index.remove(args.keys)
                print(
                    json.dumps(removed, indent=1, ensure_ascii=False)
                    if args.json
                    else f"Removed {len(removed)} image(s)."
                )
            else:
                pipe, _ = load_pipeline(args.model, args.profile, index.model)
                index.check_model(pipe)
                if args.command == "search":
                    image = str(args.image) if args.image else None
                    hits = index.query(
                        pipe, text=args.text, image=image, text_weight=args.text_weight, top_k=args.top_k
                    )
                    _print_hits(hits, args.json)
                else:
                    result = classify_collection(pipe, [index], args.labels, args.examples)
                    if args.json:
                        print(json.dumps(result, indent=1, ensure_ascii=False))
                    for row in [] if args.json else result["labels"]:
                        names = ", ".join(item["name"] for item in row["examples"])
                        print(f"{row['label']:<24} {row['count']:>7}  {row['share']:6.1%}  {names}")
        return 0
    except (ValueError, TypeError, CheckpointUnavailable, IndexBusyError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
