"""Pipelines whose model runs on a server that speaks the OpenAI-compatible API
(runtime/backends.py), behind the same methods and results as the in-process ones, so
the tabs, the API and the classroom's rules don't change:

- ``RemoteChatPipeline``: ``ChatPipeline`` through ``/v1/chat/completions``, streamed,
  images sent as ``image_url`` data URLs (PNG: the pixels the in-process model reads);
- ``RemoteCaptionPipeline`` and ``RemoteVQAPipeline``: that chat model asked to caption or
  to answer in a word or a phrase, as ``pipelines/vlm_tasks.py`` asks the in-process one;
- ``RemoteSpeechRecognitionPipeline``: ``/v1/audio/transcriptions``, the clip sent as the
  16 kHz WAV the in-process Whisper reads, 30 s window by window;
- ``RemoteTextToImagePipeline``: ``/v1/images/generations``, one request per image and seed,
  the app's safety filter on the prompt before and on each image after.

The checks on the inputs are the in-process pipelines' own, run here before anything is
sent. What only the model's insides give (the probability of every token when the server
returns no ``logprobs``, attention maps, timestamps) is None or absent, never made up.
"""

from __future__ import annotations

import base64
import io
import math
import threading
import warnings
from collections.abc import Iterator

from pipelines.speech_recognition import SpeechRecognitionPipeline
from pipelines.text_to_image import TextToImagePipeline
from pipelines.vlm import TOP_ALTERNATIVES, ChatPipeline
from pipelines.vlm_tasks import CAPTION_INSTRUCTION, VLMCaptionPipeline, VLMVQAPipeline, _language
from runtime import settings
from runtime.backends import Backend, BackendError, client, needs_local_model, talking_to
from runtime.inputs import notify
from runtime.messages import Notice, said
from runtime.scripts import ScriptCheck

# The longest answer a server may send for max_tokens tokens, on average per token (English
# averages about 4 characters a token; the longest tokens of common vocabularies about 30):
# past it the server is not answering what was asked, and the answer is cut and refused.
MAX_CHARS_PER_TOKEN = 32
# A caption prompt can't start a remote model's answer (the API has no prefill), so the
# instruction asks for it.
CAPTION_START_INSTRUCTION = {
    "en": 'Describe this image in one sentence, beginning with "{start}".',
    "zh": "用一句话描述这张图片，以“{start}”开头。",
}


