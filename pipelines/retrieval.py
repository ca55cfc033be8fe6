"""Image-text retrieval and zero-shot classification with CLIP.

CLIP (Radford et al., 2021, "Learning Transferable Visual Models From Natural
Language Supervision") trains an image encoder and a text encoder so that matching
image-text pairs have a high cosine similarity (a symmetric contrastive loss over a
batch). Searching a gallery is then a dot product between L2-normalised embeddings,
and zero-shot classification is a softmax over the similarities to "a photo of a
{label}." for each label.

Searching a user's own collection builds on this (``search/``): the index keeps the
embeddings on disk, the backends find nearest neighbours (exact, faiss or Qdrant), and
``search/classify.py`` sorts a whole collection into labels.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence

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
