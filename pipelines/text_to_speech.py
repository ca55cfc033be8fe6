"""Text-to-speech with VITS, as trained by Massively Multilingual Speech (MMS-TTS).

VITS (Kim et al., 2021, "Conditional Variational Autoencoder with Adversarial Learning
for End-to-End Text-to-Speech") goes from characters to a waveform in one network: a
transformer encodes the characters, a stochastic duration predictor decides how many
spectrogram frames each one lasts, a normalizing flow turns the stretched text
encoding into an acoustic latent, and a HiFi-GAN decoder upsamples that latent 256x
into audio samples. MMS-TTS (Pratap et al., 2023, "Scaling Speech Technology to
1,000+ Languages") trained one such voice per language on read Bible recordings; its
English voice reads lower-case letters, so numbers are spelled out first.

The duration predictor and the flow draw random noise, so the same text can be read
slightly differently; ``seed`` fixes it (0 by default: the same text sounds the same).
"""

from __future__ import annotations

import re

import numpy as np
import torch

from runtime import settings
from runtime.inputs import check_number, check_seed, check_text

SUPPORTED = ("vits",)
# MMS-TTS names languages by ISO 639-3 code; num2words by ISO 639-1.
NUMBER_LANGUAGES = {"eng": "en", "deu": "de", "fra": "fr", "spa": "es", "por": "pt", "ita": "it", "nld": "nl"}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")  # the comma in 1,000
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class TextToSpeechPipeline:
    def __init__(self, model, tokenizer, model_id: str = ""):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.model_id = model_id

    @classmethod
    def from_pretrained(
        cls, model_id: str, *, revision: str = "main", device: str = "cpu", dtype=torch.float32, local_files_only=False
    ) -> TextToSpeechPipeline:
        from transformers import AutoConfig, VitsModel, VitsTokenizer
        from transformers.utils import is_phonemizer_available

        hub = dict(revision=revision, local_files_only=local_files_only)
        model_type = AutoConfig.from_pretrained(model_id, **hub).model_type
        if model_type not in SUPPORTED:
            raise ValueError(
                f"Text-to-speech supports {SUPPORTED} checkpoints; {model_id!r} is a {model_type!r} model."
            )
        tokenizer = VitsTokenizer.from_pretrained(model_id, **hub)
        if tokenizer.phonemize and not is_phonemizer_available():
            raise ValueError(
                f"{model_id} reads phonemes, not letters: install the phonemizer with "
                "`pip install phonemizer` and `apt-get install espeak-ng`, or pick an MMS-TTS voice."
            )
        # Float32 whatever the device: the flow's spline transforms are unstable in
        # half precision, and the model is small (36 M parameters) anyway.
        model = VitsModel.from_pretrained(model_id, dtype=torch.float32, device_map=device, **hub)
        return cls(model, tokenizer, model_id)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def sampling_rate(self) -> int:
        return self.model.config.sampling_rate  # 16 kHz for MMS-TTS

    def spell_numbers(self, text: str) -> str:
        """Spell numbers out in the voice's language ("3 cats" -> "three cats"): MMS voices read no digits."""
        language = NUMBER_LANGUAGES.get(self.tokenizer.language or "eng")
        if language is None:
            return text
        from num2words import num2words

        def spell(match: re.Match) -> str:
            number = match.group()
            try:
                return " " + num2words(float(number) if "." in number else int(number), lang=language) + " "
            except (OverflowError, NotImplementedError, ValueError):  # beyond num2words' range
                return number

        return " ".join(_NUMBER.sub(spell, _THOUSANDS.sub("", text)).split())

    @torch.inference_mode()
    def __call__(self, text: str, speaking_rate: float = 1.0, seed: int | None = 0) -> dict:
        """Read ``text`` aloud. ``speaking_rate``: 1 is the voice's own pace, 2 twice as fast.

        Returns ``{"audio": float32 waveform (samples,) in [-1, 1], "sampling_rate": int}``,
        like transformers' text-to-audio pipeline.
        """
        # 1. Check inputs
        text = check_text(text, "text to speak", settings.MAX_SPEECH_CHARS)
        speaking_rate = check_number("speaking_rate", speaking_rate, 0.25, 4.0, integer=False)
        seed = check_seed(seed)

        # 2. Normalize: spell numbers; the tokenizer lower-cases and drops what the voice
        # has no letter for (punctuation, other scripts). Nothing left = nothing to say.
        spoken = self.spell_numbers(text)
        if not self.tokenizer.prepare_for_tokenization(spoken)[0].strip():
            raise ValueError(
                f"The text to speak has no letters this voice can pronounce ({text[:40]!r}): the "
                f"{self.tokenizer.language or 'MMS'} voice reads only the letters of its own alphabet."
            )
        # input_ids (1, 2 * characters + 1): each character between blank tokens
        inputs = self.tokenizer(spoken, return_tensors="pt").to(self.device)

        # 3. Synthesize; the checkpoint's own speaking rate is the 1x pace
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            output = self.model(**inputs, speaking_rate=speaking_rate * self.model.config.speaking_rate)

        # 4. Post-process: waveform (1, samples) -> (samples,)
        waveform = output.waveform[0, : int(output.sequence_lengths[0])].float().cpu().numpy()
        return {"audio": np.ascontiguousarray(waveform, dtype=np.float32), "sampling_rate": self.sampling_rate}
