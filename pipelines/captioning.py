"""Image captioning with BLIP.

BLIP (Li et al., 2022, "BLIP: Bootstrapping Language-Image Pre-training for Unified
Vision-Language Understanding and Generation") encodes the image with a ViT and
generates the caption with a BERT-style text decoder that cross-attends to the
image patches. Optionally the caption continues a text prompt ("a photo of").

Speed: the vision encoder (a ViT-B/16 over 577 patches: most of the FLOPs) runs in the
loader's dtype (bfloat16 on CPUs with native bfloat16); with ``quantize=True`` the text
decoder runs with int8 weights (it is bound by reading its weights once per token);
generation reuses the key/value cache, including the cross-attention keys of the image.
A list of images is captioned as one batch.
"""

from __future__ import annotations

import torch
from PIL import Image

from pipelines.limits import check_caption_options
from pipelines.vlm import SUPPORTED as VLM_FAMILIES  # chat models, asked to caption or answer
from runtime.inputs import check_flag, check_seed, check_text, load_image, note_truncation, notify
from runtime.messages import Notice
from runtime.precision import float_outputs, fused_vit_attention, quantize_int8
from runtime.scripts import ScriptCheck

SUPPORTED = ("blip",)


class CaptionPipeline:
    def __init__(
        self, model, processor, model_id: str = "", quantize: bool = False, scripts: ScriptCheck | None = None
    ):
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.scripts = scripts or ScriptCheck()  # the prompt's scripts: a notice for one BLIP can't read
        fused_vit_attention(self.model.vision_model)
        if quantize:  # vision encoder as loaded, decoder in int8 (float32 activations)
            self.model.text_decoder.float()
            quantize_int8(self.model.text_decoder)
            float_outputs(self.model.vision_model)

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
    ) -> CaptionPipeline:
        from transformers import AutoConfig, BlipForConditionalGeneration, BlipProcessor

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:  # a chat model is loaded as one (pipelines/cache.py: served_as)
            raise ValueError(
                f"Captioning supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model. A chat model "
                f"({', '.join(VLM_FAMILIES)}) is asked through VLMCaptionPipeline (pipelines/vlm_tasks.py)."
            )
        # device_map places the weights through accelerate as they are read; an int8
        # decoder is quantised from the float32 weights, the vision encoder then cast.
        load_dtype = torch.float32 if quantize else dtype
        model = BlipForConditionalGeneration.from_pretrained(model_id, dtype=load_dtype, device_map=device, **hub)
        model.vision_model.to(dtype)
        return cls(model, BlipProcessor.from_pretrained(model_id, **hub), model_id, quantize=quantize, scripts=scripts)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device) -> CaptionPipeline:
        self.model.to(device)
        return self

    def check_inputs(self, max_new_tokens, num_beams, temperature, top_p) -> None:
        check_caption_options(max_new_tokens, num_beams, temperature, top_p)

    def preprocess(self, image, **options) -> tuple[Image.Image, dict]:
        """One checked image and its decoding options for ``forward`` (see ``options``)."""
        return load_image(image), self.options(**options)

    def options(
        self,
        prompt: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 3,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
    ) -> dict:
        """The decoding options, checked (every check of a call runs here, once), as
        ``forward`` takes them. Their values are plain and hashable: requests with the same
        options can run as one batch. Greedy and beam search leave out the sampling ones,
        so those don't split batches; the seed is checked even when unused."""
        self.check_inputs(max_new_tokens, num_beams, temperature, top_p)
        do_sample = check_flag("do_sample", do_sample)
        seed = check_seed(seed)
        prompt, max_new_tokens, text_options = self.prepare_text(prompt, max_new_tokens)
        options = dict(
            prompt=prompt,
            max_new_tokens=max_new_tokens,
            num_beams=int(num_beams),
            truncate_to=text_options.get("max_length"),
        )
        if do_sample:
            options.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), seed=seed)
        return options

    @torch.inference_mode()
    def forward(
        self,
        images: list[Image.Image],
        prompt: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 3,
        truncate_to: int | None = None,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
    ) -> list[str]:
        """The captions of images from ``preprocess`` with its checked ``options``: one batch,
        each caption the one the image gets alone."""
        text_options = dict(truncation=True, max_length=truncate_to) if truncate_to else {}
        generation = dict(max_new_tokens=max_new_tokens, num_beams=num_beams, use_cache=True)
        if do_sample:
            generation.update(do_sample=True, temperature=temperature, top_p=top_p)
            # Each sample draws from its own seeded generator, so sampled captions are
            # made one at a time: batched, they would depend on their neighbours.
            return [self._generate([i], prompt, generation, seed, text_options)[0] for i in images]
        return self._generate(images, prompt, generation, seed, text_options)

    def __call__(self, image: Image.Image | str | list, **options) -> str | list[str]:
        """The caption of ``image``, or a list of captions for a list of images (one batch;
        each caption is the one the image gets alone). ``options``: see ``options``."""
        # 1. Check inputs
        images = [load_image(i) for i in image] if isinstance(image, list) else [load_image(image)]
        checked = self.options(**options)
        # 2. Generate
        captions = self.forward(images, **checked)
        return captions if isinstance(image, list) else captions[0]

    def prepare_text(self, prompt: str | None, max_new_tokens: int) -> tuple[str | None, int, dict]:
        """The checked prompt (None when blank), ``max_new_tokens`` within the decoder's
        positions and the tokenizer options that cut a prompt too long for the rest; a
        notice tells the user when either was shortened."""
        given = prompt is not None and not (isinstance(prompt, str) and not prompt.strip())
        prompt = check_text(prompt, "caption prompt") if given else None
        if prompt is not None:
            self.scripts.check(prompt, "caption prompt")
            self.note_unknown_characters(prompt)
        # The decoder's positions hold the prompt and the new tokens together: more
        # would index past its position embeddings.
        positions = self.model.config.text_config.max_position_embeddings
        if max_new_tokens >= positions:
            notify(
                Notice(
                    "tokens_lowered",
                    name="max_new_tokens",
                    limit=positions - 1,
                )
            )
            max_new_tokens = positions - 1
        text_options = {}
        room = positions - int(max_new_tokens) + 1  # [CLS] prompt [SEP]; generate drops the [SEP]
        if prompt is not None and note_truncation(self.processor.tokenizer, prompt, room, "caption prompt"):
            text_options = dict(truncation=True, max_length=room)
        return prompt, int(max_new_tokens), text_options

    def note_unknown_characters(self, prompt: str) -> None:
        """Tell the user when the tokenizer has no token for some of the prompt's characters
        (BLIP's English WordPiece vocabulary and most Chinese characters): they become
        [UNK], which the decoded caption leaves out, so the caption would not start with
        the prompt as given, silently."""
        tokenizer = self.processor.tokenizer
        if tokenizer.unk_token_id is None:
            return
        if tokenizer.is_fast:  # the characters behind each [UNK]
            encoded = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
            unknown = [
                prompt[start:end]
                for token, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
                if token == tokenizer.unk_token_id
            ]
        else:
            unknown = [word for word in prompt.split() if tokenizer.unk_token in tokenizer.tokenize(word)]
        if unknown:
            words = ("" if all(len(u) == 1 for u in unknown) else " ").join(dict.fromkeys(unknown))
            notify(
                Notice(
                    "prompt_dropped",
                    name="caption prompt",
                    words=words,
                )
            )

    def _generate(self, images: list[Image.Image], prompt: str | None, options: dict, seed, text_options=None):
        # 2. Preprocess: pixel_values (B, 3, H, W); input_ids (B, T) when prompted
        text = [prompt] * len(images) if prompt else None
        inputs = self.processor(images=images, text=text, return_tensors="pt", **(text_options or {})).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.vision_model.dtype)

        # 3. Generate; sampling is seeded without disturbing the global generator
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(check_seed(seed))
            output_ids = self.model.generate(**inputs, **options)  # (B, T')

        # 4. Post-process
        return [text.strip() for text in self.processor.batch_decode(output_ids, skip_special_tokens=True)]
