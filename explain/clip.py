"""The CLIP lab: a similarity matrix between images and texts, the softmax temperature,
and a 2-D map of the gallery's embeddings.

CLIP (Radford et al., 2021) embeds images and texts as unit vectors in one space and
is trained with a symmetric contrastive loss: in a batch of N pairs, each image must
pick its own text among the N (and each text its image) through
softmax(cos(image, text) / tau), where the temperature tau is learned (CLIP's ends at
0.01, a logit scale of 100). Zero-shot classification is that softmax over the label
texts. A higher tau flattens the probabilities; a lower one sharpens them.

The map projects the gallery's image embeddings onto their first two principal
components (scikit-learn's PCA) and places the query with the same projection. A text
query usually lands apart from the images: CLIP's two encoders fill two separate
cones of the space (the "modality gap", Liang et al., 2022), and only the directions
within them carry the match.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explain.heatmaps import figure_to_image, fit, new_figure
from runtime import settings
from runtime.files import shown_model
from runtime.inputs import Range, check_text, load_image
from runtime.messages import InputError

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.001, 1.0
TEMPERATURE = Range(MIN_TEMPERATURE, MAX_TEMPERATURE, integer=False)  # the similarity matrix's slider too
MAX_MAP_POINTS = 2000  # points drawn on the map; PCA itself uses the whole gallery
MAX_THUMBNAILS = 60
# The figures' words, in English; the UI passes them in the page's language
# (ui/locales/<locale>/explain.json, "figure.*"), with the same names and fields.
WORDS = {
    "cosine": "cosine similarity",
    "softmax": "softmax over texts, τ = {temperature}",
    "gallery": "images of the collection",
    "query": "query: {label}",
    "query_image": "query: your image",
    "axis": "PC {n} ({share} of the variance)",
}
IMAGE_QUERY = "image"  # embedding_map's label for a query that is an image


def parse_texts(texts: str | Sequence[str]) -> list[str]:
    """One text per line (commas may appear inside a text), or a list; unique, in order."""
    if isinstance(texts, str):
        texts = texts.splitlines()
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"`texts` must be text with one entry per line, or a list, not {type(texts).__name__}.")
    parsed = list(dict.fromkeys(check_text(t, "text") for t in texts if isinstance(t, str) and t.strip()))
    if not parsed:
        raise InputError("no_texts")
    if len(parsed) > settings.MAX_MATRIX_TEXTS:
        raise InputError(
            "too_many_texts",
            limit=settings.MAX_MATRIX_TEXTS,
            count=len(parsed),
        )
    return parsed


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable for any temperature)."""
    import torch

    return torch.from_numpy(np.asarray(logits, np.float64)).softmax(dim=-1).numpy()


def probabilities(cosine: np.ndarray, temperature: float) -> np.ndarray:
    temperature = TEMPERATURE.check("temperature", temperature)
    return softmax(np.asarray(cosine, np.float64) / temperature)


def similarity_matrix(pipe, images: Sequence, texts: str | Sequence[str], temperature: float | None = None):
    """Cosine similarity of every image with every text, and per image the softmax over
    the texts at ``temperature`` (None: the model's learned one, as zero-shot uses).
    Returns (record, the images as loaded)."""
    import torch

    if not images:
        raise InputError("no_images")
    if len(images) > settings.MAX_MATRIX_IMAGES:
        raise InputError(
            "matrix_too_many_images",
            limit=settings.MAX_MATRIX_IMAGES,
            count=len(images),
        )
    names = [
        Path(str(image)).name if isinstance(image, (str, Path)) else f"image {i + 1}" for i, image in enumerate(images)
    ]
    loaded = [load_image(image) for image in images]
    texts = parse_texts(texts)
    cosine = pipe.embed_images(loaded) @ pipe.embed_texts(texts).T  # (N, M) of unit vectors
    with torch.inference_mode():
        scale = pipe.model.logit_scale.exp().float().cpu()
    logit_scale = float(scale)
    if temperature is None:
        # Exactly /classify's computation: logits = exp(t) * cosine.
        probs = (torch.from_numpy(cosine) * scale).softmax(dim=-1).numpy()
        temperature = 1.0 / logit_scale
    else:
        probs = probabilities(cosine, temperature)
    return {
        "images": names,
        "texts": texts,
        "cosine": cosine.astype(float).tolist(),
        "probabilities": probs.astype(float).tolist(),
        "temperature": float(temperature),
        "learned_temperature": 1.0 / logit_scale,
        "logit_scale": logit_scale,
        "model": shown_model(getattr(pipe, "model_id", "")),
    }, loaded


