"""Fusion lab: train small early, late and hybrid fusion models on frozen CLIP features.

The task is image-text matching: given a picture and a caption, does the caption
describe the picture? The pictures are synthetic scenes drawn by ``labs/scenes.py``
(one coloured shape each on a tinted canvas, seeded, so every run sees the same data);
each comes with its true caption ("a red circle") and a caption that is wrong in
exactly one word ("a blue circle" or "a red square"), so neither modality alone can
tell a match from a mismatch. Images and captions are encoded once by the app's
retrieval model (CLIP, Radford et al. 2021, or SigLIP 2 or Chinese-CLIP), which stays frozen; only the small fusion
model on top is trained.

The three strategies are the classic ways of combining modalities (Baltrušaitis et
al. 2019, "Multimodal Machine Learning: A Survey and Taxonomy"):

- ``early``: concatenate the two feature vectors, then an MLP sees both at once;
- ``late``: one head per modality, each deciding on its own; the decisions are
  combined only at the end (a dot product, as in two-tower models such as CLIP itself);
- ``hybrid``: the image patches and caption tokens attend to each other
  (cross-attention, as in ViLBERT, Lu et al. 2019), then a head decides.

The three models are in ``labs/fusion_models.py``; this file holds the data, the
training loop and the lab that keeps the runs. PyTorch is imported only when a model
is trained, so that the app's page starts without it.

Everything here is seeded and runs on the CPU; ``train`` returns plain Python values
(final metrics, per-epoch curves, a confusion matrix) so the UI and the API can show them.
Another scene source (for example the evaluation probe set) fits by passing its own
``Scene`` list to ``MatchingSet.build``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from labs import scenes as synthetic
from runtime.files import atomic_write_bytes
from runtime.inputs import MAX_SEED, check_number

if TYPE_CHECKING:
    import torch
    from torch import nn

STRATEGIES = ("early", "late", "hybrid")
OPTIMIZERS = ("adam", "sgd")
SPLITS = ("instances", "combinations")
NEGATIVES = ("either", "colour", "shape")
COLOURS = {name: synthetic.COLORS[name] for name in ("red", "green", "blue", "yellow")}
SHAPES = ("circle", "square", "triangle")
# Concepts whose pictures are held out under the "combinations" split: every colour
# and every shape is still seen in training, only these pairings of them are new.
HELD_OUT_COMBINATIONS = (("red", "triangle"), ("green", "circle"), ("blue", "square"))
SCENES_PER_CONCEPT = 12  # 4 colours x 3 shapes x 12 = 144 pictures, 288 image-caption pairs
HELD_OUT_PER_CONCEPT = 4  # under the "instances" split: 96 pictures to train on, 48 held out
DATA_SEED = 0  # the pictures never change; the training seed changes the model only
DATA_VERSION = 2  # part of the feature cache's name: bump it when the scenes change
IMAGE_SIZE = 224  # CLIP's input size; smaller models' processors resize
TRAIN_THREADS = 1  # torch threads while training (see _threads)
LIMITS = {"hidden_size": (4, 512), "learning_rate": (1e-5, 1.0), "epochs": (1, 300), "batch_size": (1, 512)}


# --- Data: scenes, captions, pairs ----------------------------------------------


@dataclass(frozen=True)
class Scene:
    """A picture with the one caption that describes it."""

    image: Image.Image
    caption: str
    colour: str
    shape: str


def make_scenes(per_concept: int = SCENES_PER_CONCEPT, seed: int = DATA_SEED) -> list[Scene]:
    """``per_concept`` pictures of each colour-shape pair, in a fixed order, with random
    size, position, background tint and shade, drawn from ``seed``."""
    rng = random.Random(seed)
    scenes = []
    for colour, rgb in COLOURS.items():
        for shape in SHAPES:
            for _ in range(per_concept):
                # Tint, shade, size and place vary: a held-out picture of a known concept is new, not a copy.
                background = tuple(rng.randint(225, 255) for _ in range(3))
                shade = tuple(min(255, max(0, c + rng.randint(-25, 25))) for c in rgb)
                r = rng.randint(40, 70)
                margin = math.ceil(1.1 * r) + 8  # triangles and stars reach 1.1 r from the centre
                x, y = rng.randint(margin, IMAGE_SIZE - margin), rng.randint(margin, IMAGE_SIZE - margin)
                drawn = synthetic.Shape(shape, colour, x, y, r)
                picture = synthetic.Scene(f"fusion-{len(scenes):03d}", "count", (drawn,), size=IMAGE_SIZE)
                image = synthetic.render_scene(picture, palette={colour: shade}, background=background)
                scenes.append(Scene(image, caption_for(colour, shape), colour, shape))
    return scenes


def caption_for(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


def vocabulary(scenes: Sequence[Scene]) -> tuple[list[str], list[str]]:
    """The colours and shapes the scenes show, in order of first appearance."""
    return list(dict.fromkeys(s.colour for s in scenes)), list(dict.fromkeys(s.shape for s in scenes))


def all_captions(scenes: Sequence[Scene]) -> list[str]:
    """Every colour-shape caption the scenes' words can make: true and wrong ones."""
    colours, shapes = vocabulary(scenes)
    return [caption_for(colour, shape) for colour in colours for shape in shapes]


