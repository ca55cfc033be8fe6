"""Contrastive lab: train a small two-tower model with the symmetric InfoNCE loss, as CLIP was trained.

CLIP (Radford et al. 2021) learns one embedding space for pictures and captions from
pairs alone: in a batch of B pictures and their B captions, each picture should be
closer to its own caption than to the other B - 1, and each caption to its own
picture. The loss is InfoNCE (van den Oord et al. 2018) in both directions:

    logits = I Tᵀ / τ                     (B, B): cosine similarities over a temperature
    loss   = ½ [CE(logits, diag) + CE(logitsᵀ, diag)]

Here the towers learn on top of the Fusion lab's frozen CLIP features (labs/fusion.py:
the same synthetic pictures and captions, the same feature cache): an image tower and a
text tower, each one linear projection into an ``embedding_size`` space as CLIP's own
projection heads are, then unit length (labs/contrastive_models.py). The temperature
is fixed, or learned as CLIP learns it (as log 1/τ, with 1/τ at most 100).

A batch holds pictures of B different concepts, so that a picture's only true caption
in the batch is its own: ``batch_size`` is one plus the number of negatives. The
concepts of the Fusion lab's "combinations" split (a red triangle, a green circle, a
blue square) are never trained on, neither their pictures nor their captions; the
last pictures of every other concept are kept back too. While it trains, a run
reports:

- the loss, averaged over each epoch's batches;
- the similarity matrix of one kept-back picture per concept with every caption, and
  its diagonal share: the probability (softmax over each row, at the model's
  temperature) that a picture of a trained concept picks its own caption among the
  trained concepts' captions;
- zero-shot accuracy: the held-out combinations' pictures, each classified among all
  twelve captions (chance 1/12), and the same for the kept-back pictures of the
  trained concepts.

Everything is seeded and runs on one CPU thread; results are plain Python values.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from labs.fusion import HELD_OUT_PER_CONCEPT, TRAIN_THREADS, Features, Scene, _threads, held_out, vocabulary
from runtime.inputs import MAX_SEED, InputTypeError, Range
from runtime.messages import InputError

# The ranges ``ContrastiveConfig.check`` enforces; the Contrastive tab's controls are built
# from them. The batch is bounded by the concepts too (``batch_sizes``).
LIMITS = {
    "embedding_size": Range(2, 128),
    "temperature": Range(0.01, 1.0, integer=False),
    "learning_rate": Range(1e-5, 1.0, integer=False),
    "epochs": Range(1, 200),
    "seed": Range(0, MAX_SEED),
}


def batch_sizes(concepts: int) -> Range:
    """Pictures per batch: at least a true pair and a negative, each of a different concept."""
    return Range(2, concepts)


@dataclass
class ContrastiveConfig:
    embedding_size: int = 32  # width of the shared space the towers project into
    batch_size: int = 8  # pictures (of different concepts) per step: 1 true caption + batch_size - 1 negatives each
    temperature: float = 0.1  # τ: logits are cosine similarities divided by it
    learn_temperature: bool = False  # learn τ too, as CLIP does
    learning_rate: float = 0.01  # Adam's
    epochs: int = 30  # passes over the training pictures
    seed: int = 0  # initial weights and batches; the same seed gives the same run

    def check(self, concepts: int) -> ContrastiveConfig:
        """Validate every field (API clients send anything); ``concepts`` is how many the
        training pictures show, which bounds the batch. Returns a normalised copy."""
        numbers = {name: limit.check(name, getattr(self, name)) for name, limit in LIMITS.items()}
        batch_size = batch_sizes(concepts).check("batch_size", self.batch_size)
        if not isinstance(self.learn_temperature, bool):
            raise InputTypeError("flag_type", name="learn_temperature", value=repr(self.learn_temperature))
        return ContrastiveConfig(batch_size=batch_size, learn_temperature=self.learn_temperature, **numbers)


@dataclass
class ContrastiveSet:
    """The pictures and captions a contrastive run sees, pointing into ``features``."""

    features: Features
    caption_of: np.ndarray  # (N,) int: each picture's caption, an index into features.captions
    train: np.ndarray  # (N,) bool: pictures to train on
    kept_back: np.ndarray  # (N,) bool: pictures of trained concepts, not trained on
    unseen: np.ndarray  # (N,) bool: pictures of the held-out combinations
    probes: np.ndarray  # (C,) int: one picture per caption (kept back or unseen), the matrix's rows
    seen_captions: np.ndarray  # (C,) bool: captions of trained concepts

    @classmethod
    def build(cls, scenes: list[Scene], features: Features) -> ContrastiveSet:
        lookup = {caption: i for i, caption in enumerate(features.captions)}
        if missing := sorted({s.caption for s in scenes} - set(lookup)):
            raise ValueError(f"The caption {missing[0]!r} has no features; encode it with the scenes.")
        caption_of = np.array([lookup[s.caption] for s in scenes])
        unseen = held_out(scenes, "combinations")
        kept_back = held_out(scenes, "instances") & ~unseen
        train = ~unseen & ~kept_back
        seen_captions = np.zeros(len(features.captions), bool)
        seen_captions[np.unique(caption_of[train])] = True
        probes = []
        for c in range(len(features.captions)):
            candidates = np.flatnonzero((caption_of == c) & ~train)
            if not len(candidates):
                raise ValueError(
                    f"No held-back picture of {features.captions[c]!r}: the scenes need at least "
                    f"{2 * HELD_OUT_PER_CONCEPT} pictures of each concept."
                )
            probes.append(candidates[0])
        if seen_captions.sum() < 2:
            raise ValueError("Contrastive training needs pictures of at least two concepts.")
        colours, shapes = vocabulary(scenes)
        if len(features.captions) != len(colours) * len(shapes):
            raise ValueError("The features must hold every colour-shape caption of the scenes.")
        return cls(features, caption_of, train, kept_back, unseen, np.array(probes), seen_captions)

    @property
    def concepts(self) -> int:
        """How many concepts the training pictures show: the largest batch."""
        return int(self.seen_captions.sum())


def train(data: ContrastiveSet, config: ContrastiveConfig) -> dict:
    """Train one two-tower model; return the final result (see ``train_steps``)."""
    return next(train_steps(data, config, every=LIMITS["epochs"].high + 1))


def train_steps(data: ContrastiveSet, config: ContrastiveConfig, every: int = 1) -> Iterator[dict]:
    """Train, yielding a snapshot of the result (``done`` False until the last) every
    ``every`` epochs and after the last: the config, per-epoch ``curves`` (loss, diagonal
    share, zero-shot accuracies, temperature), the latest similarity ``matrix`` and final
    ``metrics``, as plain values."""
    import torch

    from labs.contrastive_models import TwoTowers, info_nce

    # 1. Check inputs and seed everything the run depends on
    config = config.check(data.concepts)
    torch.manual_seed(config.seed)
    order = torch.Generator().manual_seed(config.seed)
    images = torch.from_numpy(data.features.image_tokens[:, 0])  # (N, D): the pooled image embeddings
    texts = torch.from_numpy(data.features.text_pooled)  # (C, D)
    train_pictures = torch.from_numpy(np.flatnonzero(data.train))
    captions = torch.from_numpy(data.caption_of)
    by_concept = [train_pictures[captions[train_pictures] == c] for c in np.flatnonzero(data.seen_captions)]
    steps = math.ceil(len(train_pictures) / config.batch_size)

    # 2. The towers and the optimiser
    model = TwoTowers(images.shape[-1], config.embedding_size, config.temperature, config.learn_temperature)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    # 3. Batches of different concepts: forward, symmetric InfoNCE, backward, step
    curves: dict[str, list] = {
        "epoch": [],
        "loss": [],
        "diagonal_share": [],
        "zero_shot_accuracy": [],
        "kept_back_accuracy": [],
        "temperature": [],
    }
    result = {
        "config": asdict(config),
        "data": _describe(data, steps),
        "curves": curves,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    seconds = 0.0
    with _threads(TRAIN_THREADS):
        result.update(_measure(model, data, images, texts))  # before training: where the matrix starts
        result["start"] = {key: result["metrics"][key] for key in ("diagonal_share", "zero_shot_accuracy")}
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        with _threads(TRAIN_THREADS):
            model.train()
            losses = []
            for _ in range(steps):
                concepts = torch.randperm(len(by_concept), generator=order)[: config.batch_size]
                rows = torch.stack(
                    [
                        by_concept[c][torch.randint(len(by_concept[c]), (1,), generator=order)][0]
                        for c in concepts.tolist()
                    ]
                )
                loss = info_nce(model(images[rows], texts[captions[rows]]))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            measured = _measure(model, data, images, texts)
        seconds += time.perf_counter() - start
        if not math.isfinite(losses[-1]):
            raise InputError(
                "diverged",
                epoch=epoch,
                loss=losses[-1],
                value=config.learning_rate,
            )
        metrics = measured["metrics"]
        curves["epoch"].append(epoch)
        curves["loss"].append(round(sum(losses) / len(losses), 5))
        for key in ("diagonal_share", "zero_shot_accuracy", "kept_back_accuracy", "temperature"):
            curves[key].append(metrics[key])
        result.update(measured, seconds=round(seconds, 3), done=epoch == config.epochs)
        result["metrics"]["loss"] = curves["loss"][-1]
        if epoch % every == 0 or epoch == config.epochs:
            yield copy.deepcopy(result)


def _measure(model, data: ContrastiveSet, images, texts) -> dict:
    """The similarity matrix of the probe pictures and every caption, its diagonal share
    among the trained concepts, and zero-shot accuracy of the kept-back and unseen pictures."""
    import torch

    model.eval()
    with torch.no_grad():
        image_embeddings, text_embeddings = model.embed(images, texts)
        scale = float(model.scale())
        cosine = image_embeddings @ text_embeddings.T  # (N, C)
        guesses = cosine.argmax(-1).numpy()
        probes = cosine[torch.from_numpy(data.probes)]  # (C, C): probe of caption c x caption
        seen = torch.from_numpy(data.seen_captions)
        block = torch.softmax(scale * probes[seen][:, seen], dim=-1)  # trained concepts only
        probabilities = torch.softmax(scale * probes, dim=-1)
    right = guesses == data.caption_of

    def accuracy(mask: np.ndarray) -> float:
        return round(float(right[mask].mean()), 5) if mask.any() else 0.0

    return {
        "metrics": {
            "diagonal_share": round(float(block.diagonal().mean()), 5),
            "zero_shot_accuracy": accuracy(data.unseen),
            "kept_back_accuracy": accuracy(data.kept_back),
            "chance_accuracy": round(1 / len(data.features.captions), 5),
            "temperature": round(1 / scale, 5),
        },
        "matrix": {
            "captions": list(data.features.captions),
            "seen": data.seen_captions.tolist(),  # per row and column: a trained concept
            "cosine": np.round(probes.numpy(), 4).tolist(),
            "probabilities": np.round(probabilities.numpy(), 4).tolist(),
        },
    }


def _describe(data: ContrastiveSet, steps: int) -> dict:
    return {
        "feature_model": data.features.model,
        "feature_dim": int(data.features.text_pooled.shape[-1]),
        "train_pictures": int(data.train.sum()),
        "kept_back_pictures": int(data.kept_back.sum()),
        "unseen_pictures": int(data.unseen.sum()),
        "concepts": data.concepts,
        "steps_per_epoch": steps,
        "unseen_captions": [c for c, seen in zip(data.features.captions, data.seen_captions, strict=True) if not seen],
    }
