"""The metrics, each from a well-kept library where one exists.

- BLEU-4 and CIDEr (CIDEr-D, as in the COCO caption evaluation): the scorers of
  ``pycocoevalcap`` (Papineni et al., 2002; Vedantam et al., 2015). Its own PTB
  tokenizer runs Stanford CoreNLP in Java; we tokenize in Python instead with NLTK's
  port of the same Penn Treebank rules, lower-cased, dropping the punctuation tokens
  that ``pycocoevalcap``'s tokenizer drops, so no Java is needed.
- CLIPScore (Hessel et al., 2021): ``torchmetrics``' ``clip_score``, with the app's
  own CLIP model and processor handed in: 100 * max(cos(image, text), 0), from 0 to 100.
- Retrieval Recall@K: ``torchmetrics``' ``RetrievalHitRate`` (the share of queries with
  a right answer among the first K, which image-text retrieval papers call R@K);
  mean rank is the average position of the first right answer (1 is best).
- VQA accuracy: an answer is right when, after the standard VQA answer normalisation
  (Antol et al., 2015; the VQA challenge's evaluation script: lower case, punctuation,
  articles, number words to digits, common contractions), it equals one of the
  accepted answers. No library packages that script, so it is written out here
  (``normalize_answer``) and tested on the cases it exists for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from runtime.inputs import load_image

# --- Captions: BLEU-4 and CIDEr ---------------------------------------------------


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CHINESE_PUNCTUATION = str.maketrans({c: " " for c in "。，、；：？！“”‘’（）《》【】…—·"})


def tokenize_caption(text: str) -> str:
    """PTB tokens, lower-cased and space-joined, without punctuation: what
    pycocoevalcap's scorers expect (they split on spaces)."""
    from nltk.tokenize import TreebankWordTokenizer
    from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS

    # Chinese is written without spaces: each character is a token (as Chinese caption
    # benchmarks score at the character level), its punctuation dropped with the rest.
    text = _HAN.sub(lambda m: f" {m.group()} ", str(text)).translate(_CHINESE_PUNCTUATION)
    # convert_parentheses writes ( as -LRB- like Stanford's tokenizer, which PUNCTUATIONS drops.
    tokens = TreebankWordTokenizer().tokenize(" ".join(text.lower().split()), convert_parentheses=True)
    return " ".join(t for t in tokens if t not in PUNCTUATIONS)


def _coco_inputs(references: dict[str, Sequence[str]], predictions: dict[str, str]):
    if set(references) != set(predictions):
        missing = sorted(set(references) - set(predictions))[:3]
        raise ValueError(f"Predictions and references must cover the same items; no prediction for {missing}.")
    if any(not refs for refs in references.values()):
        raise ValueError("Every item needs at least one reference caption.")
    gts = {key: [tokenize_caption(r) for r in refs] for key, refs in references.items()}
    res = {key: [tokenize_caption(predictions[key])] for key in references}
    return gts, res


