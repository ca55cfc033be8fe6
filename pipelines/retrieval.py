"""Image-text retrieval and zero-shot classification with CLIP.

CLIP (Radford et al., 2021, "Learning Transferable Visual Models From Natural
Language Supervision") trains an image encoder and a text encoder so that matching
image-text pairs have a high cosine similarity (a symmetric contrastive loss over a
batch). Searching a gallery is then a dot product between L2-normalised embeddings,
and zero-shot classification is a softmax over the similarities to "a photo of a
{label}." for each label.

Searching a user's own collection builds on this: ``search/index.py`` keeps the
embeddings on disk, ``search/backends.py`` finds nearest neighbours (exact,
faiss or Qdrant), and ``classify_collection`` sorts a whole collection into labels.
This module is also the command line::

    python -m pipelines.retrieval index ~/Pictures --index pictures.idx
    python -m pipelines.retrieval search --index pictures.idx --text "a dog on a beach" --top-k 5
    python -m pipelines.retrieval search --index pictures.idx --image dog.jpg --text "at night" --json
    python -m pipelines.retrieval classify --index pictures.idx --labels "cat, dog, landscape"
    python -m pipelines.retrieval remove --index pictures.idx PATH_OR_ID...
    python -m pipelines.retrieval info --index pictures.idx
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from runtime.inputs import check_number, check_text, load_image, note_truncation, parse_labels

SUPPORTED = ("clip",)
MAX_TOP_K = 50
MAX_EXAMPLES = 24  # examples shown per label when classifying a collection


class RetrievalPipeline:
    def __init__(self, model, processor, model_id: str = "", revision: str = "main"):
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.revision = revision

    @classmethod
    def from_pretrained(
        cls, model_id: str, *, revision: str = "main", device: str = "cpu", dtype=torch.float32, local_files_only=False
    ) -> RetrievalPipeline:
        from transformers import AutoConfig, CLIPModel, CLIPProcessor

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:
            raise ValueError(f"Retrieval supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model.")
        model = CLIPModel.from_pretrained(model_id, dtype=dtype, device_map=device, **hub)
        return cls(model, CLIPProcessor.from_pretrained(model_id, **hub), model_id, revision)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device) -> RetrievalPipeline:
        self.model.to(device)
        return self

    @property
    def name(self) -> str:
        """Identifies the checkpoint, for people; ``fingerprint`` identifies the embedding space."""
        return f"{self.model_id}@{self.revision}"

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of the two projection matrices, which place images and texts in the
        shared space: any other checkpoint (or revision) has other ones. Taken in
        float16 so the same weights loaded in float16 (CUDA) or float32 (CPU) agree."""
        digest = hashlib.sha256()
        for weight in (self.model.visual_projection.weight, self.model.text_projection.weight):
            digest.update(weight.detach().to("cpu", torch.float16).numpy().tobytes())
        return digest.hexdigest()[:16]

    @torch.inference_mode()
    def embed_images(self, images: Sequence, batch_size: int = 16, callback: Callable[[int, int], None] | None = None):
        """(N, D) float32 array of L2-normalised image embeddings; images are read a
        batch at a time, so a long list of paths never sits in memory decoded."""
        chunks = []
        for start in range(0, len(images), batch_size):
            batch = [load_image(image) for image in images[start : start + batch_size]]
            pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
            features = self.model.get_image_features(
                pixel_values=pixels.to(self.device, self.model.dtype)
            ).pooler_output
            chunks.append(_normalise(features))
            if callback is not None:
                callback(min(start + batch_size, len(images)), len(images))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.model.config.projection_dim), np.float32)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]):
        """(N, D) float32 array of L2-normalised text embeddings; long texts are cut at
        the text encoder's 77 tokens."""
        texts = [check_text(text, "text") for text in texts]
        for text in texts:
            note_truncation(self.processor.tokenizer, text, self.processor.tokenizer.model_max_length, "text")
        tokens = self.processor(text=texts, return_tensors="pt", padding=True, truncation=True).to(self.device)
        features = self.model.get_text_features(**tokens).pooler_output
        return _normalise(features)

    def embed_query(self, text: str | None = None, image=None, text_weight: float = 0.5) -> np.ndarray:
        """(D,) unit query for a search by text, by image, or both. With both, the text
        modifies the image ("this photo" + "at night"): the weighted sum of the two unit
        embeddings, renormalised, a simple composed-retrieval baseline that works
        because CLIP puts both in one space."""
        has_text = text is not None and not (isinstance(text, str) and not text.strip())
        if image is None and not has_text:
            raise ValueError("Nothing to search with: type a search text, give an image, or both.")
        if image is None:
            return self.embed_texts([check_text(text, "search text")])[0]
        image_embedding = self.embed_images([image])[0]
        if not has_text:
            return image_embedding
        weight = check_number("text_weight", text_weight, 0.0, 1.0, integer=False)
        text_embedding = self.embed_texts([check_text(text, "search text")])[0]
        query = (1.0 - weight) * image_embedding + weight * text_embedding
        norm = float(np.linalg.norm(query))
        if norm < 1e-6:  # opposite vectors at weight 0.5: nothing left to search with
            raise ValueError("The image and the text cancel out; change the text weight.")
        return (query / norm).astype(np.float32)

    @torch.inference_mode()
    def zero_shot(self, embeddings: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """(N, L) probabilities of each label for N image embeddings."""
        text_embeddings = self.embed_texts([_prompt(label) for label in labels])
        scale = float(self.model.logit_scale.exp())  # CLIP's learned temperature
        logits = torch.from_numpy(np.ascontiguousarray(embeddings, np.float32) @ text_embeddings.T) * scale
        return logits.softmax(dim=1).numpy()

    @torch.inference_mode()
    def classify(self, image, labels: str | Sequence[str]) -> dict[str, float]:
        """Zero-shot: probability of each label for ``image``, summing to 1, best first."""
        image = load_image(image)
        labels = parse_labels(labels)
        probs = self.zero_shot(self.embed_images([image]), labels)[0].tolist()
        return dict(sorted(zip(labels, probs, strict=True), key=lambda item: -item[1]))


def _normalise(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    return (features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()


def _prompt(label: str) -> str:
    # CLIP's prompt template: "a photo of a {label}." beats the bare label
    article = "" if re.match(r"(a|an|the)\s", label, re.IGNORECASE) else "a "
    return f"a photo of {article}{label}."


def classify_collection(pipe: RetrievalPipeline, indexes: Sequence, labels: str | Sequence[str],
                        examples: int = 4) -> dict:  # fmt: skip
    """Zero-shot classification of every image in ``indexes`` (ImageIndex objects built
    with ``pipe``'s model): each image goes to its most probable label. Returns the
    total and, per label in the order given, the count, the share and the ``examples``
    images the model is surest of (with their probability as ``score``)."""
    labels = parse_labels(labels)
    examples = check_number("examples", examples, 0, MAX_EXAMPLES)
    winners = []  # per index: (N,) label number and (N,) its probability
    for index in indexes:
        index.check_model(pipe)
        chunks = [pipe.zero_shot(index.embeddings[start : start + 65_536], labels)
                  for start in range(0, len(index), 65_536)]  # fmt: skip
        probs = np.concatenate(chunks) if chunks else np.zeros((0, len(labels)), np.float32)
        winners.append((probs.argmax(axis=1), probs.max(axis=1, initial=0.0) if len(probs) else probs[:, 0]))
    total = sum(len(index) for index in indexes)
    result = {"total": total, "labels": []}
    for number, label in enumerate(labels):
        count, candidates = 0, []
        for index, (assigned, confidence) in zip(indexes, winners, strict=True):
            rows = np.flatnonzero(assigned == number)
            count += len(rows)
            best = rows[np.argsort(-confidence[rows], kind="stable")[:examples]]
            candidates += [index.item(int(row), float(confidence[row])) for row in best]
        candidates.sort(key=lambda item: -item["score"])
        result["labels"].append({"label": label, "count": count, "share": count / total if total else 0.0,
                                 "examples": candidates[:examples]})  # fmt: skip
    return result


# --- The command line --------------------------------------------------------------


def load_pipeline(model: str | None = None, profile: str | None = None, recorded: dict | None = None):
    """(pipeline, checkpoint key) for the command line: ``model`` (a registry key, Hub id
    or local directory), else the model an index was built with (``recorded``), else
    the profile's default. A fallback notice goes to stderr."""
    from runtime import registry
    from runtime.cache import MODELS

    if model is None and recorded:
        model = recorded.get("key") or f"{recorded['id']}@{recorded['revision']}"
        checkpoint = registry.CHECKPOINTS.get(model)
        if checkpoint is not None and checkpoint.is_tiny and profile is None:
            profile = "tiny"  # an index built with a tiny model is searched with it
    MODELS.configure(profile)
    variable = registry.env_var("retrieval")
    before = os.environ.get(variable)
    if model and model not in {c.key for c in registry.choices("retrieval", profile)}:
        os.environ[variable] = model  # a Hub id, a directory, or another profile's key: an override
        model = None
    try:
        loaded = MODELS.get("retrieval", model)
    finally:  # the override was for this load only
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before
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
    parser = argparse.ArgumentParser(prog="python -m pipelines.retrieval", description="Index and search your own images with CLIP.")  # fmt: skip
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
    from runtime import settings
    from runtime.hub import CheckpointUnavailable
    from search.index import ImageIndex, IndexBusyError, scan

    args = _parser().parse_args(argv)
    if args.qdrant_url:
        settings.QDRANT_URL = args.qdrant_url
    try:
        if args.command == "index":
            files = [path.resolve() for path in scan(args.dirs)]
            exists = (args.index / "index.json").exists()
            recorded = ImageIndex._read_manifest(args.index)["model"] if exists else None
            pipe, key = load_pipeline(args.model, args.profile, recorded)
            with ImageIndex.open_or_create(args.index, pipe, key, args.backend) as index:
                report = index.add(files, pipe, batch_size=args.batch_size, progress=not args.quiet)
                pruned = index.prune() if args.prune else []
                if index.info()["backend"] != "exact":  # build (and cache) the search index now, not at the first query
                    print(f"Building the {index.info()['backend']} search index...", file=sys.stderr)
                    index.backend  # noqa: B018
                if args.json:
                    print(json.dumps({**report.as_dict(), "removed": [i["path"] for i in pruned], "index": index.info()},
                                     indent=1, ensure_ascii=False))  # fmt: skip
                else:
                    print(report.summary())
                    if pruned:
                        print(f"Removed {len(pruned)} image(s) whose file is gone.")
                    print(f"The index at {args.index} holds {len(index)} image(s).")
            return 0
        with ImageIndex.open(args.index, args.backend) as index:
            if args.command == "info":
                info = index.info()
                print(json.dumps(info, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in info.items()))
            elif args.command == "remove":
                removed = index.remove(args.keys)
                print(json.dumps(removed, indent=1) if args.json else f"Removed {len(removed)} image(s).")
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
