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

MMS-TTS has no Mandarin voice (Meta trained Mandarin speech recognition, not synthesis),
so Chinese is read by Kokoro (hexgrad, 2025; the ``kokoro`` package): an 82 M-parameter
StyleTTS 2 model with an iSTFTNet decoder, 24 kHz, whose Chinese voices read the
phonemes of ``misaki``'s Mandarin G2P (jieba words, pypinyin tones). Numbers are
turned into Chinese numerals first ("3只猫" -> "三只猫", with ``cn2an``).
``TextToSpeechPipeline.from_pretrained`` picks the class from the checkpoint's config.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch

from pipelines.limits import TEXT_TO_SPEECH as LIMITS
from runtime import settings
from runtime.inputs import check_seed, check_text, half_width
from runtime.messages import InputError
from runtime.scripts import main_script, scripts_of

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
        cls,
        model_id: str,
        *,
        revision: str = "main",
        device: str = "cpu",
        dtype=torch.float32,
        local_files_only=False,
        defaults: dict | None = None,
    ) -> TextToSpeechPipeline | KokoroPipeline:
        """A VITS voice (MMS-TTS), or a Kokoro voice when the checkpoint is Kokoro's."""
        from transformers import AutoConfig, VitsModel, VitsTokenizer
        from transformers.utils import is_phonemizer_available

        hub = dict(revision=revision, local_files_only=local_files_only)
        config = _read_config(model_id, **hub)
        if "istftnet" in config:  # Kokoro's config: no model_type, an iSTFTNet decoder
            return KokoroPipeline.from_pretrained(
                model_id, config, device=device, voice=(defaults or {}).get("voice"), **hub
            )
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
        speaking_rate = LIMITS["speaking_rate"].check("speaking_rate", speaking_rate)
        seed = check_seed(seed)

        # 2. Normalize: spell numbers; the tokenizer lower-cases and drops what the voice
        # has no letter for (punctuation, other scripts). Nothing left = nothing to say.
        spoken = self.spell_numbers(text)
        if not self.tokenizer.prepare_for_tokenization(spoken)[0].strip():
            raise InputError(
                "voice_cant_read",
                text=text[:40],
                voice=self.tokenizer.language or "MMS",
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


def _read_config(model_id: str, revision: str = "main", local_files_only: bool = False) -> dict:
    """The checkpoint's config.json (a local directory's, or the Hub's through its cache)."""
    return json.loads(Path(_file(model_id, "config.json", revision, local_files_only)).read_text(encoding="utf-8"))


def _file(model_id: str, filename: str, revision: str = "main", local_files_only: bool = False) -> str:
    if Path(model_id).is_dir():
        path = Path(model_id) / filename
        if not path.is_file():
            raise ValueError(f"{model_id} has no {filename}.")
        return str(path)
    from huggingface_hub import hf_hub_download

    return hf_hub_download(model_id, filename, revision=revision, local_files_only=local_files_only)


# --- Chinese: Kokoro ---------------------------------------------------------------

KOKORO_VOICE = "zf_xiaobei"  # a Mandarin voice of hexgrad/Kokoro-82M (voices/zf_xiaobei.pt)
KOKORO_WEIGHTS = "kokoro-v1_0.pth"
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")


def chinese_numbers(text: str) -> str:
    """Arabic numbers in Chinese text as Chinese numerals, as a reader says them: "3只猫"
    -> "三只猫", "12.5%" -> "百分之十二点五", "2026年" -> "二零二六年" (cn2an's "an2cn"
    transform, which reads years digit by digit). Full-width digits count as digits."""
    import cn2an

    return cn2an.transform(half_width(text), "an2cn")


class KokoroPipeline:
    """A Kokoro voice for Chinese: misaki's Mandarin G2P, then Kokoro's KModel."""

    def __init__(self, model, voice_pack: torch.Tensor, model_id: str = "", voice: str = KOKORO_VOICE):
        from misaki import zh

        self.model = model.eval()
        self.voice_pack = voice_pack  # (510, 1, 256): one style vector per phoneme count
        self.model_id = model_id
        self.voice = voice
        self.g2p = zh.ZHG2P()  # jieba words, pypinyin tones -> Kokoro's phoneme symbols

    @classmethod
    def from_pretrained(
        cls,
        model_id: str,
        config: dict,
        *,
        revision: str = "main",
        device: str = "cpu",
        voice: str | None = None,
        local_files_only=False,
    ) -> KokoroPipeline:
        try:
            from kokoro import KModel
        except ImportError:
            raise ValueError("Kokoro voices need the kokoro package: `pip install kokoro misaki[zh] cn2an`.") from None
        voice = voice or KOKORO_VOICE
        hub = dict(revision=revision, local_files_only=local_files_only)
        weights = KModel.MODEL_NAMES.get(model_id, KOKORO_WEIGHTS)
        if Path(model_id).is_dir():
            weights = next((p.name for p in sorted(Path(model_id).glob("*.pth"))), weights)
        # Float32: the model is small, and its iSTFT decoder is not made for half precision.
        model = KModel(repo_id=model_id, config=config, model=_file(model_id, weights, **hub))
        pack = torch.load(_file(model_id, f"voices/{voice}.pt", **hub), map_location="cpu", weights_only=True)
        return cls(model.to(device), pack.to(device), model_id, voice)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def to(self, device) -> KokoroPipeline:
        self.model.to(device)
        self.voice_pack = self.voice_pack.to(device)
        return self

    @property
    def sampling_rate(self) -> int:
        return 24_000

    def phonemes(self, text: str) -> list[str]:
        """Kokoro's phonemes for ``text``, a sentence at a time (it reads at most 510); none
        for text without Chinese (misaki passes other scripts through unconverted)."""
        chunks = []
        text = chinese_numbers(text)
        if main_script(text) is None or "Han" not in scripts_of(text):
            return []
        for sentence in filter(str.strip, _SENTENCE_END.split(text)):
            phonemes, _ = self.g2p(sentence)
            phonemes = "".join(p for p in (phonemes or "") if p in self.model.vocab)
            for start in range(0, len(phonemes), 500):
                if any(c.isalpha() for c in phonemes[start : start + 500]):  # not punctuation alone
                    chunks.append(phonemes[start : start + 500])
        return chunks

    @torch.inference_mode()
    def __call__(self, text: str, speaking_rate: float = 1.0, seed: int | None = 0) -> dict:
        """Read ``text`` aloud in the Chinese voice; the same result as the VITS voices:
        ``{"audio": float32 waveform in [-1, 1], "sampling_rate": 24000}``."""
        # 1. Check inputs
        text = check_text(text, "text to speak", settings.MAX_SPEECH_CHARS)
        speaking_rate = LIMITS["speaking_rate"].check("speaking_rate", speaking_rate)
        seed = check_seed(seed)

        # 2. Normalize and convert to phonemes: Chinese numerals, then tones and sounds
        chunks = self.phonemes(text)
        if not chunks:
            raise InputError(
                "voice_cant_read_chinese",
                text=text[:40],
            )

        # 3. Synthesize each sentence; the decoder's sine source draws noise, so seed it
        pieces = []
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            for phonemes in chunks:
                style = self.voice_pack[len(phonemes) - 1]  # (1, 256)
                output = self.model(phonemes, style, speaking_rate, return_output=True)
                pieces.append(output.audio.float().reshape(-1).cpu().numpy())

        # 4. Post-process: one waveform, in [-1, 1]
        audio = np.clip(np.concatenate(pieces), -1.0, 1.0)
        return {"audio": np.ascontiguousarray(audio, dtype=np.float32), "sampling_rate": self.sampling_rate}