def bleu4(references: dict[str, Sequence[str]], predictions: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Corpus BLEU-4 (0-1) and each item's sentence BLEU-4, from pycocoevalcap."""
    from pycocoevalcap.bleu.bleu import Bleu

    if not references:
        return 0.0, {}
    gts, res = _coco_inputs(references, predictions)
    corpus, per_item = Bleu(4).compute_score(gts, res, verbose=0)
    return float(corpus[3]), {key: float(s) for key, s in zip(gts, per_item[3], strict=True)}


def cider(references: dict[str, Sequence[str]], predictions: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Corpus CIDEr-D (0-10; 1.0 is a good model on COCO) and each item's score, from
    pycocoevalcap. Its n-gram weights (idf) come from the references of the items
    scored together, so scores are comparable within one probe set, not across sets."""
    from pycocoevalcap.cider.cider import Cider

    if not references:
        return 0.0, {}
    gts, res = _coco_inputs(references, predictions)
    corpus, per_item = Cider().compute_score(gts, res)
    return float(corpus), {key: float(s) for key, s in zip(gts, per_item, strict=True)}


# --- VQA accuracy -------------------------------------------------------------------

# The VQA evaluation's tables: punctuation, number words, articles, contractions.
_PUNCTUATION = [";", ":", "/", "'", "[", "]", '"', "(", ")", "=", "+", "\\", "_", ">", "<", "@", "`", ",", "?"]
_NUMBERS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_ARTICLES = {"a", "an", "the"}
# Answers typed without the apostrophe, spelled with it (the common ones).
_CONTRACTIONS = {
    word.replace("'", ""): word
    for word in [
        "aren't",
        "can't",
        "couldn't",
        "didn't",
        "doesn't",
        "don't",
        "hadn't",
        "hasn't",
        "haven't",
        "isn't",
        "wasn't",
        "weren't",
        "won't",
        "wouldn't",
        "shouldn't",
        "mightn't",
        "mustn't",
        "needn't",
        "i'm",
        "i've",
        "i'd",
        "i'll",
        "you're",
        "you've",
        "you'll",
        "he's",
        "she's",
        "it'll",
        "that's",
        "there's",
        "they're",
        "they've",
        "they'll",
        "we've",
        "we're",
        "what's",
        "where's",
        "who's",
        "how's",
        "let's",
        "o'clock",
        "y'all",
        "ma'am",
    ]
}
_COMMA_BETWEEN_DIGITS = re.compile(r"(\d)(,)(\d)")
_PERIOD_NOT_DECIMAL = re.compile(r"\.(?!\d)")  # "2.5" keeps its point, "two." loses it


def normalize_answer(answer: str) -> str:
    """The VQA evaluation's answer normalisation: "Two." -> "2", "The Cat" -> "cat",
    "the red one" -> "red 1", "yes, it is" -> "yes it is", "1,000" -> "1000",
    "dont" -> "don't". Like the original script it leaves "!" and "-" alone."""
    text = " ".join(str(answer).replace("\n", " ").replace("\t", " ").split())
    # 1. Punctuation: dropped where it touches a space (or in "1,000"), else a space.
    out = text
    for p in _PUNCTUATION:
        if p + " " in text or " " + p in text or _COMMA_BETWEEN_DIGITS.search(text):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    out = _PERIOD_NOT_DECIMAL.sub("", out)
    # 2. Lower case, number words to digits, no articles, contractions spelled out.
    words = [_NUMBERS.get(w, w) for w in out.lower().split()]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words if w not in _ARTICLES)


def vqa_accuracy(prediction: str, answers: Sequence[str], language: str = "en") -> float:
    """1.0 when the normalised prediction equals a normalised accepted answer, else 0.0.
    Chinese answers (``language`` "zh") are normalised as ``evaluation.chinese`` says.

    The VQA benchmark scores min(#annotators who gave the answer / 3, 1) over ten
    annotators; every answer here is exact (drawn scenes) or hand-checked (photos),
    so each counts as full agreement and the score is 0 or 1."""
    if language == "zh":
        from evaluation.chinese import normalize_answer_zh as normalize
    else:
        normalize = normalize_answer
    accepted = {normalize(a) for a in answers}
    return float(normalize(prediction or "") in accepted)


# --- CLIPScore ----------------------------------------------------------------------


def clip_scores(pipe, images: Sequence, texts: Sequence[str]) -> list[float]:
    """CLIPScore of each (image, text) pair with the app's CLIP pipeline
    (``pipelines.retrieval.RetrievalPipeline``), computed by torchmetrics."""
    import torch
    from torchmetrics.functional.multimodal import clip_score

    if len(images) != len(texts):
        raise ValueError(f"CLIPScore needs one text per image; got {len(images)} images and {len(texts)} texts.")
    model = _CLIPFeatures(pipe.model)
    scores = []
    with torch.inference_mode():
        for image, text in zip(images, texts, strict=True):
            # (3, H, W) uint8 on the model's device: torchmetrics moves the model to
            # the image's device, which must not move the app's cached model.
            pixels = torch.from_numpy(np.array(load_image(image))).permute(2, 0, 1).to(pipe.device)
            # One pair per call: torchmetrics clips at 0 after averaging a batch, and
            # CLIPScore clips each pair.
            score = clip_score(pixels, str(text) or " ", lambda: (model, _Truncating(pipe.processor, model)))
            scores.append(float(score))
    return scores


class _Truncating:
    """The CLIP processor, cutting a caption to the text encoder's length itself (its end
    token kept): torchmetrics would tokenize it whole, which makes the tokenizer warn
    about the length, then cut it with a UserWarning of its own, end token lost."""

    def __init__(self, processor, model):
        self.processor = processor
        self.max_length = model.config.text_config.max_position_embeddings

    def __call__(self, text=None, **kwargs):
        if text is None:
            return self.processor(**kwargs)
        return self.processor(text=text, truncation=True, max_length=self.max_length, **kwargs)


class _CLIPFeatures:
    """What torchmetrics expects of a CLIP model: ``get_*_features`` returning the
    projected embeddings as tensors. transformers 5 returns them as the
    ``pooler_output`` of a model output, and takes pixels in the model's dtype."""

    def __init__(self, model):
        self.model = model
        self.config = model.config

    def to(self, device):
        if str(device) != str(self.model.device):
            raise RuntimeError(f"CLIPScore would move the model from {self.model.device} to {device}.")
        return self

    def get_image_features(self, pixel_values):
        pixel_values = pixel_values.to(self.model.device, self.model.dtype)
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output.float()

    def get_text_features(self, input_ids, attention_mask):
        output = self.model.get_text_features(
            input_ids=input_ids.to(self.model.device), attention_mask=attention_mask.to(self.model.device)
        )
        return output.pooler_output.float()


# --- Retrieval ------------------------------------------------------------------------


def retrieval_scores(similarity: np.ndarray, relevant: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict:
    """Recall@K for each K and the mean rank, for queries (rows) over candidates
    (columns): ``similarity`` (Q, C) scores, ``relevant`` (Q, C) booleans with at least
    one True per row. Returns {"R@1": ..., "mean rank": ..., "ranks": [(Q,) first right rank]}."""
    import torch
    from torchmetrics.retrieval import RetrievalHitRate

    similarity, relevant = np.asarray(similarity, dtype=np.float64), np.asarray(relevant, dtype=bool)
    if similarity.shape != relevant.shape or similarity.ndim != 2:
        raise ValueError(
            f"similarity and relevant must be (Q, C) arrays of one shape; got {similarity.shape}, {relevant.shape}."
        )
    if not relevant.any(axis=1).all():
        raise ValueError("Every query needs at least one relevant candidate.")
    queries, candidates = similarity.shape
    preds, target = torch.from_numpy(similarity).flatten(), torch.from_numpy(relevant).flatten()
    indexes = torch.arange(queries).repeat_interleave(candidates)
    scores = {f"R@{k}": float(RetrievalHitRate(top_k=k)(preds, target, indexes=indexes)) for k in ks}
    # Rank of the first relevant candidate: 1 + how many candidates score above it.
    best_relevant = np.where(relevant, similarity, -np.inf).max(axis=1, keepdims=True)
    ranks = 1 + (similarity > best_relevant).sum(axis=1)
    scores["mean rank"] = float(ranks.mean())
    scores["ranks"] = ranks.tolist()
    return scores
