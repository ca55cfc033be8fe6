"""Drawing what the explain views compute: attention maps laid over the image, and
matplotlib figures turned into images (PNG in the UI, plain images over the API).

matplotlib does the colour maps and the figures; Pillow does the resampling. Both
are imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

# Longest side of a heatmap image: big enough to see, small enough to send in a gallery.
HEATMAP_SIDE = 384
COLORMAP = "inferno"


def fit(image: Image.Image, max_side: int = HEATMAP_SIDE) -> Image.Image:
    """``image`` scaled so its longest side is ``max_side``, aspect ratio kept."""
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.convert("RGB").resize(size, Image.Resampling.BICUBIC)


def normalise(heat: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1]; a flat map becomes all zeros (nothing stands out)."""
    heat = np.asarray(heat, dtype=np.float32)
    low, high = float(heat.min()), float(heat.max())
    return (heat - low) / (high - low) if high > low else np.zeros_like(heat)


def overlay(image: Image.Image, heat: np.ndarray, max_side: int = HEATMAP_SIDE, alpha: float = 0.55) -> Image.Image:
    """Lay the (h, w) map ``heat`` over ``image``: the map is stretched over the whole
    image (the models see the image resized to a square or a patch grid of about the
    same aspect), so the result has the image's aspect ratio."""
    import matplotlib

    base = fit(image, max_side)
    # Bilinear upsampling of the float map ('F' mode keeps the values unquantised).
    grid = Image.fromarray(normalise(heat), mode="F").resize(base.size, Image.Resampling.BILINEAR)
    rgba = matplotlib.colormaps[COLORMAP](np.clip(np.asarray(grid), 0, 1))  # (H, W, 4) floats
    colored = Image.fromarray((rgba[..., :3] * 255).round().astype(np.uint8))
    return Image.blend(base, colored, alpha)


def figure_to_image(figure) -> Image.Image:
    """Render a matplotlib figure (made with ``new_figure``) to a PIL image."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    buffer.seek(0)
    image = Image.open(buffer)
    image.load()
    return image.convert("RGB")


# Fonts with Chinese characters, tried after DejaVu Sans (matplotlib's default, which has
# none): labels in Chinese draw in the first one installed instead of as empty boxes.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Serif CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)


@functools.cache
def _use_cjk_fallback() -> None:
    import matplotlib
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", *(name for name in CJK_FONTS if name in installed)]


def new_figure(width: float, height: float):
    """A matplotlib figure outside pyplot: no global state, so handlers in several
    threads can draw at once, and no display is needed. Chinese labels fall back to an
    installed CJK font (``CJK_FONTS``)."""
    from matplotlib.figure import Figure

    _use_cjk_fallback()
    return Figure(figsize=(width, height))
