"""Image-text retrieval and zero-shot classification with CLIP.

CLIP (Radford et al., 2021, "Learning Transferable Visual Models From Natural
Language Supervision") trains an image encoder and a text encoder so that matching
image-text pairs have a high cosine similarity (a symmetric contrastive loss over a
batch). Searching a gallery is then a dot product between L2-normalised embeddings,
and zero-shot classification is a softmax over the similarities to "a photo of a
{label}." for each label.

``Gallery`` keeps a folder's images and their embeddings, cached on disk by content
hash, so a restart or a new image recomputes only what is new.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from pipelines.inputs import check_number, check_text, load_image, note_truncation, parse_labels

SUPPORTED = ("clip",)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
MAX_TOP_K = 50


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

    @property
    def name(self) -> str:
        """Identifies the embedding space: gallery caches are kept per name."""
        return f"{self.model_id}@{self.revision}"

    @torch.inference_mode()
    def embed_images(self, images: Sequence, batch_size: int = 16, callback: Callable[[int, int], None] | None = None):
        """(N, D) float32 array of L2-normalised image embeddings."""
        images = [load_image(image) for image in images]
        chunks = []
        for start in range(0, len(images), batch_size):
            pixels = self.processor(images=images[start : start + batch_size], return_tensors="pt")["pixel_values"]
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

    @torch.inference_mode()
    def classify(self, image, labels: str | Sequence[str]) -> dict[str, float]:
        """Zero-shot: probability of each label for ``image``, summing to 1, best first."""
        image = load_image(image)
        labels = parse_labels(labels)
        image_embedding = self.embed_images([image])[0]
        text_embeddings = self.embed_texts([_prompt(label) for label in labels])
        # CLIP's learned temperature: logits = exp(t) * cosine similarity
        logits = torch.from_numpy(text_embeddings @ image_embedding) * self.model.logit_scale.exp().float().cpu()
        probs = logits.softmax(dim=0).tolist()
        return dict(sorted(zip(labels, probs, strict=True), key=lambda item: -item[1]))


def _normalise(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    return (features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()


def _prompt(label: str) -> str:
    # CLIP's prompt template: "a photo of a {label}." beats the bare label
    article = "" if re.match(r"(a|an|the)\s", label, re.IGNORECASE) else "a "
    return f"a photo of {article}{label}."


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write beside the target and rename over it: a kill leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Gallery:
    """The images in ``folders`` (plus any ``extra`` folders per call, e.g. one visitor's
    uploads) and their embeddings under each model, cached in ``cache_dir`` per model
    and keyed by content hash, so only new images are ever embedded."""

    def __init__(self, folders: Sequence[Path], cache_dir: Path):
        self.folders = [Path(f) for f in folders]
        self.cache_dir = Path(cache_dir)
        self._lock = threading.Lock()
        self._hashes: dict[Path, tuple[float, int, str]] = {}  # path -> (mtime, size, sha256)
        self._cache: dict[str, dict[str, np.ndarray]] = {}  # model name -> {sha256: (D,) embedding}

    def files(self, extra: Sequence[Path] = ()) -> list[Path]:
        found = []
        for folder in [*self.folders, *map(Path, extra)]:
            if folder.is_dir():
                found += sorted(
                    p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                )
        return found

    def _hash(self, path: Path) -> str:
        stat = path.stat()
        cached = self._hashes.get(path)
        if cached and cached[:2] == (stat.st_mtime, stat.st_size):
            return cached[2]
        digest = file_hash(path)
        self._hashes[path] = (stat.st_mtime, stat.st_size, digest)
        return digest

    def _cache_path(self, model_name: str) -> Path:
        return self.cache_dir / (re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_") + ".npz")

    def embeddings(
        self, pipe: RetrievalPipeline, extra: Sequence[Path] = (), callback: Callable[[int, int], None] | None = None
    ) -> tuple[list[Path], np.ndarray]:
        """(paths, (N, D) embeddings) of the gallery's readable images, embedding only
        those not in the cache yet, in batches, and saving the cache when it grew."""
        with self._lock:
            if pipe.name not in self._cache:
                self._cache[pipe.name] = self._load_cache(pipe.name)
            cached = self._cache[pipe.name]
            paths = self.files(extra)
            missing = [p for p in paths if self._hash(p) not in cached]
            readable = [p for p in missing if _readable(p)]  # a damaged file must not break search
            if readable:
                for path, embedding in zip(readable, pipe.embed_images(readable, callback=callback), strict=True):
                    cached[self._hash(path)] = embedding
                self._save_cache(pipe.name, cached)
            paths = [p for p in paths if self._hash(p) in cached]
            matrix = np.stack([cached[self._hash(p)] for p in paths]) if paths else np.zeros((0, 1), np.float32)
            return paths, matrix

    def _load_cache(self, model_name: str) -> dict[str, np.ndarray]:
        path = self._cache_path(model_name)
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["model"]) != model_name:
                    return {}
                return dict(zip(data["hashes"].tolist(), data["embeddings"], strict=True))
        except (OSError, ValueError, KeyError):  # an unreadable cache is recomputed, never fatal
            return {}

    def _save_cache(self, model_name: str, cached: dict[str, np.ndarray]) -> None:
        hashes = sorted(cached)
        buffer = io.BytesIO()
        np.savez(buffer, model=np.array(model_name), hashes=np.array(hashes),
                 embeddings=np.stack([cached[h] for h in hashes]).astype(np.float32))  # fmt: skip
        atomic_write_bytes(self._cache_path(model_name), buffer.getvalue())

    def search(self, pipe: RetrievalPipeline, query: np.ndarray, top_k: int = 8, extra: Sequence[Path] = (),
               callback: Callable[[int, int], None] | None = None) -> list[dict]:  # fmt: skip
        """The ``top_k`` gallery images closest to the (D,) query embedding, best first,
        as dicts with ``path``, ``name`` and cosine ``score``."""
        top_k = check_number("top_k", top_k, 1, MAX_TOP_K)
        paths, matrix = self.embeddings(pipe, extra, callback)
        if not paths:
            return []
        scores = matrix @ query  # (N,) cosine similarities of unit vectors
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"path": str(paths[i]), "name": paths[i].name, "score": float(scores[i])} for i in order]


def add_images(files: Sequence, folder: Path, limit: int = 200) -> tuple[list[str], list[str]]:
    """Copy readable images into ``folder`` as JPEG named by content hash (so the same
    image is stored once); return (names added, one message per file refused)."""
    if len(files) > limit:
        raise ValueError(f"Add at most {limit} images at a time; got {len(files)}.")
    added, refused = [], []
    for file in files:
        name = Path(str(file)).name
        try:
            image = load_image(file)
        except (ValueError, TypeError) as error:
            refused.append(f"{name}: {error}")
            continue
        image.thumbnail((1024, 1024))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        target = Path(folder) / f"{hashlib.sha256(buffer.getvalue()).hexdigest()[:16]}.jpg"
        if target.exists():
            refused.append(f"{name}: already in the gallery")
            continue
        atomic_write_bytes(target, buffer.getvalue())
        added.append(name)
    return added, refused


def _readable(path: Path) -> bool:
    try:
        load_image(path)
        return True
    except ValueError:
        return False