def held_out(scenes: Sequence[Scene], split: str) -> np.ndarray:
    """(N,) bool: which scenes are held out for testing under ``split``."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; available splits = {list(SPLITS)}")
    if split == "combinations":
        return np.array([(s.colour, s.shape) in HELD_OUT_COMBINATIONS for s in scenes])
    # The last HELD_OUT_PER_CONCEPT pictures of each concept (at most half of them).
    total = Counter(scene.caption for scene in scenes)
    seen: Counter = Counter()
    mask = []
    for scene in scenes:
        seen[scene.caption] += 1
        mask.append(seen[scene.caption] > total[scene.caption] - min(HELD_OUT_PER_CONCEPT, total[scene.caption] // 2))
    return np.array(mask)


# --- Features from the frozen retrieval model -------------------------------------


@dataclass
class Features:
    """Frozen CLIP features of every scene and every caption, in CLIP's joint space.

    ``image_tokens[:, 0]`` is the pooled image embedding (the class token), and
    ``text_pooled`` the pooled caption embedding; the other tokens are the image
    patches and caption tokens that hybrid fusion attends over.
    """

    image_tokens: np.ndarray  # (N, 1 + patches, D) float32
    text_tokens: np.ndarray  # (C, T, D) float32, padded
    text_mask: np.ndarray  # (C, T) bool, True for real tokens
    text_pooled: np.ndarray  # (C, D) float32
    captions: list[str]  # the C distinct captions, in order
    model: str  # the retrieval model's name

    def save(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, captions=np.array(self.captions), model=np.array(self.model), image_tokens=self.image_tokens,
                 text_tokens=self.text_tokens, text_mask=self.text_mask, text_pooled=self.text_pooled)  # fmt: skip
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> Features:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["image_tokens"], data["text_tokens"], data["text_mask"], data["text_pooled"],
                       data["captions"].tolist(), str(data["model"]))  # fmt: skip


def encode(retrieval, scenes: Sequence[Scene], captions: Sequence[str], batch_size: int = 16,
           callback: Callable[[int, int], None] | None = None) -> Features:  # fmt: skip
    """Run the retrieval pipeline's CLIP model over the scenes and captions once."""
    import torch  # here and below, not at import time: the app's page starts without PyTorch

    with torch.inference_mode():
        return _encode(retrieval, scenes, captions, batch_size, callback)


def _encode(retrieval, scenes, captions, batch_size, callback) -> Features:
    # The pipeline projects every token as its model projects the pooled one (CLIP,
    # Chinese-CLIP, SigLIP 2 alike): token 0 of an image is its embedding.
    chunks = []
    for start in range(0, len(scenes), batch_size):
        chunks.append(retrieval.image_tokens([scene.image for scene in scenes[start : start + batch_size]]))
        if callback is not None:
            callback(min(start + batch_size, len(scenes)), len(scenes))
    text_tokens, text_mask, text_pooled = retrieval.text_tokens(list(captions))  # (C, T, D), (C, T), (C, D)
    return Features(np.concatenate(chunks), text_tokens, text_mask, text_pooled, list(captions), retrieval.name)


