"""Fusion lab: train small early, late, hybrid and weighted fusion models on frozen features
of pictures, captions and spoken captions.

The task is image-text matching: given a picture and a caption, does the caption
describe the picture? The pictures are synthetic scenes drawn by ``labs/scenes.py``
(one coloured shape each on a tinted canvas, seeded, so every run sees the same data);
each comes with its true caption ("a red circle") and a caption that is wrong in
exactly one word ("a blue circle" or "a red square"), so neither modality alone can
tell a match from a mismatch. Images and captions are encoded once by the app's
retrieval model (CLIP, Radford et al. 2021, or SigLIP 2 or Chinese-CLIP), which stays frozen; only the small fusion
model on top is trained.

A third modality can join: each picture's caption, spoken (``labs/spoken.py``: the
app's text-to-speech reads it, Whisper's frozen encoder encodes it). The spoken caption
belongs to the picture, so it always describes it: with the picture it is a second view
of the scene, and it too only tells a match from a mismatch together with the written
caption. A run takes any subset of the three (``FusionConfig.modalities``; the picture
and the caption by default).

The four strategies are the classic ways of combining modalities (Baltrušaitis et
al. 2019, "Multimodal Machine Learning: A Survey and Taxonomy"):

- ``early``: concatenate the feature vectors, then an MLP sees them all at once;
- ``late``: one head per modality, each deciding on its own; the decisions are
  combined only at the end (dot products, as in two-tower models such as CLIP itself);
- ``hybrid``: the modalities' tokens (image patches, caption tokens, audio frames)
  attend to each other (cross-attention, as in ViLBERT, Lu et al. 2019), then a head decides;
- ``weighted``: one projection per modality, summed with learned per-modality weights
  (reported after training), then a head decides.

After training, the missing-modality tests measure the held-out accuracy again with
each modality left out (``dropped``: the model is told, and each strategy does without
it in its own way) or replaced by noise (``noise``: the model is not told), which shows
why late fusion degrades gracefully and early fusion does not.

The models are in ``labs/fusion_models.py``; this file holds the data, the training
loop and the lab that keeps the runs. PyTorch is imported only when a model is
trained, so that the app's page starts without it.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from labs import scenes as synthetic
from labs import spoken
from labs.spoken import AudioFeatures
from runtime.files import atomic_write_bytes
from runtime.inputs import MAX_SEED, Range
from runtime.messages import InputError

if TYPE_CHECKING:
    import torch
    from torch import nn

STRATEGIES = ("early", "late", "hybrid", "weighted")
MODALITIES = ("image", "text", "audio")  # the order in which models read them (labs/fusion_models.py)
DEFAULT_MODALITIES = ("image", "text")
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
# The ranges ``FusionConfig.check`` enforces; the Fusion tab's controls are built from them.
LIMITS = {
    "hidden_size": Range(8, 256),
    "learning_rate": Range(1e-5, 1.0, integer=False),
    "epochs": Range(1, 200),
    "batch_size": Range(1, 512),
    "seed": Range(0, MAX_SEED),
}


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
        np.savez(
            buffer,
            captions=np.array(self.captions),
            model=np.array(self.model),
            image_tokens=self.image_tokens,
            text_tokens=self.text_tokens,
            text_mask=self.text_mask,
            text_pooled=self.text_pooled,
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> Features:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                data["image_tokens"],
                data["text_tokens"],
                data["text_mask"],
                data["text_pooled"],
                data["captions"].tolist(),
                str(data["model"]),
            )


def encode(
    retrieval,
    scenes: Sequence[Scene],
    captions: Sequence[str],
    batch_size: int = 16,
    callback: Callable[[int, int], None] | None = None,
) -> Features:
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
    audio: AudioFeatures | None = None  # each scene's spoken caption, when a run needs it

    @classmethod
    def build(
        cls,
        scenes: Sequence[Scene],
        features: Features,
        split: str = "instances",
        negatives: str = "either",
        seed: int = DATA_SEED,
        audio: AudioFeatures | None = None,
    ) -> MatchingSet:
        """Two pairs per scene: its caption and a caption wrong in one word, so that half
        the pairs match (chance is 50%). ``negatives`` says which word the wrong caption
        changes: ``colour``, ``shape`` or ``either`` (alternately). ``audio``: the scenes'
        spoken captions (labs/spoken.py), one per scene, for runs that hear them."""
        if audio is not None and len(audio.audio_pooled) != len(scenes):
            raise ValueError(f"The audio features cover {len(audio.audio_pooled)} scenes, not {len(scenes)}.")
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
                raise ValueError(
                    f"No wrong caption for {scene.caption!r}: the scenes need at least two colours and two shapes."
                )
            for caption, label in ((scene.caption, 1.0), (rng.choice(options), 0.0)):
                if caption not in lookup:
                    raise ValueError(f"The caption {caption!r} has no features; encode it with the scenes.")
                image_index.append(i)
                caption_index.append(lookup[caption])
                labels.append(label)
                test.append(pictures[i])
        return cls(
            features,
            np.array(image_index),
            np.array(caption_index),
            np.array(labels, np.float32),
            np.array(test),
            split,
            audio,
        )

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
        tensors = {
            "image_tokens": torch.from_numpy((f.image_tokens[images] - image_mean) / image_std),
            "text_tokens": torch.from_numpy((f.text_tokens[captions] - text_mean) / text_std),
            "text_mask": torch.from_numpy(f.text_mask[captions]),
            "text_pooled": torch.from_numpy((f.text_pooled[captions] - text_mean) / text_std),
            "labels": torch.from_numpy(self.labels[rows]),
        }
        if self.audio is not None:  # one clip per scene, standardised like the others
            a = self.audio
            audio_mean, audio_std = _stats(a.audio_tokens[train_images].reshape(-1, a.audio_tokens.shape[-1]))
            tensors["audio_tokens"] = torch.from_numpy((a.audio_tokens[images] - audio_mean) / audio_std)
            tensors["audio_pooled"] = torch.from_numpy((a.audio_pooled[images] - audio_mean) / audio_std)
        return tensors


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-6).astype(np.float32)


# --- Training ----------------------------------------------------------------------


@dataclass
class FusionConfig:
    strategy: str = "early"  # early, late, hybrid or weighted
    hidden_size: int = 64  # width of the fusion model's layers
    learning_rate: float = 1e-3  # Adam likes ~1e-3; SGD with momentum ~0.05
    epochs: int = 30  # passes over the training pairs
    optimizer: str = "adam"  # adam or sgd (with momentum 0.9)
    seed: int = 0  # initial weights and batch order; the same seed gives the same run
    batch_size: int = 32  # pairs per gradient step
    # which features the model reads: any of image, text, audio (in that order)
    modalities: list[str] = field(default_factory=lambda: list(DEFAULT_MODALITIES))

    def check(self) -> FusionConfig:
        """Validate every field (API clients send anything); returns a normalised copy."""
        strategy = str(self.strategy).strip().lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown fusion strategy {self.strategy!r}; available strategies = {list(STRATEGIES)}")
        optimizer = str(self.optimizer).strip().lower()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; available optimizers = {list(OPTIMIZERS)}")
        numbers = {name: limit.check(name, getattr(self, name)) for name, limit in LIMITS.items()}
        modalities = check_modalities(self.modalities)
        return FusionConfig(strategy=strategy, optimizer=optimizer, modalities=modalities, **numbers)


def check_modalities(modalities) -> list[str]:
    """Any non-empty subset of MODALITIES, as a list ("image,text" works too), in MODALITIES' order."""
    if isinstance(modalities, str):
        modalities = [m for m in modalities.replace(" ", ",").split(",") if m]
    if not isinstance(modalities, (list, tuple)) or not all(isinstance(m, str) for m in modalities):
        raise ValueError(f"`modalities` must be a list of {list(MODALITIES)}, not {modalities!r}")
    names = [m.strip().lower() for m in modalities]
    if unknown := [m for m in names if m not in MODALITIES]:
        raise ValueError(f"Unknown modality {unknown[0]!r}; available modalities = {list(MODALITIES)}")
    if not names:
        raise InputError("pick_modality", modalities=", ".join(MODALITIES))
    return [m for m in MODALITIES if m in names]


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
    return next(train_steps(data, config, every=LIMITS["epochs"].high + 1))


