"""Chat about images with a vision-language model (VLM).

A VLM's vision encoder cuts each image into patches; a connector turns them into
vectors of the language model's width and puts them *into its input sequence*, between
the words, so the language model reads image tokens like words and answers freely:

- SmolVLM (``idefics3``; Marafioti et al. 2025): a SigLIP encoder on 512 px tiles of
  the image plus a global view, a pixel shuffle merging 4 x 4 patches into 64 tokens
  per tile, SmolLM2 as the language model. English.
- Gemma 3 (``gemma3``; Gemma Team 2025): a SigLIP encoder on an 896 px view, its
  patches average-pooled into 256 tokens, Gemma 3 as the language model. 140 languages.
- Qwen3-VL (``qwen3_vl``; Qwen Team 2025) and Qwen3.5 (``qwen3_5``, natively multimodal,
  its language model mixing Gated DeltaNet linear attention with full attention): a ViT on
  16 px patches at the image's own aspect ratio (dynamic resolution, within ``max_pixels``),
  each 2 x 2 block of patches merged into one token. Chinese, English and many more.

A conversation is a list of turns ``{"role": "user" | "assistant", "text": str,
"images": [path | PIL image, ...]}``. The processor's own chat template writes the
prompt (``apply_chat_template``), so each family gets the format it was trained on.
A conversation longer than the context drops its oldest exchanges, with a notice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import torch

from pipelines.chat_budget import MAX_MESSAGE_CHARS, check_counts, fit_context
from pipelines.limits import CHAT as LIMITS
from runtime import settings
from runtime.batching import DEVICE_LOCK
from runtime.inputs import InputTypeError, check_seed, check_text, is_random_seed, load_image
from runtime.messages import InputError, said
from runtime.scripts import ScriptCheck

SUPPORTED = ("idefics3", "gemma3", "qwen3_vl", "qwen3_5")
QWEN = ("qwen3_vl", "qwen3_5")  # dynamic resolution, image_grid_thw, a 2 x 2 patch merger
TOP_ALTERNATIVES = 5  # the likeliest tokens shown beside each generated one


def with_tokens(inputs, ids: list[int]) -> dict:
    """``inputs`` with the text tokens ``ids`` after the prompt: input_ids grown, the
    attention mask with ones, token type ids (Gemma 3's image marks) with text's zeros."""
    length = inputs["input_ids"].shape[1]
    extra = torch.tensor([list(ids)], dtype=inputs["input_ids"].dtype, device=inputs["input_ids"].device)
    grown = dict(inputs)
    for key, value in inputs.items():
        if torch.is_tensor(value) and value.dim() == 2 and value.shape[-1] == length:
            fill = extra if key == "input_ids" else torch.ones_like(extra) if key == "attention_mask" else extra * 0
            grown[key] = torch.cat([value, fill.to(value.dtype)], dim=-1)
    return grown


class ChatPipeline:
    def __init__(
        self,
        model,
        processor,
        model_type: str,
        model_id: str = "",
        scripts: ScriptCheck | None = None,
        quantize: bool = False,
    ):
        self.model = model.eval()
        self.pixel_dtype = model.dtype  # what the vision encoder reads
        self.quantized = bool(quantize)
        if quantize:  # the language model in int8 (float32 activations), the vision side as loaded
            self.pixel_dtype = self._quantize_language_model(model)
        self.processor = processor
        self.model_type = model_type
        self.model_id = model_id
        self.scripts = scripts or ScriptCheck()  # the messages' scripts: a notice for one it can't read
        text_config = model.config.get_text_config()
        self.max_context = min(settings.CHAT_MAX_CONTEXT, int(getattr(text_config, "max_position_embeddings", 4096)))

    @staticmethod
    def _quantize_language_model(model) -> torch.dtype:
        """The language model and its head with dynamic int8 weights (runtime/precision.py),
        the vision side kept in the loaded dtype, its output cast to the float32 that int8
        layers take (SmolVLM: encoder and connector; Qwen: the ViT with its merger). Returns
        the dtype of the pixels the encoder reads."""
        from runtime.precision import float_outputs, quantize_int8

        if hasattr(model.model, "visual"):  # Qwen3-VL, Qwen3.5: the ViT returns a ModelOutput
            vision, text = model.model.visual, model.model.language_model
            float_outputs(vision)
        else:  # SmolVLM (Idefics3): the connector returns a tensor
            vision, text = model.model.vision_model, model.model.text_model
            model.model.connector.register_forward_hook(lambda _module, _args, output: output.float())
        vision_dtype = vision.dtype
        text.float()
        model.lm_head.float()  # quantised as a copy: Qwen ties it to the embeddings, which stay float32
        quantize_int8(text)
        model.lm_head = quantize_int8(torch.nn.Sequential(model.lm_head))[0]
        return vision_dtype

    @classmethod
    def from_pretrained(
        cls,
        model_id: str,
        *,
        revision: str = "main",
        device: str = "cpu",
        dtype=torch.float32,
        local_files_only=False,
        scripts: ScriptCheck | None = None,
        defaults: dict | None = None,
        quantize: bool = False,
    ) -> ChatPipeline:
        """``defaults`` (the registry's, per checkpoint): ``image_side``, the longest side
        SmolVLM resizes an image to before tiling it into 512 px tiles (its card's default is
        2,048: 13 tiles, 832 tokens for a 4:3 photo; 1,024 makes 5 tiles, 320 tokens);
        ``max_pixels``, the most pixels a Qwen model reads an image at (a 32 x 32 px block per
        token: 401,408 is 392 tokens); and ``int8_language_model``: with ``quantize`` (the CPU
        fast path), the language model's Linear layers in int8, for the checkpoints where the
        benchmark found it faster with the same greedy tokens (docs/vlm.md)."""
        from transformers import AutoConfig, AutoModelForImageTextToText

        from runtime.processors import load_processor

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:
            raise ValueError(f"Chat supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model.")
        quantize = bool(quantize and (defaults or {}).get("int8_language_model") and model_type in ("idefics3", *QWEN))
        model = AutoModelForImageTextToText.from_pretrained(model_id, dtype=dtype, device_map=device, **hub)
        processor = load_processor(model_id, model_type, **hub)  # Qwen's without torchvision: images only
        side = (defaults or {}).get("image_side")
        if side and model_type == "idefics3":
            processor.image_processor.size = {"longest_edge": int(side)}
        if (pixels := (defaults or {}).get("max_pixels")) and model_type in QWEN:
            processor.image_processor.size = {**dict(processor.image_processor.size), "longest_edge": int(pixels)}
        return cls(model, processor, model_type, model_id, scripts=scripts, quantize=quantize)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device) -> ChatPipeline:
        self.model.to(device)
        return self

    # --- 1. Check inputs ------------------------------------------------------------

    def check_options(self, max_new_tokens=128, temperature=0.0, top_p=0.9, seed=-1) -> dict:
        """The decoding options, checked: temperature 0 is greedy decoding; a seed of -1
        draws one (returned, so the answer can be replayed)."""
        options = {
            "max_new_tokens": LIMITS["max_new_tokens"].check("max_new_tokens", max_new_tokens),
            "temperature": LIMITS["temperature"].check("temperature", temperature),
            "top_p": LIMITS["top_p"].check("top_p", top_p),
        }
        options["seed"] = check_seed(seed) if options["temperature"] > 0 or not is_random_seed(seed) else None
        return options

    def check_conversation(self, turns, system_prompt: str | None = None) -> tuple[list[dict], str | None]:
        """The turns with their text checked and their images loaded, and the system prompt
        (None when empty). User and assistant alternate, starting and ending with the user."""
        if not isinstance(turns, list) or not turns:
            raise InputError("chat_empty")
        check_counts(turns)  # messages, images and lengths, before anything is decoded
        checked = []
        for n, turn in enumerate(turns):
            if not isinstance(turn, dict):
                raise InputTypeError("chat_turn_type", number=n + 1, kind=type(turn).__name__)
            role = turn.get("role")
            expected = "user" if n % 2 == 0 else "assistant"
            if role != expected:
                raise InputError("chat_turn_order", number=n + 1, expected=said(f"speaker_{expected}"), role=repr(role))
            images = turn.get("images") or []
            if not isinstance(images, (list, tuple)):
                images = [images]
            if role == "assistant":
                text = turn.get("text") or ""
                if not isinstance(text, str):
                    raise InputTypeError("chat_text_type", number=n + 1, kind=type(text).__name__)
            elif n == len(turns) - 1:
                text = check_text(turn.get("text"), "message", MAX_MESSAGE_CHARS)
            else:  # an earlier message may be images alone
                text = turn.get("text") or ""
                text = check_text(text, "message", MAX_MESSAGE_CHARS) if str(text).strip() else ""
            loaded = [load_image(image, f"image {i + 1} of message {n + 1}") for i, image in enumerate(images)]
            checked.append({"role": role, "text": text, "images": loaded})
        if checked[-1]["role"] != "user":
            raise InputError("chat_last_not_user")
        self.scripts.check(checked[-1]["text"], "message")
        system = None
        if system_prompt is not None and str(system_prompt).strip():
            system = check_text(system_prompt, "system prompt", MAX_MESSAGE_CHARS)
        return checked, system

    # --- 2. Preprocess ----------------------------------------------------------------

    @staticmethod
    def messages(turns: list[dict], system_prompt: str | None = None) -> list[dict]:
        """The conversation in the chat template's format: each message's images first, then its text."""
        messages = [{"role": "system", "content": [{"type": "text", "text": system_prompt}]}] if system_prompt else []
        for turn in turns:
            content = [{"type": "image", "image": image} for image in turn["images"]]
            if turn["text"] or not content:
                content.append({"type": "text", "text": turn["text"]})
            messages.append({"role": turn["role"], "content": content})
        return messages

    def encode(self, messages: list[dict]):
        """input_ids (1, T) with the image tokens in place, attention_mask (1, T), and the
        pixel values of every image (SmolVLM: (1, tiles, 3, 512, 512); Gemma 3: (images, 3, 896, 896);
        Qwen: (patches, 3 x 2 x 16 x 16) with image_grid_thw (images, 3), each image's
        (frames, rows, columns) of patches)."""
        # Qwen3.5 thinks before it answers unless told not to: a chat turn gets the answer.
        template = {"enable_thinking": False} if self.model_type == "qwen3_5" else {}
        inputs = self.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt", **template
        )
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.pixel_dtype)
        return inputs

    def prepare(self, turns: list[dict], system_prompt: str | None, max_new_tokens: int):
        """The inputs for the longest recent part of the conversation that fits the context
        with room for ``max_new_tokens``, and how many messages were dropped (oldest first,
        a user message with its answer at a time; pipelines/chat_budget.py)."""
        return fit_context(self, turns, system_prompt, max_new_tokens)

    def _checked(self, turns, system_prompt, options: dict):
        """Steps 1 and 2 of every call: the checked options and turns, the model's inputs
        for the part of the conversation that fits, and how many messages were dropped."""
        options = self.check_options(**options)
        turns, system_prompt = self.check_conversation(turns, system_prompt)
        inputs, dropped = self.prepare(turns, system_prompt, options["max_new_tokens"])
        return options, turns, inputs, dropped

    # --- 3. Generate ------------------------------------------------------------------

    def _generate(self, inputs, options: dict, stop: threading.Event | None = None, streamer=None):
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Stop(StoppingCriteria):  # the Stop button: ends generation after the current token
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), stop is not None and stop.is_set(), dtype=torch.bool)

        sampled = options["temperature"] > 0
        generation = dict(
            max_new_tokens=options["max_new_tokens"],
            do_sample=sampled,
            return_dict_in_generate=True,
            output_scores=True,
            stopping_criteria=StoppingCriteriaList([_Stop()]),
            streamer=streamer,
        )
        if sampled:
            generation.update(temperature=options["temperature"], top_p=options["top_p"], top_k=None)
        # One computation on the device at a time; sampling is seeded without disturbing
        # the global generator.
        devices = [self.device] if self.device.type == "cuda" else []
        with DEVICE_LOCK, torch.inference_mode(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(options["seed"] if options["seed"] is not None else 0)
            return self.model.generate(**inputs, **generation)

    # --- 4. Post-process --------------------------------------------------------------

    def _result(self, inputs, output, options: dict, turns: list[dict], dropped: int, stop) -> dict:
        """The answer and what the explain view shows: each new token with its probability
        (after temperature and top-p) and the likeliest alternatives, and what the prompt cost."""
        tokenizer = self.processor.tokenizer
        prompt_length = inputs["input_ids"].shape[1]
        new_ids = output.sequences[0, prompt_length:].tolist()
        special = set(tokenizer.all_special_ids)
        tokens = []
        for step, token_id in enumerate(new_ids[: len(output.scores)]):
            probs = torch.softmax(output.scores[step][0].float(), dim=-1)  # (vocab,)
            top = torch.topk(probs, TOP_ALTERNATIVES)
            tokens.append(
                {
                    "token": tokenizer.decode([token_id]),
                    "id": int(token_id),
                    "special": token_id in special,
                    "probability": round(float(probs[token_id]), 4),
                    "alternatives": [
                        {"token": tokenizer.decode([int(i)]), "probability": round(float(p), 4)}
                        for p, i in zip(top.values, top.indices, strict=True)
                    ],
                }
            )
        image_ids = {getattr(self.model.config, name, None) for name in ("image_token_id", "image_token_index")}
        image_tokens = sum(int((inputs["input_ids"][0] == i).sum()) for i in image_ids if i is not None)
        return {
            "answer": tokenizer.decode(new_ids, skip_special_tokens=True).strip(),
            "tokens": tokens,
            "prompt_tokens": int(prompt_length),
            "image_tokens": image_tokens,
            "images": sum(len(turn["images"]) for turn in turns[dropped:]),
            "messages_used": len(turns) - dropped,
            "messages_dropped": dropped,
            "stopped": bool(stop is not None and stop.is_set()),
            "context": self.max_context,
            "options": options,
        }

    def __call__(
        self, turns: list[dict], system_prompt: str | None = None, stop: threading.Event | None = None, **options
    ) -> dict:
        """The model's answer to the conversation's last message, with what it cost (see ``_result``)."""
        # 1. Check inputs, 2. Preprocess
        options, turns, inputs, dropped = self._checked(turns, system_prompt, options)
        # 3. Generate
        output = self._generate(inputs, options, stop)
        # 4. Post-process
        return self._result(inputs, output, options, turns, dropped, stop)

    def stream(
        self, turns: list[dict], system_prompt: str | None = None, stop: threading.Event | None = None, **options
    ) -> Iterator[dict]:
        """The answer as it is written: ``{"answer": text so far, "done": False}`` after each
        piece of text, then the full result of ``__call__`` with ``"done": True``. Inputs are
        checked before the first yield; setting ``stop`` ends generation after the current token."""
        from transformers import TextIteratorStreamer

        options, turns, inputs, dropped = self._checked(turns, system_prompt, options)
        stop = stop or threading.Event()
        streamer = TextIteratorStreamer(
            self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=settings.CHAT_STREAM_TIMEOUT
        )
        box: dict = {}

        def run():
            try:
                box["output"] = self._generate(inputs, options, stop, streamer)
            except BaseException as error:  # handed to the caller's thread
                box["error"] = error
                streamer.end()

        worker = threading.Thread(target=run, name="chat-generate", daemon=True)
        worker.start()
        text = ""
        try:
            for piece in streamer:
                text += piece
                yield {"answer": text.strip(), "done": False}
        finally:
            stop_early = "output" not in box and "error" not in box
            if stop_early:  # the caller went away (a closed page): end generation
                stop.set()
            worker.join()
        if "error" in box:
            raise box["error"]
        yield {**self._result(inputs, box["output"], options, turns, dropped, stop), "done": True}