@dataclass
class MatchingSet:
    """Image-caption pairs with labels (1: the caption describes the picture), split
    into training and held-out pairs, pointing into ``features``."""

    features: Features
    image_index: np.ndarray  # (P,) int: which scene
    caption_index: np.ndarray  # (P,) int: which caption
    labels: np.ndarray  # (P,) float32, 1.0 for a match
    test: np.ndarray  # (P,) bool: held out
    split: str

    @classmethod
    def build(cls, scenes: Sequence[Scene], features: Features, split: str = "instances", negatives: str = "either",
              seed: int = DATA_SEED) -> MatchingSet:  # fmt: skip
        """Two pairs per scene: its caption and a caption wrong in one word, so that half
        the pairs match (chance is 50%). ``negatives`` says which word the wrong caption
        changes: ``colour``, ``shape`` or ``either`` (alternately)."""
        if negatives not in NEGATIVES:
            raise ValueError(f"Unknown kind of negatives {negatives!r}; available = {list(NEGATIVES)}")
        rng = random.Random(seed)
        colours, shapes = vocabulary(scenes)
        lookup = {caption: i for i, caption in enumerate(features.captions)}
        pictures = held_out(scenes, split)
        # A held-out concept's caption never appears in training, not even as a wrong
        # caption: otherwise "this caption never matches" would be learned, not composition.
        unseen = (
            {s.caption for s, test in zip(scenes, pictures, strict=True) if test} if split == "combinations" else set()
        )
        image_index, caption_index, labels, test = [], [], [], []
        for i, scene in enumerate(scenes):
            # The wrong caption changes one word: the colour or the shape.
            if negatives == "colour" or (negatives == "either" and i % 2 == 0):
                options = [caption_for(c, scene.shape) for c in colours if c != scene.colour]
            else:
                options = [caption_for(scene.colour, s) for s in shapes if s != scene.shape]
            options = [caption for caption in options if pictures[i] or caption not in unseen]
            if not options:
                raise ValueError(f"No wrong caption for {scene.caption!r}: the scenes need at least two "
                                 "colours and two shapes.")  # fmt: skip
            for caption, label in ((scene.caption, 1.0), (rng.choice(options), 0.0)):
                if caption not in lookup:
                    raise ValueError(f"The caption {caption!r} has no features; encode it with the scenes.")
                image_index.append(i)
                caption_index.append(lookup[caption])
                labels.append(label)
                test.append(pictures[i])
        return cls(features, np.array(image_index), np.array(caption_index), np.array(labels, np.float32),
                   np.array(test), split)  # fmt: skip

    def tensors(self, test: bool) -> dict[str, torch.Tensor]:
        """One split's inputs as tensors, standardised with the training pairs' mean and
        standard deviation per feature (so no model has to learn CLIP's scale)."""
        import torch

        rows = self.test if test else ~self.test
        train_images = np.unique(self.image_index[~self.test])
        train_captions = np.unique(self.caption_index[~self.test])
        f = self.features
        image_mean, image_std = _stats(f.image_tokens[train_images].reshape(-1, f.image_tokens.shape[-1]))
        text_mean, text_std = _stats(f.text_tokens[train_captions][f.text_mask[train_captions]])
        images, captions = self.image_index[rows], self.caption_index[rows]
        return {
            "image_tokens": torch.from_numpy((f.image_tokens[images] - image_mean) / image_std),
            "text_tokens": torch.from_numpy((f.text_tokens[captions] - text_mean) / text_std),
            "text_mask": torch.from_numpy(f.text_mask[captions]),
            "text_pooled": torch.from_numpy((f.text_pooled[captions] - text_mean) / text_std),
            "labels": torch.from_numpy(self.labels[rows]),
        }


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-6).astype(np.float32)


# --- Training ----------------------------------------------------------------------