def train_steps(data: MatchingSet, config: FusionConfig, every: int = 1) -> Iterator[dict]:
    """``train``, yielding a snapshot of the result (``done`` False until the last one)
    every ``every`` epochs and after the last: live curves for the UI."""
    import torch

    from labs.fusion_models import MODELS

    # 1. Check inputs and seed everything the run depends on
    config = config.check()
    torch.manual_seed(config.seed)
    order = torch.Generator().manual_seed(config.seed)
    if "audio" in config.modalities and data.audio is None:
        raise ValueError(
            "This run hears the spoken captions, but the matching set has no audio features; "
            "build it with the lab's audio features (FusionLab.matching_set(..., audio=...))."
        )
    train_set, test_set = data.tensors(test=False), data.tensors(test=True)
    if not len(train_set["labels"]) or not len(test_set["labels"]):
        raise ValueError("The matching set needs both training and held-out pairs.")

    # 2. The model and the optimiser
    from labs.fusion_models import pooled

    dims = {m: pooled(train_set, m).shape[-1] for m in config.modalities}
    model = MODELS[config.strategy](dims, config.hidden_size)
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
    result = {
        "strategy": config.strategy,
        "config": asdict(config),
        "data": _describe(data, train_set, test_set),
        "parameters": sum(p.numel() for p in model.parameters()),
        "curves": curves,
    }
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
                result["missing"] = missing_modalities(model, test_set, config.modalities, config.seed)
        seconds += time.perf_counter() - start  # training time only, not the time the caller spends
        if not math.isfinite(train_metrics["loss"]):
            raise InputError(
                "diverged_optimizer",
                epoch=epoch,
                loss=train_metrics["loss"],
                value=config.learning_rate,
                optimizer=config.optimizer,
            )
        curves["epoch"].append(epoch)
        for split, values in (("train", train_metrics), ("test", test_metrics)):
            curves[f"{split}_loss"].append(round(values["loss"], 5))
            curves[f"{split}_accuracy"].append(round(values["accuracy"], 5))
        result.update(_summary(train_metrics, test_metrics, seconds, done=epoch == config.epochs))
        if hasattr(model, "weights"):  # weighted fusion: how much it leans on each modality
            result["weights"] = {m: round(w, 5) for m, w in model.weights().items()}
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
    return [
        {
            "scene": int(images[i]),
            "caption": data.features.captions[captions[i]],
            "label": "match" if labels[i] == 1.0 else "mismatch",
            "probability_match": round(float(probs[i]), 4),
        }
        for i in wrong
    ]