def matrix_figure(
    record: dict, images: Sequence = (), temperature: float | None = None, words: dict[str, str] | None = None
):
    """The cosine matrix and the probabilities at ``temperature`` (the record's when
    None), side by side, numbers in the cells, image thumbnails along the rows; titled
    with ``words`` (``WORDS``' names, in the page's language)."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    cosine = np.asarray(record["cosine"])
    temperature = record["temperature"] if temperature is None else temperature
    probs = probabilities(cosine, temperature) if temperature != record["temperature"] else record["probabilities"]
    n, m = cosine.shape
    figure = new_figure(4 + 2.2 * m, 1.2 + 0.75 * n)
    texts = [t if len(t) <= 28 else t[:27] + "…" for t in record["texts"]]
    words = {**WORDS, **(words or {})}
    panels = [
        (words["cosine"], cosine, "viridis"),
        (words["softmax"].format(temperature=f"{temperature:.3g}"), probs, "magma"),
    ]
    for k, (title, values, cmap) in enumerate(panels):
        ax = figure.add_subplot(1, 2, k + 1)
        values = np.asarray(values)
        ax.imshow(values, cmap=cmap, aspect="auto", vmin=values.min(), vmax=max(values.max(), values.min() + 1e-9))
        for i in range(n):
            for j in range(m):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white",
                    bbox=dict(boxstyle="round,pad=0.15", fc="black", alpha=0.35, lw=0),
                )
        ax.set_xticks(range(m), texts, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(n), record["images"] if k == 0 else [""] * n, fontsize=8)
        ax.set_title(title, fontsize=10)
        if k == 0 and images:  # thumbnails left of the row names
            shift = 30 + 5.5 * max(len(name) for name in record["images"])
            for i, image in enumerate(images):
                box = OffsetImage(np.asarray(fit(image, 48)), zoom=0.8)
                ax.add_artist(
                    AnnotationBbox(
                        box,
                        (-0.5, i),
                        xybox=(-shift, 0),
                        boxcoords="offset points",
                        frameon=False,
                        annotation_clip=False,
                    )
                )
    figure.tight_layout()
    return figure_to_image(figure)


def embedding_map(
    paths: Sequence[Path],
    matrix: np.ndarray,
    query: np.ndarray,
    label: str,
    top_k: int = 5,
    words: dict[str, str] | None = None,
):
    """PCA of the gallery's (N, D) embeddings with the (D,) ``query`` (a text, ``label``,
    or an image, ``IMAGE_QUERY``) projected too; returns (record, image). The ``top_k``
    nearest images are linked to the query; ``words`` as in ``matrix_figure``."""
    from sklearn.decomposition import PCA

    if len(paths) < 3:
        raise InputError("map_too_few", count=len(paths))
    pca = PCA(n_components=2, random_state=0).fit(matrix)
    points = pca.transform(matrix)  # (N, 2)
    placed = pca.transform(query[None, :])[0]
    scores = matrix @ query
    nearest = np.argsort(-scores, kind="stable")[:top_k]
    variance = pca.explained_variance_ratio_.tolist()
    record = {
        "query": {"label": label, "x": float(placed[0]), "y": float(placed[1])},
        "explained_variance": variance,
        "points": [
            {"name": Path(p).name, "x": float(x), "y": float(y), "score": float(s)}
            for p, (x, y), s in zip(paths, points, scores, strict=True)
        ],
        "nearest": [Path(paths[i]).name for i in nearest],
    }
    words = {**WORDS, **(words or {})}
    return record, _map_figure(paths, points, placed, nearest, label, variance, words)


def _map_figure(paths, points, placed, nearest, label, variance, words):
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    figure = new_figure(7.5, 6)
    ax = figure.add_subplot(1, 1, 1)
    shown = np.arange(len(points))
    if len(shown) > MAX_MAP_POINTS:
        shown = np.random.default_rng(0).choice(shown, MAX_MAP_POINTS, replace=False)
    ax.scatter(points[shown, 0], points[shown, 1], s=12, c="#6366f1", alpha=0.5, label=words["gallery"])
    thumbs = list(dict.fromkeys([*nearest.tolist(), *shown[:MAX_THUMBNAILS].tolist()]))[:MAX_THUMBNAILS]
    for i in thumbs:
        try:
            thumb = fit(load_image(paths[i]), 40)
        except (ValueError, TypeError, OSError):
            continue
        ax.add_artist(
            AnnotationBbox(
                OffsetImage(np.asarray(thumb), zoom=0.75),
                points[i],
                frameon=i in nearest,
                pad=0.1,
                bboxprops=dict(edgecolor="#f59e0b", lw=2),
            )
        )
    for i in nearest:
        ax.plot([placed[0], points[i, 0]], [placed[1], points[i, 1]], color="#f59e0b", lw=1, alpha=0.7)
    ax.scatter(
        [placed[0]],
        [placed[1]],
        marker="*",
        s=320,
        c="#ef4444",
        edgecolors="black",
        zorder=5,
        label=words["query_image"] if label == IMAGE_QUERY else words["query"].format(label=label[:40]),
    )
    ax.set_xlabel(words["axis"].format(n=1, share=f"{variance[0]:.0%}"))
    ax.set_ylabel(words["axis"].format(n=2, share=f"{variance[1]:.0%}"))
    ax.legend(loc="best", fontsize=8)
    xs = np.append(points[:, 0], placed[0])
    ys = np.append(points[:, 1], placed[1])
    pad_x, pad_y = 0.1 * (np.ptp(xs) or 1), 0.1 * (np.ptp(ys) or 1)
    ax.set_xlim(xs.min() - pad_x, xs.max() + pad_x)
    ax.set_ylim(ys.min() - pad_y, ys.max() + pad_y)
    figure.tight_layout()
    return figure_to_image(figure)
