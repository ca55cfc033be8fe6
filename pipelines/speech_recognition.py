"""Speech recognition (and speech translation into English) with Whisper.

Whisper (Radford et al., 2022, "Robust Speech Recognition via Large-Scale Weak
Supervision") is an encoder-decoder transformer trained on 680,000 hours of captioned
audio. The encoder reads a log-mel spectrogram of a 30-second window; the decoder
writes the text after a few task tokens (<|startoftranscript|> <|en|> <|transcribe|>),
and between the words it writes timestamp tokens (<|0.00|> ... <|30.00|>) that cut
the text into timed segments.

Clips longer than 30 seconds are transcribed window by window (long-form
transcription, section 3.8 of the paper, as implemented by transformers'
``WhisperForConditionalGeneration.generate``): each window starts where the last
complete segment of the previous one ended, so no word is cut in half, and a window
whose text looks like a repetition loop (high compression ratio) or a guess (low
log-probability) is decoded again at a higher temperature.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from runtime.audio import load_audio
from runtime.inputs import InputTypeError
from runtime.messages import InputError

SUPPORTED = ("whisper",)
TASKS = ("transcribe", "translate")
# OpenAI's transcribe() defaults for long-form decoding: temperature fallback when a
# window's text compresses too well (a loop) or is too unlikely, and skipping windows
# the model thinks hold no speech.
LONG_FORM = dict(
    temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    compression_ratio_threshold=1.35,  # zlib ratio, as in transformers' docs for long-form
    logprob_threshold=-1.0,
    no_speech_threshold=0.6,
)


class SpeechRecognitionPipeline:
    def __init__(self, model, processor, model_id: str = ""):
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id

    @classmethod
    def from_pretrained(
        cls, model_id: str, *, revision: str = "main", device: str = "cpu", dtype=torch.float32, local_files_only=False
    ) -> SpeechRecognitionPipeline:
        from transformers import AutoConfig, WhisperForConditionalGeneration, WhisperProcessor

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:
            raise ValueError(
                f"Speech recognition supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model."
            )
        model = WhisperForConditionalGeneration.from_pretrained(model_id, dtype=dtype, device_map=device, **hub)
        return cls(model, WhisperProcessor.from_pretrained(model_id, **hub), model_id)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def sampling_rate(self) -> int:
        return self.processor.feature_extractor.sampling_rate  # 16 kHz for every Whisper

    @property
    def window_seconds(self) -> int:
        return self.processor.feature_extractor.chunk_length  # 30

    @property
    def is_multilingual(self) -> bool:
        # English-only checkpoints (whisper-*.en) have no language or task tokens.
        return bool(getattr(self.model.generation_config, "is_multilingual", False))

    def check_inputs(self, language: str | None, task: str) -> str | None:
        """Return the language code to decode in (None: detect it) after checking both."""
        from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE

        if task not in TASKS:
            raise InputError("speech_task", name="task", tasks=str(list(TASKS)), value=repr(task))
        if language is not None and not isinstance(language, str):
            raise InputTypeError("language_type", name="language", value=repr(language))
        language = (language or "auto").strip().lower()
        if language in ("auto", ""):
            language = None
        elif language in TO_LANGUAGE_CODE:  # a name: "english", "mandarin"
            language = TO_LANGUAGE_CODE[language]
        elif language not in TO_LANGUAGE_CODE.values():
            raise InputError(
                "unknown_language",
                name="language",
                value=language,
                codes=", ".join(sorted(set(TO_LANGUAGE_CODE.values()))),
            )
        if not self.is_multilingual:
            if language not in (None, "en") or task == "translate":
                if task == "translate":
                    raise InputError("english_only_translate", model=self.model_id)
                raise InputError("english_only_model", model=self.model_id, language=language)
            return None  # generate() refuses language and task tokens for English-only models
        return language

    @torch.inference_mode()
    def __call__(
        self,
        audio,
        language: str | None = None,
        task: str = "transcribe",
        callback: Callable[[float, float], None] | None = None,
    ) -> dict:
        """Transcribe ``audio`` (a file path or a ``(sampling_rate, array)`` pair).

        ``language``: a code (``"en"``) or name (``"english"``), or None/``"auto"`` to
        detect it; ``task``: ``"transcribe"`` or ``"translate"`` (into English).
        ``callback(done_seconds, total_seconds)`` is called before each 30 s window.

        Returns ``{"text", "language", "chunks": [{"text", "timestamp": (start, end)}]}``,
        timestamps in seconds, like transformers' ASR pipeline with ``return_timestamps=True``.
        """
        # 1. Check inputs; decode, mix down and resample to 16 kHz: waveform (samples,)
        language = self.check_inputs(language, task)
        waveform = load_audio(audio, self.sampling_rate)
        duration = len(waveform) / self.sampling_rate

        # 2. Log-mel features: (1, n_mels, 3000) padded to one window, or the whole
        # clip (1, n_mels, 100 * seconds) for long-form decoding
        long_form = duration > self.window_seconds
        extra = dict(truncation=False, padding="longest") if long_form else {}
        features = self.processor.feature_extractor(
            waveform, sampling_rate=self.sampling_rate, return_tensors="pt", **extra
        ).input_features.to(self.device, self.model.dtype)

        # 3. Language: detected from the first window unless given
        if self.is_multilingual and language is None:
            language = self._detect_language(features)

        # 4. Generate with timestamps; the fallback samples, so seed it without
        # disturbing the global generator
        options = dict(language=language, task=task) if self.is_multilingual else {}
        if long_form:
            options.update(LONG_FORM)
        if callback is not None:
            frames_per_second = self.sampling_rate / self.processor.feature_extractor.hop_length  # 100

            def monitor(progress: torch.Tensor) -> None:  # (batch, 2): frames done, frames in total (padded)
                callback(min(float(progress[0, 0]) / frames_per_second, duration), duration)

            options["monitor_progress"] = monitor
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(0)
            output = self.model.generate(features, return_timestamps=True, return_segments=True, **options)

        # 5. Post-process: one chunk per timed segment, inside the clip
        chunks = self._chunks(output["segments"][0], duration)
        text = "".join(chunk.pop("raw") for chunk in chunks).strip()
        return {"text": text, "language": language or "en", "chunks": chunks}

    def _detect_language(self, features: torch.Tensor) -> str:
        token_id = int(self.model.detect_language(features)[0])  # the most likely <|xx|> token
        token = {i: t for t, i in self.model.generation_config.lang_to_id.items()}[token_id]
        return token.strip("<|>")

    def _chunks(self, segments: list[dict], duration: float) -> list[dict]:
        chunks = []
        for segment in segments:
            start, end = float(segment["start"]), float(segment["end"])
            raw = self.processor.tokenizer.decode(segment["tokens"], skip_special_tokens=True)
            # A segment past the end of the clip is decoded padding, never speech.
            if not raw.strip() or start >= duration:
                continue
            end = min(max(end, start), duration)
            chunks.append({"text": raw.strip(), "timestamp": (round(start, 2), round(end, 2)), "raw": raw})
        return chunks