def _evaluate(model: nn.Module, tensors: dict[str, torch.Tensor], absent: Sequence[str] = ()) -> dict:
    import torch

    model.eval()
    with torch.no_grad():
        return _metrics(model(tensors, absent), tensors["labels"])


def missing_modalities(model: nn.Module, test_set: dict, modalities: Sequence[str], seed: int) -> dict:
    """Held-out accuracy with every modality present (``all``), then for each modality of a
    run with several: with it ``dropped`` (the model is told it is missing and does
    without it, each strategy in its own way; see labs/fusion_models.py) and with its
    features replaced by ``noise`` (the model is not told; the noise has the training
    features' mean and spread, so it looks like data). Seeded: the same run, the same numbers."""
    import torch

    report: dict = {"all": round(_evaluate(model, test_set)["accuracy"], 5), "chance": 0.5}
    if len(modalities) < 2:
        return report
    generator = torch.Generator().manual_seed(seed)
    for modality in modalities:
        noisy = dict(test_set)
        keys = ["image_tokens"] if modality == "image" else [f"{modality}_tokens", f"{modality}_pooled"]
        for key in keys:  # standardised features: noise of mean 0 and spread 1 is the training data's
            noisy[key] = torch.randn(test_set[key].shape, generator=generator)
        report[modality] = {
            "dropped": round(_evaluate(model, test_set, absent=[modality])["accuracy"], 5),
            "noise": round(_evaluate(model, noisy)["accuracy"], 5),
        }
    return report


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
    described = {
        "split": data.split,
        "train_pairs": len(train_set["labels"]),
        "test_pairs": len(test_set["labels"]),
        "feature_model": data.features.model,
        "feature_dim": tokens[-1],
        "image_tokens": tokens[1],
    }
    if data.audio is not None:
        described.update(
            audio_model=data.audio.model,
            audio_dim=data.audio.audio_tokens.shape[-1],
            audio_tokens=data.audio.audio_tokens.shape[1],
        )
    return described


