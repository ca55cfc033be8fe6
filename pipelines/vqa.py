"""Visual question answering with BLIP or ViLT.

- BLIP (Li et al., 2022) encodes the image with a ViT, encodes the question with a
  text encoder that cross-attends to the image, and *generates* the answer with a
  text decoder, so it can answer in words it was never given as a class.
- ViLT (Kim et al., 2021, "ViLT: Vision-and-Language Transformer Without
  Convolution or Region Supervision") feeds image patches and question tokens
  through one transformer and *classifies* over the 3,129 most common VQAv2 answers.

Speed: weights in the loader's dtype (bfloat16 on CPUs with native bfloat16); with
``quantize=True`` BLIP's text encoder and decoder run with int8 weights. Lists of
images and questions are answered in batches of inputs of the same shape (same
question length), so every answer is the one the pair gets alone: BLIP's decoder
attends to every question position, padding included.
"""

from __future__ import annotations

import torch
from PIL import Image

from pipelines.limits import MAX_QUESTION_CHARS
from pipelines.limits import VQA as LIMITS
from pipelines.vlm import SUPPORTED as VLM_FAMILIES  # chat models, asked to caption or answer
from runtime.inputs import check_text, load_image, note_truncation
from runtime.precision import float_outputs, fused_vit_attention, quantize_int8
from runtime.scripts import ScriptCheck

SUPPORTED = ("blip", "vilt")


class VQAPipeline:
    def __init__(
        self,
        model,
        processor,
        model_type: str,
        model_id: str = "",
        quantize: bool = False,
        scripts: ScriptCheck | None = None,
    ):
        self.model = model.eval()
        self.processor = processor
        self.model_type = model_type
        self.model_id = model_id
        self.scripts = scripts or ScriptCheck()  # the question's scripts: a notice for one it can't read
        self.pixel_dtype = next(model.parameters()).dtype
        if model_type == "blip":
            fused_vit_attention(model.vision_model)
        if quantize and model_type == "blip":  # vision encoder as loaded, text side in int8
            self.pixel_dtype = model.vision_model.dtype
            for part in (model.text_encoder, model.text_decoder):
                quantize_int8(part.float())
            float_outputs(model.vision_model)

    @classmethod
    def from_pretrained(
        cls,
        model_id: str,
        *,
        revision: str = "main",
        device: str = "cpu",
        dtype=torch.float32,
        local_files_only=False,
        quantize: bool = False,
        scripts: ScriptCheck | None = None,
    ) -> VQAPipeline:
        from transformers import AutoConfig, AutoProcessor, BlipForQuestionAnswering, ViltForQuestionAnswering

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:  # a chat model is loaded as one (pipelines/cache.py: served_as)
            raise ValueError(
                f"VQA supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model. A chat model "
                f"({', '.join(VLM_FAMILIES)}) is asked through VLMVQAPipeline (pipelines/vlm_tasks.py)."
            )
        model_class = BlipForQuestionAnswering if model_type == "blip" else ViltForQuestionAnswering
        quantize = quantize and model_type == "blip"  # ViLT has no decoder: one pass, bfloat16 is enough
        model = model_class.from_pretrained(
            model_id, dtype=torch.float32 if quantize else dtype, device_map=device, **hub
        )
        if quantize:  # int8 is quantised from the float32 weights; the vision encoder is then cast
            model.vision_model.to(dtype)
        processor = AutoProcessor.from_pretrained(model_id, **hub)
        return cls(model, processor, model_type, model_id, quantize=quantize, scripts=scripts)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device) -> VQAPipeline:
        self.model.to(device)
        return self

    def check_question(self, question: str) -> str:
        """The question, checked; a notice says when it is longer than the model reads."""
        question = check_text(question, "question", MAX_QUESTION_CHARS)
        self.scripts.check(question, "question")
        note_truncation(self.processor.tokenizer, question, self.processor.tokenizer.model_max_length, "question")
        return question

    def preprocess(self, image, question: str) -> tuple[Image.Image, str]:
        """One checked (image, question) pair, ready for ``forward``: the image loaded and
        converted, the question checked (a notice says when it is longer than the model
        reads). The checks of every call run here, once."""
        return load_image(image), self.check_question(question)

    @torch.inference_mode()
    def forward(self, pairs: list[tuple[Image.Image, str]], max_new_tokens: int = 10, num_beams: int = 3) -> list[str]:
        """The answers for pairs from ``preprocess``, in batches of pairs of the same shapes."""
        LIMITS["max_new_tokens"].check("max_new_tokens", max_new_tokens)
        LIMITS["num_beams"].check("num_beams", num_beams)
        # Each pair: pixel_values (1, 3, H, W), input_ids (1, T), truncated to the text
        # model's length (40 tokens for ViLT). Pairs of the same shapes form a batch.
        items = [self.processor(images=i, text=q, return_tensors="pt", truncation=True) for i, q in pairs]
        groups: dict[tuple, list[int]] = {}
        for n, item in enumerate(items):
            groups.setdefault(tuple((k, tuple(v.shape)) for k, v in item.items()), []).append(n)
        answers = [""] * len(items)
        for indices in groups.values():
            inputs = {k: torch.cat([items[n][k] for n in indices]).to(self.device) for k in items[indices[0]]}
            inputs["pixel_values"] = inputs["pixel_values"].to(self.pixel_dtype)
            for n, answer in zip(indices, self._answer(inputs, max_new_tokens, num_beams), strict=True):
                answers[n] = answer
        return answers

    def __call__(
        self, image: Image.Image | str | list, question: str | list[str], max_new_tokens: int = 10, num_beams: int = 3
    ) -> str | list[str]:
        """The answer to ``question`` about ``image``, or a list of answers for lists of
        images and questions (answered in batches)."""
        # 1. Check inputs
        batched = isinstance(image, list)
        images, questions = (image, question) if batched else ([image], [question])
        if not isinstance(questions, list) or len(questions) != len(images):
            raise ValueError(f"Give one question per image: got {len(images)} images and {question!r}.")
        pairs = [self.preprocess(i, q) for i, q in zip(images, questions, strict=True)]
        # 2. Answer
        answers = self.forward(pairs, max_new_tokens, num_beams)
        return answers if batched else answers[0]

    def _answer(self, inputs: dict, max_new_tokens: int, num_beams: int) -> list[str]:
        if self.model_type == "vilt":
            logits = self.model(**inputs).logits  # (B, num_answers)
            return [self.model.config.id2label[int(i)] for i in logits.argmax(-1)]
        output_ids = self.model.generate(
            **inputs, max_new_tokens=int(max_new_tokens), num_beams=int(num_beams), use_cache=True
        )
        return [text.strip() for text in self.processor.batch_decode(output_ids, skip_special_tokens=True)]
