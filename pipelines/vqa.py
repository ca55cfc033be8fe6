"""Visual question answering with BLIP or ViLT.

- BLIP (Li et al., 2022) encodes the image with a ViT, encodes the question with a
  text encoder that cross-attends to the image, and *generates* the answer with a
  text decoder, so it can answer in words it was never given as a class.
- ViLT (Kim et al., 2021, "ViLT: Vision-and-Language Transformer Without
  Convolution or Region Supervision") feeds image patches and question tokens
  through one transformer and *classifies* over the 3,129 most common VQAv2 answers.
"""

from __future__ import annotations

import torch
from PIL import Image

from pipelines.inputs import check_number, check_text, load_image, note_truncation

SUPPORTED = ("blip", "vilt")
MAX_QUESTION_CHARS = 500


class VQAPipeline:
    def __init__(self, model, processor, model_type: str, model_id: str = ""):
        self.model = model.eval()
        self.processor = processor
        self.model_type = model_type
        self.model_id = model_id

    @classmethod
    def from_pretrained(
        cls, model_id: str, *, revision: str = "main", device: str = "cpu", dtype=torch.float32, local_files_only=False
    ) -> VQAPipeline:
        from transformers import AutoConfig, AutoProcessor, BlipForQuestionAnswering, ViltForQuestionAnswering

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:
            raise ValueError(f"VQA supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model.")
        model_class = BlipForQuestionAnswering if model_type == "blip" else ViltForQuestionAnswering
        model = model_class.from_pretrained(model_id, dtype=dtype, device_map=device, **hub)
        return cls(model, AutoProcessor.from_pretrained(model_id, **hub), model_type, model_id)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @torch.inference_mode()
    def __call__(self, image: Image.Image | str, question: str, max_new_tokens: int = 10, num_beams: int = 3) -> str:
        # 1. Check inputs
        image = load_image(image)
        question = check_text(question, "question", MAX_QUESTION_CHARS)
        check_number("max_new_tokens", max_new_tokens, 1, 50)
        check_number("num_beams", num_beams, 1, 8)

        # 2. Preprocess: pixel_values (1, 3, H, W), input_ids (1, T); truncated to the
        # text model's length (40 tokens for ViLT)
        note_truncation(self.processor.tokenizer, question, self.processor.tokenizer.model_max_length, "question")
        inputs = self.processor(images=image, text=question, return_tensors="pt", truncation=True).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)

        # 3. Answer
        if self.model_type == "vilt":
            logits = self.model(**inputs).logits  # (1, num_answers)
            return self.model.config.id2label[int(logits[0].argmax())]
        output_ids = self.model.generate(**inputs, max_new_tokens=int(max_new_tokens), num_beams=int(num_beams))
        return self.processor.decode(output_ids[0], skip_special_tokens=True).strip()
