"""Sorting a whole collection into labels you type, with no training: every image goes
to the label whose prompt ("a photo of a {label}.") its CLIP embedding is most similar
to (zero-shot classification, Radford et al. 2021), computed from the index's stored
embeddings in chunks, so a million images need no model call per image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from runtime.inputs import Range, parse_labels

MAX_EXAMPLES = 12  # examples shown per label
EXAMPLES = Range(0, MAX_EXAMPLES)  # the Search tab's slider too


def classify_collection(pipe, indexes: Sequence, labels: str | Sequence[str], examples: int = 4) -> dict:
    """Zero-shot classification of every image in ``indexes`` (ImageIndex objects built
    with ``pipe``'s model): each image goes to its most probable label. Returns the
    total and, per label in the order given, the count, the share and the ``examples``
    images the model is surest of (with their probability as ``score``)."""
    labels = parse_labels(labels)
    examples = EXAMPLES.check("examples", examples)
    winners = []  # per index: (N,) label number and (N,) its probability
    for index in indexes:
        index.check_model(pipe)
        chunks = [
            pipe.zero_shot(index.embeddings[start : start + 65_536], labels) for start in range(0, len(index), 65_536)
        ]
        probs = np.concatenate(chunks) if chunks else np.zeros((0, len(labels)), np.float32)
        winners.append((probs.argmax(axis=1), probs.max(axis=1, initial=0.0) if len(probs) else probs[:, 0]))
    total = sum(len(index) for index in indexes)
    result = {"total": total, "labels": []}
    for number, label in enumerate(labels):
        count, candidates = 0, []
        for index, (assigned, confidence) in zip(indexes, winners, strict=True):
            rows = np.flatnonzero(assigned == number)
            count += len(rows)
            best = rows[np.argsort(-confidence[rows], kind="stable")[:examples]]
            candidates += [index.item(int(row), float(confidence[row])) for row in best]
        candidates.sort(key=lambda item: -item["score"])
        result["labels"].append(
            {
                "label": label,
                "count": count,
                "share": count / total if total else 0.0,
                "examples": candidates[:examples],
            }
        )
    return result
