"""Image captioning with BLIP.

BLIP (Li et al., 2022, "BLIP: Bootstrapping Language-Image Pre-training for Unified
Vision-Language Understanding and Generation") encodes the image with a ViT and
generates the caption with a BERT-style text decoder that cross-attends to the
image patches. Optionally the caption continues a text prompt ("a photo of").
"""

from __future__ import annotations

import torch
from PIL import Image

from pipelines.inputs import check_flag, check_number, check_seed, check_text, load_image, note_truncation, notify

SUPPORTED = ("blip",)


class CaptionPipeline:
    def __init__(self, model, processor, model_id: str = ""):
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id

    @classmethod
    def from_pretrained(
        cls, model_id: str, *, revision: str = "main", device: str = "cpu", dtype=torch.float32, local_files_only=False
    ) -> CaptionPipeline:
        from transformers import AutoConfig, BlipForConditionalGeneration, BlipProcessor

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:
            raise ValueError(f"Captioning supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model.")
        # device_map places the weights through accelerate as they are read.
        model = BlipForConditionalGeneration.from_pretrained(model_id, dtype=dtype, device_map=device, **hub)
        return cls(model, BlipProcessor.from_pretrained(model_id, **hub), model_id)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def check_inputs(self, max_new_tokens, num_beams, temperature, top_p) -> None:
        check_number("max_new_tokens", max_new_tokens, 1, 100)
        check_number("num_beams", num_beams, 1, 8)
        check_number("temperature", temperature, 0.05, 2.0, integer=False)
        check_number("top_p", top_p, 0.05, 1.0, integer=False)

    @torch.inference_mode()
    def __call__(
        self,
        image: Image.Image | str,
        prompt: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 3,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
    ) -> str:
        # 1. Check inputs
        image = load_image(image)
        self.check_inputs(max_new_tokens, num_beams, temperature, top_p)
        do_sample = check_flag("do_sample", do_sample)
        given = prompt is not None and not (isinstance(prompt, str) and not prompt.strip())
        prompt = check_text(prompt, "caption prompt") if given else None

        # 2. Preprocess: pixel_values (1, 3, H, W); input_ids (1, T) when prompted.
        # The decoder's positions hold the prompt and the new tokens together: more
        # would index past its position embeddings.
        positions = self.model.config.text_config.max_position_embeddings
        if max_new_tokens >= positions:
            notify(f"This model writes at most {positions - 1} tokens; `max_new_tokens` was lowered to that.")
            max_new_tokens = positions - 1
        text_options = {}
        room = positions - int(max_new_tokens) + 1  # [CLS] prompt [SEP]; generate drops the [SEP]
        if prompt is not None and note_truncation(self.processor.tokenizer, prompt, room, "caption prompt"):
            text_options = dict(truncation=True, max_length=room)
        inputs = self.processor(images=image, text=prompt, return_tensors="pt", **text_options).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)

        # 3. Generate; sampling is seeded without disturbing the global generator
        options = dict(max_new_tokens=int(max_new_tokens), num_beams=int(num_beams))
        if do_sample:
            options.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(check_seed(seed))
            output_ids = self.model.generate(**inputs, **options)  # (1, T')

        # 4. Post-process
        return self.processor.decode(output_ids[0], skip_special_tokens=True).strip()
