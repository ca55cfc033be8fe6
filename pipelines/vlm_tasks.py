"""Caption and VQA with a vision-language model: the Chat tab's model (pipelines/vlm.py)
asked to describe the image, or to answer in a word or a phrase, behind the same
methods as ``CaptionPipeline`` and ``VQAPipeline``, so the Caption and Ask tabs, their
endpoints and the evaluation run a VLM like BLIP, side by side on one image.

The request is one user message, the image then the instruction, written by the model's
own chat template. A caption prompt ("a photography of") starts the model's answer, as
it starts BLIP's caption, and is part of the text returned. Chinese text gets the
instruction in Chinese, so a model that reads Chinese (Qwen, Gemma 3) answers in Chinese;
a caption without a prompt is asked in the ``language`` given (the Caption tab gives the
page's, for a model that writes Chinese: ``writes_chinese``).

Unlike BLIP, a VLM's prompt holds hundreds of image tokens, so lists of images are
answered one at a time: padded into one batch, each answer would depend on its
neighbours' lengths.
"""

from __future__ import annotations

import torch
from PIL import Image

from pipelines.limits import MAX_QUESTION_CHARS, check_caption_options
from pipelines.limits import VQA as LIMITS
from pipelines.vlm import ChatPipeline, with_tokens
from runtime.inputs import check_flag, check_seed, check_text, load_image
from runtime.scripts import language_of

# The instructions, in the language of the text the user gave (English without any).
# VQA: the short-answer prompt of LLaVA's VQAv2 evaluation (Liu et al. 2023), which the
# usual answer normalisation (evaluation/metrics.py) then scores against the references.
CAPTION_INSTRUCTION = {"en": "Describe this image in one sentence.", "zh": "用一句话描述这张图片。"}
VQA_INSTRUCTION = {
    "en": "{question}\nAnswer the question using a single word or phrase.",
    "zh": "{question}\n请用一个词或短语回答。",
}


def _language(text: str | None) -> str:
    return "zh" if text and language_of(text) == "zh" else "en"


class _VLMTask:
    """A chat model asked one thing about one image."""

    def __init__(self, chat: ChatPipeline):
        self.chat = chat

    # The attributes the tabs, Show the code and the Models panel read, as the BLIP pipelines have them.
    model = property(lambda self: self.chat.model)
    processor = property(lambda self: self.chat.processor)
    model_id = property(lambda self: self.chat.model_id)
    model_type = property(lambda self: self.chat.model_type)
    scripts = property(lambda self: self.chat.scripts)
    device = property(lambda self: self.chat.device)

    @property
    def writes_chinese(self) -> bool:
        """Whether the model reads (and so is asked, and answers, in) Chinese."""
        return self.scripts.reads_all("中文")

    def to(self, device):
        self.chat.to(device)
        return self

    def answer_start(self, start: str) -> str:
        """``start`` as the answer begins with it: SmolVLM's prompt ends "Assistant:" and its
        answers begin with a space; Gemma 3's prompt ends with a new line."""
        return " " + start if self.model_type == "idefics3" else start

    def encode(self, image: Image.Image, instruction: str, start: str | None = None):
        """The model's inputs (see ``ChatPipeline.encode``) for the image and the instruction,
        with ``start``'s tokens after the generation prompt (the answer begins with them),
        and where the answer begins: the prompt's length without ``start``."""
        messages = self.chat.messages([{"role": "user", "text": instruction, "images": [image]}])
        inputs = self.chat.encode(messages)
        answer_start = inputs["input_ids"].shape[1]
        if start:
            start = self.answer_start(start)
            inputs = with_tokens(
                inputs,
                self.processor.tokenizer(start, add_special_tokens=False, split_special_tokens=True)["input_ids"],
            )
        return inputs, answer_start

    @torch.inference_mode()
    def generate(
        self,
        inputs,
        answer_start: int,
        max_new_tokens: int,
        num_beams: int = 1,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
    ) -> str:
        """The answer: the tokens after ``answer_start`` (a caption's start included), decoded."""
        generation = dict(max_new_tokens=int(max_new_tokens), num_beams=int(num_beams), do_sample=bool(do_sample))
        if do_sample:
            generation.update(temperature=float(temperature), top_p=float(top_p), top_k=None)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # seeded without disturbing the global generator
            torch.manual_seed(check_seed(seed))
            output_ids = self.model.generate(**inputs, **generation)  # (1, T + new)
        return self.processor.tokenizer.decode(output_ids[0, answer_start:], skip_special_tokens=True).strip()

    def answer(
        self,
        image: Image.Image,
        instruction: str,
        start: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 1,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
    ) -> str:
        """The model's answer to one image and one instruction (``start``: how it begins)."""
        inputs, answer_start = self.encode(image, instruction, start)
        return self.generate(inputs, answer_start, max_new_tokens, num_beams, do_sample, temperature, top_p, seed)


