"""Image-text retrieval and zero-shot classification with CLIP, SigLIP 2 or Chinese-CLIP.

CLIP (Radford et al., 2021, "Learning Transferable Visual Models From Natural
Language Supervision") trains an image encoder and a text encoder so that matching
image-text pairs have a high cosine similarity (a symmetric contrastive loss over a
batch). Searching a gallery is then a dot product between L2-normalised embeddings,
and zero-shot classification is a softmax over the similarities to "a photo of a
{label}." for each label.

Two more families share the same API, for texts that are not English:

- SigLIP 2 (Tschannen et al., 2025, "SigLIP 2: Multilingual Vision-Language Encoders"):
  a sigmoid loss scores each image-text pair on its own (no softmax over the batch),
  trained on WebLI in 109 languages. Its text encoder reads exactly 64 tokens, padded
  at the end, and pools the last position, and it was trained on lower-cased text: so
  texts are lower-cased and padded with ``padding="max_length", max_length=64``, as
  its model card says. The fixed-resolution checkpoints load as ``SiglipModel``.
- Chinese-CLIP (Yang et al., 2022, "Chinese CLIP: Contrastive Vision-Language
  Pretraining in Chinese"): CLIP's recipe with a Chinese RoBERTa text encoder, 200 M
  Chinese pairs, a context of 52 tokens, pooled at the [CLS] token.

Labels in Chinese get a Chinese prompt ("一张{label}的照片。"), English ones CLIP's.

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

from pipelines.limits import RETRIEVAL as LIMITS
from runtime.inputs import check_text, load_image, note_truncation, parse_labels
from runtime.messages import InputError
from runtime.scripts import ScriptCheck, main_script

SUPPORTED = ("clip", "chinese_clip", "siglip", "siglip2")
# How each family's text encoder reads text, as it was trained: CLIP pads to the longest
# text (77 tokens at most) and pools the end-of-text token; Chinese-CLIP reads 52 tokens
# and pools [CLS]; SigLIP (2) always reads 64 tokens padded at the end, lower-cased, and
# pools the last position, so the padding is part of what it learned.
TEXT_OPTIONS = {
    "clip": dict(padding=True, truncation=True),
    "chinese_clip": dict(padding=True, truncation=True, max_length=52),
    "siglip": dict(padding="max_length", truncation=True, max_length=64, padding_side="right"),
}
TEXT_OPTIONS["siglip2"] = TEXT_OPTIONS["siglip"]
LOWER_CASE = {"siglip", "siglip2"}


class _ImageTower(torch.nn.Module):
    """What ONNX Runtime runs for images: pixel_values (B, 3, H, W) -> (B, D) features."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output