def image_url(image) -> dict:
    """An ``image_url`` content part: the image as a PNG data URL (lossless)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()},
    }


class RemoteChatPipeline(ChatPipeline):
    """``ChatPipeline`` on a server: the same checks, the same results (``_result``'s keys)."""

    def __init__(self, backend: Backend, scripts: ScriptCheck | None = None):
        self.backend = backend
        self.model_id = backend.model
        self.model_type = "remote"
        self.quantized = False
        self.scripts = scripts or ScriptCheck()
        self.max_context = settings.CHAT_MAX_CONTEXT

    device = property(lambda self: "remote")

    def to(self, device):
        return self

    @staticmethod
    def messages(turns: list[dict], system_prompt: str | None = None) -> list[dict]:
        """The conversation in the OpenAI format: each message's images first, then its text."""
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        for turn in turns:
            if turn["role"] == "assistant":
                messages.append({"role": "assistant", "content": turn["text"]})
                continue
            content = [image_url(image) for image in turn["images"]]
            if turn["text"] or not content:
                content.append({"type": "text", "text": turn["text"]})
            messages.append({"role": "user", "content": content})
        return messages

    def request(self, messages: list[dict], options: dict) -> dict:
        """The body of a chat completion: greedy is temperature 0; sampling sends top_p and the seed."""
        body = dict(
            model=self.backend.model,
            messages=messages,
            max_tokens=options["max_new_tokens"],
            temperature=options["temperature"],
            logprobs=True,
            top_logprobs=TOP_ALTERNATIVES,
        )
        if options["temperature"] > 0:
            body.update(top_p=options["top_p"], seed=options["seed"])
        return body

    def _checked(self, turns, system_prompt, options: dict):
        options = self.check_options(**options)
        turns, system_prompt = self.check_conversation(turns, system_prompt)
        return options, turns, self.messages(turns, system_prompt)

    def __call__(
        self, turns: list[dict], system_prompt: str | None = None, stop: threading.Event | None = None, **options
    ) -> dict:
        options, turns, messages = self._checked(turns, system_prompt, options)
        with talking_to(self.backend):
            reply = client(self.backend).chat.completions.create(**self.request(messages, options))
            choice = reply.choices[0]
            answer = choice.message.content or ""
            self._check_length(len(answer), 1, options["max_new_tokens"])
            logprobs = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        return self._remote_result(answer, logprobs, reply.usage, options, turns, stop)

    def _check_length(self, chars: int, pieces: int, max_tokens: int) -> None:
        """Refuse (``BackendError``) an answer of ``chars`` characters in ``pieces`` streamed
        pieces that ``max_tokens`` tokens can't be: longer than they can spell, or in more
        pieces than tokens (each holds one at least; one more for a last flush). The text so
        far is joined at each piece, so their number and length bound that work."""
        if chars > max_tokens * MAX_CHARS_PER_TOKEN or pieces > max_tokens + 1:
            raise BackendError("server_overlong", self.backend, tokens=max_tokens)

    def stream(
        self, turns: list[dict], system_prompt: str | None = None, stop: threading.Event | None = None, **options
    ) -> Iterator[dict]:
        """As ``ChatPipeline.stream``: the text so far after each piece, then the result."""
        options, turns, messages = self._checked(turns, system_prompt, options)
        max_tokens = options["max_new_tokens"]
        pieces: list[str] = []
        logprobs: list = []
        usage, answered, length = None, False, 0
        with talking_to(self.backend) as call:  # retried until it starts; one deadline for the whole call
            stream = client(self.backend).chat.completions.create(**self.request(messages, options), stream=True)
        with talking_to(self.backend, pieces, call), stream:  # never retried: a lost connection is a cut answer
            for chunk in stream:
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                answered, choice = True, chunk.choices[0]
                if choice.logprobs is not None and getattr(choice.logprobs, "content", None):
                    logprobs += choice.logprobs.content[: max_tokens - len(logprobs)]  # one per token asked, at most
                if choice.delta is not None and choice.delta.content:
                    pieces.append(choice.delta.content)
                    length += len(choice.delta.content)
                    self._check_length(length, len(pieces), max_tokens)
                    yield {"answer": "".join(pieces).strip(), "done": False}
                if stop is not None and stop.is_set():
                    break  # closing the stream tells the server to stop generating
        if not answered:  # no chunk, or chunks without choices: not an answer, even an empty one
            raise BackendError("server_garbled", self.backend, reason=said("reply_no_answer"))
        yield {**self._remote_result("".join(pieces), logprobs or None, usage, options, turns, stop), "done": True}

    def _remote_result(self, answer: str, logprobs, usage, options: dict, turns: list[dict], stop) -> dict:
        """``ChatPipeline._result``'s keys: token probabilities from ``logprobs`` where the
        server sent them (else empty), the prompt's token count from ``usage`` where sent."""
        tokens = []
        for item in (logprobs or [])[: options["max_new_tokens"]]:  # one per token asked, whatever was sent
            tokens.append(
                {
                    "token": item.token,
                    "id": None,
                    "special": False,
                    "probability": round(math.exp(item.logprob), 4),
                    "alternatives": [
                        {"token": alt.token, "probability": round(math.exp(alt.logprob), 4)}
                        for alt in (item.top_logprobs or [])[:TOP_ALTERNATIVES]
                    ],
                }
            )
        return {
            "answer": answer.strip(),
            "tokens": tokens,
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "image_tokens": None,  # counted only by the server
            "images": sum(len(turn["images"]) for turn in turns),
            "messages_used": len(turns),
            "messages_dropped": 0,  # the server refuses a conversation longer than its context
            "stopped": bool(stop is not None and stop.is_set()),
            "context": None,
            "options": options,
            "server": self.backend.describe(),
        }

    def complete(
        self,
        image,
        instruction: str,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 0.9,
        seed: int | None = None,
    ) -> str:
        """One answer to one image and one instruction (Caption and Ask)."""
        options = dict(
            max_new_tokens=int(max_new_tokens), temperature=float(temperature), top_p=float(top_p), seed=seed
        )
        turns = [{"role": "user", "text": instruction, "images": [image]}]
        with talking_to(self.backend):
            reply = client(self.backend).chat.completions.create(**self.request(self.messages(turns), options))
            answer = reply.choices[0].message.content or ""
        self._check_length(len(answer), 1, options["max_new_tokens"])
        return answer.strip()


def _no_beams(num_beams: int) -> None:
    if int(num_beams) > 1:
        notify(
            Notice(
                "no_beams",
                name="num_beams",
                value=int(num_beams),
            )
        )


class _RemoteTask:
    """What the VLM adapters of pipelines/vlm_tasks.py ask the chat model, sent to its server."""

    backend = property(lambda self: self.chat.backend)
    model = property(lambda self: None)
    processor = property(lambda self: None)

    def answer(
        self,
        image,
        instruction: str,
        start: str | None = None,
        max_new_tokens: int = 30,
        num_beams: int = 1,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 0.9,
        seed: int | None = None,
    ) -> str:
        """``_VLMTask.answer`` on the server: greedy unless sampled, a caption's start already in
        the instruction (see ``RemoteCaptionPipeline.instruction``)."""
        _no_beams(num_beams)
        return self.chat.complete(
            image, instruction, max_new_tokens, temperature if do_sample else 0.0, top_p, seed if do_sample else None
        )


class RemoteCaptionPipeline(_RemoteTask, VLMCaptionPipeline):
    """``VLMCaptionPipeline`` with the chat model on a server."""

    def instruction(self, prompt: str | None, language: str | None = None) -> str:
        language = language or _language(prompt)
        if prompt:
            return CAPTION_START_INSTRUCTION[language].format(start=prompt)
        return CAPTION_INSTRUCTION[language]


class RemoteVQAPipeline(_RemoteTask, VLMVQAPipeline):
    """``VLMVQAPipeline`` with the chat model on a server."""


class RemoteSpeechRecognitionPipeline:
    """``SpeechRecognitionPipeline``'s call on a server: the transcript of a clip, the
    language given or as the server detected it, and one chunk for the whole clip (the
    API's plain reply has no timestamps)."""

    sampling_rate = 16_000  # what Whisper reads; the clip is resampled here, as in the process
    window_seconds = 30

    def __init__(self, backend: Backend):
        self.backend = backend
        self.model_id = backend.model
        self.model_type = "remote"

    device = property(lambda self: "remote")

    def to(self, device):
        return self

    is_multilingual = True  # the server's model decides what it reads; codes are checked here
    check_inputs = SpeechRecognitionPipeline.check_inputs  # the in-process checks

    def windows(self, waveform) -> list[tuple[int, int]]:
        """(start, end) sample ranges of at most ``window_seconds``: a server's Whisper reads one
        30 s window and drops the rest (``transformers serve`` does), so a longer clip is sent
        window by window, each cut at the quietest 100 ms of its last 5 s so no word is cut."""
        import numpy as np

        rate, longest = self.sampling_rate, self.window_seconds * self.sampling_rate
        frame, ranges, start = rate // 10, [], 0
        while len(waveform) - start > longest:
            search = waveform[start + longest - 5 * rate : start + longest]  # the window's last 5 s
            energy = np.square(search[: len(search) // frame * frame].reshape(-1, frame)).mean(axis=1)
            end = start + longest - 5 * rate + int(np.argmin(energy)) * frame + frame // 2
            ranges.append((start, end))
            start = end
        return [*ranges, (start, len(waveform))]

    def __call__(self, audio, language: str | None = None, task: str = "transcribe", callback=None) -> dict:
        """As ``SpeechRecognitionPipeline.__call__``: one chunk per window sent (see ``windows``),
        timed by where the window lies in the clip."""
        import soundfile as sf

        from runtime.audio import load_audio

        language = self.check_inputs(language, task)
        waveform = load_audio(audio, self.sampling_rate)  # checked, mixed down, resampled: (samples,)
        duration = len(waveform) / self.sampling_rate
        options = {"language": language} if language else {}
        api = client(self.backend).audio
        endpoint = api.translations if task == "translate" else api.transcriptions
        chunks = []
        for start, end in self.windows(waveform):
            if callback is not None:
                callback(start / self.sampling_rate, duration)
            buffer = io.BytesIO()
            sf.write(buffer, waveform[start:end], self.sampling_rate, format="WAV", subtype="FLOAT")
            with talking_to(self.backend):
                reply = endpoint.create(
                    model=self.backend.model, file=("clip.wav", buffer.getvalue(), "audio/wav"), **options
                )
                text = reply if isinstance(reply, str) else reply.text
            if not isinstance(text, str):
                raise BackendError("server_garbled", self.backend, reason=said("reply_no_transcript"))
            if text.strip():
                timestamp = (round(start / self.sampling_rate, 2), round(end / self.sampling_rate, 2))
                chunks.append({"text": text.strip(), "timestamp": timestamp})
        if callback is not None:
            callback(duration, duration)
        return {"text": " ".join(chunk["text"] for chunk in chunks), "language": language or "auto", "chunks": chunks}


class RemoteTextToImagePipeline:
    """``TextToImagePipeline``'s call on a server with ``/v1/images/generations`` (vLLM-Omni,
    SGLang Diffusion): the same checks and defaults; the safety filter runs here, on the
    prompt before and on every image after. Image i is requested with seed + i, one request
    each, so any one of them can be made again alone, as in the process."""

    size_multiple = 8

    def __init__(self, backend: Backend, safety=None, defaults: dict | None = None):
        from pipelines.safety import SafetyFilter

        self.backend = backend
        self.model_id = backend.model
        self.safety = safety or SafetyFilter(on=False)
        self.defaults = {
            "num_inference_steps": 25,
            "guidance_scale": 7.5,
            "width": 512,
            "height": 512,
            **(defaults or {}),
        }
        self.scripts = ScriptCheck()
        self.taesd = None

    device = property(lambda self: "remote")

    def to(self, device):
        return self

    # The in-process checks and defaults (they read ``size_multiple`` and ``defaults`` only).
    check_inputs = TextToImagePipeline.check_inputs
    resolve = TextToImagePipeline.resolve

    def check_budget(self, *args) -> None:
        """No megapixel-step budget here: the server has its own hardware and limits, and
        BACKEND_DEADLINE bounds the call."""

    def __call__(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        seed: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        width: int | None = None,
        height: int | None = None,
        num_images: int = 1,
        callback=None,
        decoder: str = "vae",
        latents_callback=None,
    ) -> list:
        from runtime.inputs import check_seed, check_text

        prompt = check_text(prompt, "prompt")
        self.safety.check_prompt(prompt)
        self.safety.checker()  # loaded (in this process), or refused, before the server works
        if decoder != "vae" or latents_callback is not None:
            needs_local_model(self, "latents")
        negative = (
            check_text(negative_prompt, "negative prompt") if negative_prompt and negative_prompt.strip() else None
        )
        steps, guidance, width, height = self.resolve(num_inference_steps, guidance_scale, width, height, num_images)
        seed = check_seed(seed)
        images = []
        for i in range(int(num_images)):
            extra = {"seed": (seed + i) % 2**32, "num_inference_steps": steps, "guidance_scale": guidance}
            if negative:
                extra["negative_prompt"] = negative
            with talking_to(self.backend):
                reply = client(self.backend).images.generate(
                    model=self.backend.model,
                    prompt=prompt,
                    n=1,
                    size=f"{width}x{height}",
                    response_format="b64_json",
                    extra_body=extra,
                )
                data = base64.b64decode(reply.data[0].b64_json, validate=True)
            images.append(self._image(data, width, height))
            if callback is not None:
                callback(i + 1, int(num_images))
        images, hidden = self.safety.screen(images)
        if hidden:
            notify(
                Notice(
                    "images_hidden",
                    hidden=hidden,
                    count=len(images),
                )
            )
        return images

    def _image(self, data: bytes, width: int, height: int):
        """The server's PNG (or other image) as RGB, read as an upload is (runtime/inputs.py:
        its format, the pixel limit, the decode budget), and only when it has the size asked
        for, which is read from its header before a pixel is decoded."""
        from PIL import Image

        from runtime.inputs import DECODING, IMAGE_FORMATS

        asked, not_image = f"{width}x{height}", said("skip_not_image")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # its size is checked below
                opened = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:  # over twice the pixel limit
            raise BackendError(
                "server_image", self.backend, got=f"over {2 * settings.MAX_IMAGE_PIXELS:,} pixels", asked=asked
            ) from None
        except Exception:  # noqa: BLE001 - whatever the bytes were, they are not an image
            raise BackendError("server_garbled", self.backend, reason=not_image) from None
        with opened:
            if opened.format not in IMAGE_FORMATS:
                raise BackendError("server_garbled", self.backend, reason=not_image)
            if opened.size != (width, height):
                raise BackendError("server_image", self.backend, got=f"{opened.width}x{opened.height}", asked=asked)
            with DECODING.reserve(width * height * 8, "image"):  # decoded and converted: 8 bytes a pixel
                try:
                    return opened.convert("RGB")
                except Exception:  # noqa: BLE001 - truncated or damaged
                    raise BackendError("server_garbled", self.backend, reason=not_image) from None