@dataclass
class FusionConfig:
    strategy: str = "early"  # early, late or hybrid
    hidden_size: int = 64  # width of the fusion model's layers
    learning_rate: float = 1e-3  # Adam likes ~1e-3; SGD with momentum ~0.05
    epochs: int = 30  # passes over the training pairs
    optimizer: str = "adam"  # adam or sgd (with momentum 0.9)
    seed: int = 0  # initial weights and batch order; the same seed gives the same run
    batch_size: int = 32  # pairs per gradient step

    def check(self) -> FusionConfig:
        """Validate every field (API clients send anything); returns a normalised copy."""
        strategy = str(self.strategy).strip().lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown fusion strategy {self.strategy!r}; available strategies = {list(STRATEGIES)}")
        optimizer = str(self.optimizer).strip().lower()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; available optimizers = {list(OPTIMIZERS)}")
        numbers = {name: check_number(name, getattr(self, name), *LIMITS[name], integer=name != "learning_rate")
                   for name in LIMITS}  # fmt: skip
        seed = check_number("seed", self.seed, 0, MAX_SEED)
        return FusionConfig(strategy=strategy, optimizer=optimizer, seed=seed, **numbers)


def _metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict:
    import torch
    from torchmetrics.functional.classification import binary_accuracy, binary_auroc, binary_confusion_matrix

    target = labels.long()
    probs = torch.sigmoid(logits)
    return {
        "loss": float(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)),
        "accuracy": float(binary_accuracy(probs, target)),
        "auroc": float(binary_auroc(probs, target)),
        # rows: true mismatch, true match; columns: predicted mismatch, predicted match
        "confusion_matrix": binary_confusion_matrix(probs, target).tolist(),
    }


def train(data: MatchingSet, config: FusionConfig) -> dict:
    """Train one fusion model and return what happened, as plain values: the config,
    final ``metrics`` on the training and held-out pairs, per-epoch ``curves``, the
    held-out ``confusion_matrix`` and the held-out ``mistakes`` made most confidently."""
    # With ``every`` beyond any number of epochs, only the final result is yielded.
    return next(train_steps(data, config, every=LIMITS["epochs"][1] + 1))


def train_steps(data: MatchingSet, config: FusionConfig, every: int = 1) -> Iterator[dict]:
    """``train``, yielding a snapshot of the result (``done`` False until the last one)
    every ``every`` epochs and after the last: live curves for the UI."""
    import torch

    from labs.fusion_models import MODELS

    # 1. Check inputs and seed everything the run depends on
    config = config.check()
    torch.manual_seed(config.seed)
    order = torch.Generator().manual_seed(config.seed)
    train_set, test_set = data.tensors(test=False), data.tensors(test=True)
    if not len(train_set["labels"]) or not len(test_set["labels"]):
        raise ValueError("The matching set needs both training and held-out pairs.")

    # 2. The model and the optimiser
    dim = train_set["text_pooled"].shape[-1]
    model = MODELS[config.strategy](dim, config.hidden_size)
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=0.9)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    # 3. Forward, loss, backward, step; measure both splits after every epoch
    curves: dict[str, list] = {
        "epoch": [],
        "train_loss": [],
        "test_loss": [],
        "train_accuracy": [],
        "test_accuracy": [],
    }
    result = {"strategy": config.strategy, "config": asdict(config), "data": _describe(data, train_set, test_set),
              "parameters": sum(p.numel() for p in model.parameters()), "curves": curves}  # fmt: skip
    seconds = 0.0
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        with _threads(TRAIN_THREADS):
            model.train()
            for rows in torch.randperm(len(train_set["labels"]), generator=order).split(config.batch_size):
                batch = {name: tensor[rows] for name, tensor in train_set.items()}
                loss = loss_fn(model(batch), batch["labels"])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            train_metrics, test_metrics = _evaluate(model, train_set), _evaluate(model, test_set)
            if epoch == config.epochs:
                result["mistakes"] = _mistakes(model, data, test_set)
        seconds += time.perf_counter() - start  # training time only, not the time the caller spends
        if not math.isfinite(train_metrics["loss"]):
            raise ValueError(
                f"Training diverged at epoch {epoch} (the loss is {train_metrics['loss']}): the learning rate "
                f"{config.learning_rate} is too high for {config.optimizer}; try one ten times smaller."
            )
        curves["epoch"].append(epoch)
        for split, values in (("train", train_metrics), ("test", test_metrics)):
            curves[f"{split}_loss"].append(round(values["loss"], 5))
            curves[f"{split}_accuracy"].append(round(values["accuracy"], 5))
        result.update(_summary(train_metrics, test_metrics, seconds, done=epoch == config.epochs))
        if epoch % every == 0 or epoch == config.epochs:
            yield copy.deepcopy(result)