class _TextTower(torch.nn.Module):
    """What ONNX Runtime runs for texts: input_ids, attention_mask when the tokenizer gives
    one (B, T) -> (B, D) features."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None):
        return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output


class RetrievalPipeline:
    def __init__(
        self,
        model,
        processor,
        model_id: str = "",
        revision: str = "main",
        scripts: ScriptCheck | None = None,
        cpu_runtime: str = "torch",
    ):
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.revision = revision
        self.model_type = model.config.model_type
        # The scripts the text encoder reads: a notice for a query or label in another.
        self.scripts = scripts or ScriptCheck()
        # What embed_images / embed_texts run on: "torch", "onnxruntime" (both towers
        # exported, runtime/ort.py) or "torch-fallback" (an export failed: ``runtime_note`` says why).
        self.runtime, self.runtime_note, self._onnx = "torch", "", {}
        if cpu_runtime == "onnxruntime":
            self._use_onnxruntime()

    @classmethod
    def from_pretrained(
        cls,
        model_id: str,
        *,
        revision: str = "main",
        device: str = "cpu",
        dtype=torch.float32,
        local_files_only=False,
        scripts: ScriptCheck | None = None,
        cpu_runtime: str = "torch",
    ) -> RetrievalPipeline:
        from transformers import AutoConfig, AutoModel, AutoProcessor

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:
            raise ValueError(f"Retrieval supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model.")
        # CLIPModel, ChineseCLIPModel, SiglipModel or Siglip2Model, each with its processor.
        model = AutoModel.from_pretrained(model_id, dtype=dtype, device_map=device, **hub)
        processor = AutoProcessor.from_pretrained(model_id, **hub)
        return cls(model, processor, model_id, revision, scripts, cpu_runtime=cpu_runtime)

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
    def is_siglip(self) -> bool:
        return self.model_type in LOWER_CASE

    @property
    def dim(self) -> int:
        config = self.model.config
        return int(config.text_config.projection_size if self.is_siglip else config.projection_dim)

    @property
    def max_text_tokens(self) -> int:
        return TEXT_OPTIONS[self.model_type].get("max_length") or self.processor.tokenizer.model_max_length

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of the weights that place images and texts in the shared space (CLIP's two
        projection matrices; SigLIP's text head and image pooling probe): any other
        checkpoint (or revision) has other ones. Taken in float16 so the same weights
        loaded in float16 (CUDA) or float32 (CPU) agree."""
        model = self.model
        if self.is_siglip:
            weights = (model.vision_model.head.probe, model.text_model.head.weight)
        else:
            weights = (model.visual_projection.weight, model.text_projection.weight)
        digest = hashlib.sha256()
        for weight in weights:
            digest.update(weight.detach().to("cpu", torch.float16).numpy().tobytes())
        return digest.hexdigest()[:16]

    def _use_onnxruntime(self) -> None:
        """Run the two towers with ONNX Runtime (float32 on the CPU; faster than PyTorch on
        AVX2-only CPUs, see runtime/ort.py and docs/performance.md), each exported once per
        checkpoint. CLIP and fixed-resolution SigLIP (2) only: NaFlex SigLIP 2 takes patch
        masks and shapes, Chinese-CLIP token type ids, and neither was measured."""
        from PIL import Image

        from runtime import ort

        if self.model_type not in ("clip", "siglip") or self.device.type != "cpu" or self.model.dtype != torch.float32:
            return
        blank = Image.new("RGB", (224, 224), (127, 127, 127))
        text_axes = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"}}
        towers = {
            "image": (_ImageTower(self.model), self._pixels([blank, blank]), {"pixel_values": {0: "batch"}}),
            "text": (_TextTower(self.model), dict(self._tokens(["a photo of a cat.", "a dog"])), text_axes),
        }
        family = "CLIP" if self.model_type == "clip" else "SigLIP"
        for part, (module, example, dynamic) in towers.items():
            session, why = ort.accelerate(
                module,
                example,
                dynamic,
                name=f"{self.model_type}-{part}",
                family=family,
                part=part,
                model_id=self.model_id,
                revision=self.revision,
            )
            if session is None:
                self.runtime, self.runtime_note, self._onnx = "torch-fallback", why, {}
                return
            self._onnx[part] = session
        self.runtime = "onnxruntime"

    def _image_features(self, pixels: dict) -> torch.Tensor:
        onnx = self._onnx.get("image") if self.device.type == "cpu" else None
        return onnx(**pixels) if onnx else self.model.get_image_features(**pixels).pooler_output

    def _text_features(self, tokens) -> torch.Tensor:
        onnx = self._onnx.get("text") if self.device.type == "cpu" else None
        return onnx(**tokens) if onnx else self.model.get_text_features(**tokens).pooler_output

    def _pixels(self, images: list) -> dict:
        """The processor's image inputs (pixel values; NaFlex SigLIP 2 adds its patch mask
        and shapes), on the model's device and in its dtype."""
        inputs = self.processor(images=images, return_tensors="pt")
        return {
            k: v.to(self.device, self.model.dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in inputs.items()
        }

    def _tokens(self, texts: list[str]) -> dict:
        """Token ids for ``texts`` as the family was trained to read them (``TEXT_OPTIONS``)."""
        if self.model_type in LOWER_CASE:
            texts = [text.lower() for text in texts]
        return self.processor(text=texts, return_tensors="pt", **TEXT_OPTIONS[self.model_type]).to(self.device)

    @torch.inference_mode()
    def embed_images(self, images: Sequence, batch_size: int = 16, callback: Callable[[int, int], None] | None = None):
        """(N, D) float32 array of L2-normalised image embeddings; images are read a
        batch at a time, so a long list of paths never sits in memory decoded."""
        chunks = []
        for start in range(0, len(images), batch_size):
            batch = [load_image(image) for image in images[start : start + batch_size]]
            features = self._image_features(self._pixels(batch))
            chunks.append(_normalise(features))
            if callback is not None:
                callback(min(start + batch_size, len(images)), len(images))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def check_texts(self, texts: Sequence[str], what: str = "text") -> list[str]:
        """The texts, checked; notices say when one is longer than the text encoder reads
        or written in a script its model was not trained on."""
        texts = [check_text(text, what) for text in texts]
        for text in texts:
            note_truncation(self.processor.tokenizer, text, self.max_text_tokens, what)
            self.scripts.check(text, what)
        return texts

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str], what: str = "text"):
        """(N, D) float32 array of L2-normalised text embeddings; long texts are cut at
        the text encoder's length (77 tokens for CLIP, 64 for SigLIP, 52 for Chinese-CLIP)."""
        texts = self.check_texts(texts, what)
        return _normalise(self._text_features(self._tokens(texts)))

    @torch.inference_mode()
    def image_tokens(self, images: Sequence) -> np.ndarray:
        """(B, 1 + patches, D) unit vectors: the image embedding, then each patch token
        (projected as CLIP projects its class token; SigLIP's patches after its final
        norm), for models that attend over the patches (the Fusion lab)."""
        pixels = self._pixels([load_image(image) for image in images])
        vision = self.model.vision_model
        hidden = vision(**pixels).last_hidden_state  # (B, tokens, vision width)
        if self.is_siglip:  # no class token: the pooling head's output leads
            pooled = self._image_features(pixels)[:, None]
            return _normalise(torch.cat([pooled, vision.post_layernorm(hidden)], dim=1))
        return _normalise(self.model.visual_projection(vision.post_layernorm(hidden)))  # token 0: the embedding

    @torch.inference_mode()
    def text_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens (C, T, D), mask (C, T) True for real tokens, pooled (C, D)) in the joint
        space: every token projected as the text embedding is."""
        tokens = self._tokens([check_text(text, "text") for text in texts])
        outputs = self.model.text_model(input_ids=tokens["input_ids"], attention_mask=tokens.get("attention_mask"))
        hidden = outputs.last_hidden_state
        project = self.model.text_model.head if self.is_siglip else self.model.text_projection
        if self.is_siglip:
            pooled = outputs.pooler_output  # the last position, through the head
        elif self.model_type == "chinese_clip":
            pooled = project(hidden[:, 0])  # [CLS]
        else:
            pooled = project(outputs.pooler_output)  # the end-of-text token
        mask = tokens.get("attention_mask", torch.ones_like(tokens["input_ids"]))
        return _normalise(project(hidden)), mask.bool().cpu().numpy(), _normalise(pooled)

    def embed_query(self, text: str | None = None, image=None, text_weight: float = 0.5) -> np.ndarray:
        """(D,) unit query for a search by text, by image, or both. With both, the text
        modifies the image ("this photo" + "at night"): the weighted sum of the two unit
        embeddings, renormalised, a simple composed-retrieval baseline that works
        because CLIP puts both in one space."""
        has_text = text is not None and not (isinstance(text, str) and not text.strip())
        if image is None and not has_text:
            raise InputError("nothing_to_search")
        if image is None:
            return self.embed_texts([check_text(text, "search text")], "search text")[0]
        image_embedding = self.embed_images([image])[0]
        if not has_text:
            return image_embedding
        weight = LIMITS["text_weight"].check("text_weight", text_weight)
        text_embedding = self.embed_texts([check_text(text, "search text")], "search text")[0]
        query = (1.0 - weight) * image_embedding + weight * text_embedding
        norm = float(np.linalg.norm(query))
        if norm < 1e-6:  # opposite vectors at weight 0.5: nothing left to search with
            raise InputError("query_cancels", name="text_weight")
        return (query / norm).astype(np.float32)

    def prompt(self, label: str) -> str:
        """The text a label is scored as: a Chinese prompt for a Chinese label, else the
        family's English template (CLIP's "a photo of a cat.", SigLIP's "this is a photo of cat.")."""
        if main_script(label) == "Han":
            return f"一张{label}的照片。"
        if self.is_siglip:
            return f"this is a photo of {label}."
        article = "" if re.match(r"(a|an|the)\s", label, re.IGNORECASE) else "a "
        return f"a photo of {article}{label}."

    @torch.inference_mode()
    def zero_shot(self, embeddings: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """(N, L) probabilities of each label for N image embeddings: a softmax over the
        labels of the scaled similarities. (SigLIP scores each pair with a sigmoid; its
        bias is the same for every label, so choosing among labels needs only the scale.)"""
        text_embeddings = self.embed_texts([self.prompt(label) for label in labels], "label")
        scale = float(self.model.logit_scale.exp())  # the learned temperature
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
