"""Processors for images alone, for the families whose library processor also wants a
video processor that needs torchvision.

Qwen3-VL and Qwen3.5 ship one processor for images and videos (``Qwen3VLProcessor``). Its
image half, the Qwen2-VL image processor, has a Pillow backend (``Qwen2VLImageProcessorPil``,
which ``AutoImageProcessor`` picks when torchvision is missing); only its video half needs
torchvision, and the app sends no video. ``QwenImageProcessor`` is that processor without the
video half, read from the checkpoint's own files (preprocessor_config.json, the tokenizer and
the chat template), so the family loads on a CPU-only PyTorch. Where torchvision is
installed, ``load_processor`` returns the library's own processor, as the model card loads it.
"""

from __future__ import annotations

import importlib.util

from transformers import AutoProcessor, Qwen3VLProcessor

# Families whose processor needs torchvision for its video half only.
IMAGE_ONLY = ("qwen3_vl", "qwen3_5")


class QwenImageProcessor(Qwen3VLProcessor):
    """``Qwen3VLProcessor`` with an image processor and a tokenizer, no video processor:
    the same image tokens (``<|vision_start|><|image_pad|> x n<|vision_end|>``), the same
    ``pixel_values`` (patches, 3 x 2 x 16 x 16) and ``image_grid_thw``, the same chat template."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        # The library's attributes are read from this signature: image_processor and tokenizer.
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def load_processor(model_id: str, model_type: str, **hub):
    """The processor of ``model_id`` (a ``model_type`` checkpoint): the library's own, or for
    the Qwen families without torchvision, the image-only one above from the same files."""
    if model_type in IMAGE_ONLY and not has_torchvision():
        return QwenImageProcessor.from_pretrained(model_id, **hub)
    return AutoProcessor.from_pretrained(model_id, **hub)
