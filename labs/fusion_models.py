"""The three fusion models of the Fusion lab (labs/fusion.py trains them).

Each reads frozen CLIP features of a picture and a caption, and gives one logit: does
the caption describe the picture? They differ only in where the two modalities meet:
early (features concatenated, one MLP), late (one head per modality, a dot product at
the end) or hybrid (cross-attention between caption tokens and image patches).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))


class EarlyFusion(nn.Module):
    """Concatenate the pooled image and caption features, then one MLP: it can learn any
    interaction between the two, but must learn all of it from the pairs it sees."""

    def __init__(self, dim: int, hidden_size: int):
        super().__init__()
        self.mlp = _mlp(2 * dim, hidden_size, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        both = torch.cat([batch["image_tokens"][:, 0], batch["text_pooled"]], dim=-1)  # (B, 2D)
        return self.mlp(both).squeeze(-1)  # (B,) logits


class LateFusion(nn.Module):
    """One head per modality, each turning its input into a vector of ``hidden_size``
    scores on its own; the decisions meet only at the end, as a scaled dot product.
    Averaging two single-modality scores could not work here: whether a caption fits
    depends on the picture, so the combination has to compare, not add."""

    def __init__(self, dim: int, hidden_size: int):
        super().__init__()
        self.image_head = _mlp(dim, hidden_size, hidden_size)
        self.text_head = _mlp(dim, hidden_size, hidden_size)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        image = self.image_head(batch["image_tokens"][:, 0])  # (B, H)
        text = self.text_head(batch["text_pooled"])  # (B, H)
        return (image * text).sum(-1) / math.sqrt(image.shape[-1]) + self.bias  # (B,)


class HybridFusion(nn.Module):
    """Caption tokens attend to image patches and image patches to caption tokens
    (one cross-attention layer each way, with residual connections), then the two
    streams are pooled and a head decides from both."""

    def __init__(self, dim: int, hidden_size: int):
        super().__init__()
        heads = 4 if hidden_size % 4 == 0 else 1
        self.image_in, self.text_in = nn.Linear(dim, hidden_size), nn.Linear(dim, hidden_size)
        self.text_to_image = nn.MultiheadAttention(hidden_size, heads, batch_first=True)
        self.image_to_text = nn.MultiheadAttention(hidden_size, heads, batch_first=True)
        self.text_norm, self.image_norm = nn.LayerNorm(hidden_size), nn.LayerNorm(hidden_size)
        self.head = _mlp(2 * hidden_size, hidden_size, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        image = self.image_in(batch["image_tokens"])  # (B, 1 + patches, H)
        text = self.text_in(batch["text_tokens"])  # (B, T, H)
        padding = ~batch["text_mask"]  # (B, T), True where there is no token
        text = self.text_norm(text + self.text_to_image(text, image, image, need_weights=False)[0])
        image = self.image_norm(image + self.image_to_text(image, text, text, key_padding_mask=padding,
                                                           need_weights=False)[0])  # fmt: skip
        mask = batch["text_mask"].unsqueeze(-1).float()  # (B, T, 1)
        text_pooled = (text * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # mean over real tokens: (B, H)
        return self.head(torch.cat([image.mean(1), text_pooled], dim=-1)).squeeze(-1)  # (B,)


MODELS = {"early": EarlyFusion, "late": LateFusion, "hybrid": HybridFusion}