class VLMCaptionPipeline(_VLMTask):
    """``CaptionPipeline``'s methods, with a VLM asked to describe the image."""

    def check_inputs(self, max_new_tokens, num_beams, temperature, top_p) -> None:
        check_caption_options(max_new_tokens, num_beams, temperature, top_p)  # BLIP's ranges: the same controls

    def options(
        self,
        prompt: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 3,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
        language: str | None = None,
    ) -> dict:
        """The decoding options, checked, as ``forward`` takes them (``CaptionPipeline.options``);
        ``language`` ("en", "zh") picks the instruction's language, which otherwise follows the prompt's."""
        self.check_inputs(max_new_tokens, num_beams, temperature, top_p)
        do_sample = check_flag("do_sample", do_sample)
        seed = check_seed(seed)
        given = prompt is not None and not (isinstance(prompt, str) and not prompt.strip())
        prompt = check_text(prompt, "caption prompt") if given else None
        if prompt is not None:
            self.scripts.check(prompt, "caption prompt")
        options = dict(prompt=prompt, max_new_tokens=int(max_new_tokens), num_beams=int(num_beams))
        if language is not None:
            if language not in CAPTION_INSTRUCTION:
                raise ValueError(f"`language` must be one of {list(CAPTION_INSTRUCTION)}, not {language!r}.")
            options["language"] = language
        if do_sample:
            options.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), seed=seed)
        return options

    def preprocess(self, image, **options) -> tuple[Image.Image, dict]:
        return load_image(image), self.options(**options)

    def instruction(self, prompt: str | None, language: str | None = None) -> str:
        return CAPTION_INSTRUCTION[language or _language(prompt)]

    def forward(
        self,
        images: list[Image.Image],
        prompt: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 3,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
        language: str | None = None,
    ) -> list[str]:
        """The captions of images from ``preprocess`` with its checked ``options``, one at a time."""
        instruction = self.instruction(prompt, language)
        return [
            self.answer(image, instruction, prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed)
            for image in images
        ]

    def __call__(self, image, **options) -> str | list[str]:
        """The caption of ``image``, or a list of captions for a list of images."""
        images = [load_image(i) for i in image] if isinstance(image, list) else [load_image(image)]
        captions = self.forward(images, **self.options(**options))
        return captions if isinstance(image, list) else captions[0]


class VLMVQAPipeline(_VLMTask):
    """``VQAPipeline``'s methods, with a VLM asked for a short answer. Greedy by default:
    each beam would read the hundreds of image tokens again."""

    def check_question(self, question: str) -> str:
        question = check_text(question, "question", MAX_QUESTION_CHARS)
        self.scripts.check(question, "question")
        return question

    def preprocess(self, image, question: str) -> tuple[Image.Image, str]:
        return load_image(image), self.check_question(question)

    def instruction(self, question: str) -> str:
        return VQA_INSTRUCTION[_language(question)].format(question=question)

    def forward(self, pairs: list[tuple[Image.Image, str]], max_new_tokens: int = 10, num_beams: int = 1) -> list[str]:
        """The answers for pairs from ``preprocess``, one at a time."""
        LIMITS["max_new_tokens"].check("max_new_tokens", max_new_tokens)
        LIMITS["num_beams"].check("num_beams", num_beams)
        return [
            self.answer(image, self.instruction(question), None, max_new_tokens, num_beams) for image, question in pairs
        ]

    def __call__(self, image, question, max_new_tokens: int = 10, num_beams: int = 1) -> str | list[str]:
        batched = isinstance(image, list)
        images, questions = (image, question) if batched else ([image], [question])
        if not isinstance(questions, list) or len(questions) != len(images):
            raise ValueError(f"Give one question per image: got {len(images)} images and {question!r}.")
        answers = self.forward(
            [self.preprocess(i, q) for i, q in zip(images, questions, strict=True)], max_new_tokens, num_beams
        )
        return answers if batched else answers[0]