# --- The lab: scenes and their features, cached per retrieval model -------------------


class FusionLab:
    """The scenes, and their features under each retrieval model (and, for runs that hear
    them, their spoken captions under each text-to-speech model and those clips' features
    under each speech-recognition model), computed once and kept in ``cache_dir``, so
    training starts at once after the first run."""

    def __init__(self, cache_dir: Path | None = None, scenes: Sequence[Scene] | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._scenes = list(scenes) if scenes is not None else None
        self._features: dict[str, Features] = {}
        self._spoken: dict[str, spoken.SpokenCaptions] = {}
        self._audio: dict[tuple[str, str], AudioFeatures] = {}

    @property
    def scenes(self) -> list[Scene]:
        if self._scenes is None:
            self._scenes = make_scenes()
        return self._scenes

    def features(self, retrieval, callback: Callable[[int, int], None] | None = None) -> Features:
        if retrieval.name not in self._features:
            self._features[retrieval.name] = self._cached(
                self._cache_path(retrieval.name, "scenes"),
                Features.load,
                lambda f: f.model == retrieval.name and len(f.image_tokens) == len(self.scenes),
                lambda: encode(retrieval, self.scenes, all_captions(self.scenes), callback=callback),
            )
        return self._features[retrieval.name]

    def spoken_captions(self, tts, name: str, callback: Callable[[int, int], None] | None = None):
        """Every scene's caption read aloud by ``tts`` (called ``name``), made once (labs/spoken.py)."""
        if name not in self._spoken:
            self._spoken[name] = self._cached(
                self._cache_path(name, f"spoken-v{spoken.SPEECH_VERSION}"),
                spoken.SpokenCaptions.load,
                lambda c: c.model == name and len(c.order) == len(self.scenes),
                lambda: spoken.speak(tts, [scene.caption for scene in self.scenes], name, callback=callback),
            )
        return self._spoken[name]

    def audio_features(self, tts, asr, names: tuple[str, str], on_speak=None, on_encode=None) -> AudioFeatures:
        """The Whisper features (``asr``) of the spoken captions (``tts``); ``names`` are the
        two models' names, ``on_speak`` and ``on_encode`` get (done, total) as they work."""
        if names not in self._audio:
            model = " + ".join(names)
            self._audio[names] = self._cached(
                self._cache_path(model, f"audio-v{spoken.SPEECH_VERSION}"),
                AudioFeatures.load,
                lambda a: a.model == model and len(a.audio_pooled) == len(self.scenes),
                lambda: spoken.encode(asr, self.spoken_captions(tts, names[0], on_speak), names[1], callback=on_encode),
            )
        return self._audio[names]

    @staticmethod
    def _cached(path: Path | None, load, fits, make):
        """What ``path`` holds if it loads and ``fits``, else ``make()``, written to ``path``."""
        if path is not None and path.is_file():
            try:
                value = load(path)
            except (OSError, ValueError, KeyError):  # a damaged cache is recomputed, never fatal
                value = None
            if value is not None and fits(value):
                return value
        value = make()
        if path is not None:
            atomic_write_bytes(path, value.save())
        return value

    def _cache_path(self, model_name: str, kind: str) -> Path | None:
        if self.cache_dir is None:
            return None
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_")
        return self.cache_dir / f"{name}-{kind}-v{DATA_VERSION}.npz"

    def matching_set(
        self,
        retrieval,
        split: str = "instances",
        negatives: str = "either",
        callback=None,
        audio: AudioFeatures | None = None,
    ) -> MatchingSet:
        return MatchingSet.build(self.scenes, self.features(retrieval, callback), split, negatives, audio=audio)
