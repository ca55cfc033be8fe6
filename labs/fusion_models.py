"""The four fusion models of the Fusion lab (labs/fusion.py trains them).

Each reads frozen features of any subset of three modalities, in the order of
``MODALITIES``: the picture (CLIP's image tokens), the caption (CLIP's text tokens) and
the picture's spoken caption (Whisper's encoder frames, see labs/spoken.py). Each
gives one logit: does the caption describe the picture? They differ only in where the
modalities meet: early (features concatenated, one MLP), late (one head per modality,
dot products at the end), hybrid (cross-attention between the modalities' tokens) or
weighted (one projection per modality, summed with learned weights).

``forward(batch, absent)`` also takes the modalities that are missing at test time
(labs/fusion.py's missing-modality tests): each model leaves them out in its own way,
which is what the tests compare. With the image and the caption alone, the first three
build the same layers in the same order as before audio was added, so a seed gives
the same numbers it always gave.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection

import torch
from torch import nn

MODALITIES = ("image", "text", "audio")


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


def pooled(batch: dict[str, torch.Tensor], modality: str) -> torch.Tensor:
    """One vector per example: (B, D). The image's is its class token."""
    return batch["image_tokens"][:, 0] if modality == "image" else batch[f"{modality}_pooled"]


def tokens(batch: dict[str, torch.Tensor], modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The modality's tokens (B, T, D) and which of them are padding (B, T), True where
    there is no token (only captions have padding)."""
    x = batch[f"{modality}_tokens"]
    if modality == "text":
        return x, ~batch["text_mask"]
    return x, torch.zeros(x.shape[:2], dtype=torch.bool)


class EarlyFusion(nn.Module):
    """Concatenate the pooled features of every modality, then one MLP: it can learn any
    interaction between them, but must learn all of it from the pairs it sees. A missing
    modality can only be filled in: with zeros, the training mean (features are
    standardised), which the MLP never saw."""

    def __init__(self, dims: dict[str, int], hidden_size: int):
        super().__init__()
        self.modalities = tuple(dims)
        self.mlp = _mlp(sum(dims.values()), hidden_size, 1)

    def forward(self, batch: dict[str, torch.Tensor], absent: Collection[str] = ()) -> torch.Tensor:
        parts = [pooled(batch, m) for m in self.modalities]  # each (B, D_m)
        parts = [torch.zeros_like(x) if m in absent else x for m, x in zip(self.modalities, parts, strict=True)]
        return self.mlp(torch.cat(parts, dim=-1)).squeeze(-1)  # (B,) logits


class LateFusion(nn.Module):
    """One head per modality, each turning its input into a vector of ``hidden_size``
    scores on its own; the decisions meet only at the end, as the scaled dot product of
    every pair of modalities, summed. Averaging single-modality scores could not work
    here: whether a caption fits depends on the picture, so the combination has to
    compare, not add. A missing modality's comparisons are left out; the others stand.
    A lone modality has nothing to compare with, and decides through a linear read-out."""

    def __init__(self, dims: dict[str, int], hidden_size: int):
        super().__init__()
        self.heads = nn.ModuleDict({m: _mlp(d, hidden_size, hidden_size) for m, d in dims.items()})
        self.bias = nn.Parameter(torch.zeros(()))
        self.readout = nn.Linear(hidden_size, 1) if len(dims) == 1 else None

    def forward(self, batch: dict[str, torch.Tensor], absent: Collection[str] = ()) -> torch.Tensor:
        present = [m for m in self.heads if m not in absent]
        scores = {m: self.heads[m](pooled(batch, m)) for m in present}  # each (B, H)
        batch_size = pooled(batch, next(iter(self.heads))).shape[0]
        logit = self.bias.expand(batch_size)
        if self.readout is not None:
            return logit + self.readout(scores[present[0]]).squeeze(-1) if present else logit
        for a, b in itertools.combinations(present, 2):
            logit = logit + (scores[a] * scores[b]).sum(-1) / math.sqrt(scores[a].shape[-1])
        return logit  # (B,)


class HybridFusion(nn.Module):
    """Each modality's tokens attend to the tokens of the others (one cross-attention
    layer per modality, with residual connections, in turn from the last modality to
    the first, each reading the others as they stand), then every stream is pooled and
    a head decides from all of them. A lone modality attends to itself. A missing
    modality's tokens are left out of the attention and its pooled stream is zero."""

    def __init__(self, dims: dict[str, int], hidden_size: int):
        super().__init__()
        heads = 4 if hidden_size % 4 == 0 else 1
        self.modalities = tuple(dims)
        self.inputs = nn.ModuleDict({m: nn.Linear(d, hidden_size) for m, d in dims.items()})
        turns = self.modalities[::-1]
        self.attend = nn.ModuleDict({m: nn.MultiheadAttention(hidden_size, heads, batch_first=True) for m in turns})
        self.norms = nn.ModuleDict({m: nn.LayerNorm(hidden_size) for m in turns})
        self.head = _mlp(len(dims) * hidden_size, hidden_size, 1)

    def forward(self, batch: dict[str, torch.Tensor], absent: Collection[str] = ()) -> torch.Tensor:
        present = [m for m in self.modalities if m not in absent]
        streams, padding = {}, {}
        for m in present:
            x, padding[m] = tokens(batch, m)
            streams[m] = self.inputs[m](x)  # (B, T_m, H)
        for m in self.modalities[::-1]:
            if m not in streams:
                continue
            others = [o for o in present if o != m] or ([m] if len(self.modalities) == 1 else [])
            if not others:  # its only partner is missing: nothing to attend to
                continue
            keys = torch.cat([streams[o] for o in others], dim=1)  # (B, sum T, H)
            mask = torch.cat([padding[o] for o in others], dim=1)
            attended = self.attend[m](
                streams[m], keys, keys, key_padding_mask=mask if mask.any() else None, need_weights=False
            )[0]
            streams[m] = self.norms[m](streams[m] + attended)
        size = next(iter(self.inputs.values())).out_features
        batch_size = pooled(batch, self.modalities[0]).shape[0]
        parts = []
        for m in self.modalities:
            if m not in streams:
                parts.append(torch.zeros(batch_size, size))
                continue
            real = (~padding[m]).unsqueeze(-1).float()  # (B, T, 1)
            parts.append((streams[m] * real).sum(1) / real.sum(1).clamp_min(1.0))  # mean over real tokens: (B, H)
        return self.head(torch.cat(parts, dim=-1)).squeeze(-1)  # (B,)