@contextlib.contextmanager
def _threads(count: int):
    """Torch's thread count while training. These models are tiny: with several threads,
    OpenMP's hand-offs cost more than the arithmetic (ten times slower on a busy 2-core
    machine, see benchmarks/fusion_speed.py); the results are the same."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _mistakes(model: nn.Module, data: MatchingSet, test_set: dict, limit: int = 8) -> list[dict]:
    """The held-out pairs the model got most confidently wrong: what a student should look at."""
    import torch

    model.eval()
    with torch.no_grad():
        probs = torch.sigmoid(model(test_set)).numpy()
    labels = test_set["labels"].numpy()
    wrong = np.flatnonzero((probs >= 0.5) != (labels == 1.0))
    wrong = wrong[np.argsort(-np.abs(probs[wrong] - 0.5), kind="stable")][:limit]
    images, captions = data.image_index[data.test], data.caption_index[data.test]
    return [{"scene": int(images[i]), "caption": data.features.captions[captions[i]],
             "label": "match" if labels[i] == 1.0 else "mismatch", "probability_match": round(float(probs[i]), 4)}
            for i in wrong]  # fmt: skip


def _evaluate(model: nn.Module, tensors: dict[str, torch.Tensor]) -> dict:
    import torch

    model.eval()
    with torch.no_grad():
        return _metrics(model(tensors), tensors["labels"])


def _summary(train_metrics: dict, test_metrics: dict, seconds: float, done: bool) -> dict:
    return {
        "metrics": {
            "train_accuracy": round(train_metrics["accuracy"], 5),
            "train_loss": round(train_metrics["loss"], 5),
            "test_accuracy": round(test_metrics["accuracy"], 5),
            "test_loss": round(test_metrics["loss"], 5),
            "test_auroc": round(test_metrics["auroc"], 5),
            "chance_accuracy": 0.5,
        },
        "confusion_matrix": {"labels": ["mismatch", "match"], "matrix": test_metrics["confusion_matrix"]},
        "seconds": round(seconds, 3),
        "done": done,
    }


def _describe(data: MatchingSet, train_set: dict, test_set: dict) -> dict:
    tokens = data.features.image_tokens.shape
    return {
        "split": data.split, "train_pairs": len(train_set["labels"]), "test_pairs": len(test_set["labels"]),
        "feature_model": data.features.model, "feature_dim": tokens[-1], "image_tokens": tokens[1],
    }  # fmt: skip


# --- The lab: scenes and their features, cached per retrieval model -------------------


class FusionLab:
    """The scenes, and their features under each retrieval model, computed once and
    kept in ``cache_dir`` (``<model>.npz``), so training starts at once after the first run."""

    def __init__(self, cache_dir: Path | None = None, scenes: Sequence[Scene] | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._scenes = list(scenes) if scenes is not None else None
        self._features: dict[str, Features] = {}

    @property
    def scenes(self) -> list[Scene]:
        if self._scenes is None:
            self._scenes = make_scenes()
        return self._scenes

    def features(self, retrieval, callback: Callable[[int, int], None] | None = None) -> Features:
        if retrieval.name in self._features:
            return self._features[retrieval.name]
        path = self._cache_path(retrieval.name)
        features = None
        if path is not None and path.is_file():
            try:
                features = Features.load(path)
            except (OSError, ValueError, KeyError):  # a damaged cache is recomputed, never fatal
                features = None
            if features is not None and (
                features.model != retrieval.name or len(features.image_tokens) != len(self.scenes)
            ):
                features = None
        if features is None:
            captions = all_captions(self.scenes)
            features = encode(retrieval, self.scenes, captions, callback=callback)
            if path is not None:
                atomic_write_bytes(path, features.save())
        self._features[retrieval.name] = features
        return features

    def _cache_path(self, model_name: str) -> Path | None:
        if self.cache_dir is None:
            return None
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_")
        return self.cache_dir / f"{name}-scenes-v{DATA_VERSION}.npz"

    def matching_set(
        self, retrieval, split: str = "instances", negatives: str = "either", callback=None
    ) -> MatchingSet:
        return MatchingSet.build(self.scenes, self.features(retrieval, callback), split, negatives)
