"""The Contrastive lab's model and loss (labs/contrastive.py trains them): two towers
over frozen CLIP features and the symmetric InfoNCE loss of CLIP (Radford et al. 2021)."""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_SCALE = 100.0  # CLIP clips the learned 1/τ at 100


class TwoTowers(nn.Module):
    """An image tower and a text tower, one linear projection each with no bias (as CLIP's
    projection heads), into ``embedding_size`` dimensions, then unit length; and the
    temperature τ, kept as log 1/τ as CLIP keeps it: a fixed buffer, or ``learned``."""

    def __init__(self, dim: int, embedding_size: int, temperature: float, learned: bool):
        super().__init__()
        self.image = nn.Linear(dim, embedding_size, bias=False)
        self.text = nn.Linear(dim, embedding_size, bias=False)
        log_scale = torch.tensor(math.log(1 / temperature))
        if learned:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(MAX_SCALE)).exp()  # 1/τ

    def embed(self, images: torch.Tensor, texts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        unit = nn.functional.normalize
        return unit(self.image(images), dim=-1), unit(self.text(texts), dim=-1)  # (B, E), (C, E)

    def forward(self, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        i, t = self.embed(images, texts)
        return self.scale() * i @ t.T  # (B, C) logits: pictures x captions


def info_nce(logits: torch.Tensor) -> torch.Tensor:
    """The symmetric InfoNCE loss of a (B, B) logit matrix whose diagonal holds the true
    pairs: each picture must pick its caption among the batch's, and each caption its picture."""
    target = torch.arange(len(logits))
    return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)) / 2
