"""What the image-to-text explainers share: ``Explanation``, the result of an explain call
(BLIP's and ViLT's in explain/generation.py, a vision-language model's in explain/vlm.py),
and the Ask tab's candidate answers and their count (``TOP_K``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from runtime.inputs import Range, split_items
from runtime.messages import InputError

TOP_ALTERNATIVES = 5  # the likeliest tokens shown beside each generated one
MAX_CANDIDATES = 20
TOP_K = Range(1, MAX_CANDIDATES)  # the Ask tab's "answers to rank"


@dataclass
class Explanation:
    """What an explain call computed: ``record`` is plain JSON (the API's answer);
    ``maps[key]`` is an array (layers, rows, grid_h, grid_w) of head-averaged
    attention over the image, one row per label in ``labels[key]``."""

    record: dict
    image: Image.Image
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)

    @property
    def num_layers(self) -> int:
        return max((m.shape[0] for m in self.maps.values()), default=0)


def parse_candidates(candidates) -> list[str]:
    """Comma-separated (or a list of) candidate answers, unique, in order."""
    if candidates is None:
        return []
    if isinstance(candidates, (list, tuple)):
        candidates = "\n".join(str(c) for c in candidates)
    if not isinstance(candidates, str):
        raise TypeError(f"`candidates` must be comma-separated text, not {type(candidates).__name__}.")
    if not candidates.strip():
        return []
    parsed = split_items(candidates, "candidate answers")  # commas, also ，、；
    if len(parsed) > MAX_CANDIDATES:
        raise InputError(
            "too_many_candidates",
            limit=MAX_CANDIDATES,
            count=len(parsed),
        )
    return parsed