class WeightedFusion(nn.Module):
    """One projection per modality into a shared space, normalised so that none is
    louder than another by scale alone, then summed with learned weights (a softmax over
    one score per modality) and read out by a small head. The weights, shown after
    training, say how much the model leans on each modality. A missing modality's term
    is left out and the other weights are renormalised."""

    def __init__(self, dims: dict[str, int], hidden_size: int):
        super().__init__()
        self.projections = nn.ModuleDict({m: nn.Linear(d, hidden_size) for m, d in dims.items()})
        self.norm = nn.LayerNorm(hidden_size, elementwise_affine=False)
        self.scores = nn.Parameter(torch.zeros(len(dims)))  # equal weights to begin with
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))

    def weights(self, absent: Collection[str] = ()) -> dict[str, float]:
        """Each modality's share of the sum, as trained (or with ``absent`` left out)."""
        return dict(zip(self.projections, self._weights(absent).tolist(), strict=True))

    def _weights(self, absent: Collection[str]) -> torch.Tensor:
        keep = torch.tensor([m not in absent for m in self.projections])
        return torch.softmax(self.scores.masked_fill(~keep, float("-inf")), dim=0) * keep

    def forward(self, batch: dict[str, torch.Tensor], absent: Collection[str] = ()) -> torch.Tensor:
        if all(m in absent for m in self.projections):
            return self.head(
                torch.zeros(pooled(batch, next(iter(self.projections))).shape[0], self.norm.normalized_shape[0])
            ).squeeze(-1)
        weights = self._weights(absent)
        fused = sum(
            w * self.norm(self.projections[m](pooled(batch, m)))
            for w, m in zip(weights, self.projections, strict=True)
            if m not in absent
        )  # (B, H)
        return self.head(fused).squeeze(-1)  # (B,)


MODELS = {"early": EarlyFusion, "late": LateFusion, "hybrid": HybridFusion, "weighted": WeightedFusion}
