"""Spoken captions: the Fusion lab's third modality.

Each picture's caption is read aloud by the app's text-to-speech model (VITS, as
trained by MMS-TTS; pipelines/text_to_speech.py). Every caption is recorded in
``TAKES`` takes, each at its own speaking rate and with its own noise seed, so that
pictures of the same concept don't all sound the same, as recordings wouldn't; the
pictures of a concept take turns with the takes. The clips are then encoded by the
encoder of the app's speech-recognition model (Whisper, Radford et al. 2022; pipelines/
speech_recognition.py), which stays frozen, as CLIP does for the pictures and captions:
its frames over each clip are averaged into ``AUDIO_TOKENS`` tokens (what hybrid fusion
attends over) and into one pooled vector. (Whisper reads 30-second windows, so each
clip costs a whole window: takes, not one clip per picture, keep the first run short.)

Nothing is shipped: the clips are made the first time a run asks for audio, the same
every time (the seeds are fixed), and kept on disk beside the other features
(labs/fusion.py's ``FusionLab``), as are their Whisper features. PyTorch is imported only
when something is encoded.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIO_TOKENS = 16  # encoder frames over a clip, averaged into this many tokens
TAKES = 3  # recordings of each caption
RATES = (0.85, 1.2)  # each take's speaking rate is drawn from this range
SPEECH_SEED = 0  # the rates and the voices' noise; the clips never change
SPEECH_VERSION = 1  # part of the caches' names: bump it when the clips change


@dataclass
class SpokenCaptions:
    """The recorded takes, and which one each picture gets."""

    clips: list[np.ndarray]  # float32 waveforms, (samples,) each: one per take
    lines: list[str]  # what each take says
    order: np.ndarray  # (N,) int: the take of each picture
    sampling_rate: int
    model: str  # the text-to-speech model's name

    def clip(self, picture: int) -> np.ndarray:
        return self.clips[self.order[picture]]

    def save(self) -> bytes:
        lengths = np.array([len(c) for c in self.clips])
        samples = np.concatenate(self.clips) if self.clips else np.zeros(0, np.float32)
        pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)  # 16-bit, as a WAV file holds it
        buffer = io.BytesIO()
        np.savez(
            buffer,
            pcm=pcm,
            lengths=lengths,
            lines=np.array(self.lines),
            order=self.order,
            sampling_rate=np.array(self.sampling_rate),
            model=np.array(self.model),
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> SpokenCaptions:
        with np.load(path, allow_pickle=False) as data:
            samples = data["pcm"].astype(np.float32) / 32767
            ends = np.cumsum(data["lengths"])
            clips = [samples[end - length : end] for end, length in zip(ends, data["lengths"], strict=True)]
            return cls(clips, data["lines"].tolist(), data["order"], int(data["sampling_rate"]), str(data["model"]))


@dataclass
class AudioFeatures:
    """Frozen Whisper-encoder features of every picture's spoken caption."""

    audio_tokens: np.ndarray  # (N, AUDIO_TOKENS, D) float32
    audio_pooled: np.ndarray  # (N, D) float32: the mean over the clip's frames
    model: str  # "<text-to-speech model> + <speech-recognition model>"

    def save(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, audio_tokens=self.audio_tokens, audio_pooled=self.audio_pooled, model=np.array(self.model))
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> AudioFeatures:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["audio_tokens"], data["audio_pooled"], str(data["model"]))


def speak(
    tts, captions: Sequence[str], name: str, seed: int = SPEECH_SEED, callback: Callable[[int, int], None] | None = None
) -> SpokenCaptions:
    """Record ``TAKES`` takes of every distinct caption with ``tts`` (a TextToSpeechPipeline,
    called ``name``), each at a speaking rate and with a noise seed drawn from ``seed``,
    and give the pictures (``captions``: one per picture) of each caption the takes in
    turn. The same list, the same clips."""
    rng = random.Random(seed)
    takes: dict[tuple[str, int], int] = {}
    seen: dict[str, int] = {}
    order = []
    for caption in captions:
        key = (caption, seen.get(caption, 0) % TAKES)
        seen[caption] = seen.get(caption, 0) + 1
        order.append(takes.setdefault(key, len(takes)))
    clips = []
    for caption, _take in takes:
        rate = round(rng.uniform(*RATES), 3)
        clips.append(tts(caption, speaking_rate=rate, seed=rng.randrange(2**31))["audio"])
        if callback is not None:
            callback(len(clips), len(takes))
    return SpokenCaptions(clips, [caption for caption, _take in takes], np.array(order), tts.sampling_rate, name)


def encode(
    asr, spoken: SpokenCaptions, name: str, batch_size: int = 8, callback: Callable[[int, int], None] | None = None
) -> AudioFeatures:
    """Run ``asr``'s Whisper encoder (a SpeechRecognitionPipeline, called ``name``) over
    every take once; the features are each picture's (its take's)."""
    import torch  # here, not at import time: the app's page starts without PyTorch

    with torch.inference_mode():
        return _encode(asr, spoken, name, batch_size, callback)


def _encode(asr, spoken: SpokenCaptions, name: str, batch_size: int, callback) -> AudioFeatures:
    import soxr
    import torch

    rate = asr.sampling_rate  # 16 kHz for every Whisper
    clips = [c if spoken.sampling_rate == rate else soxr.resample(c, spoken.sampling_rate, rate) for c in spoken.clips]
    encoder = asr.model.get_encoder()
    extractor = asr.processor.feature_extractor
    # Whisper's encoder halves the 100 mel frames a second: one output frame per 20 ms.
    samples_per_frame = 2 * extractor.hop_length
    tokens, pooled = [], []
    for start in range(0, len(clips), batch_size):
        batch = clips[start : start + batch_size]
        # (B, mel bins, 3000): every Whisper reads a 30 s window, padded with silence
        features = extractor(batch, sampling_rate=rate, return_tensors="pt").input_features
        hidden = encoder(features.to(asr.device, asr.model.dtype)).last_hidden_state.float()  # (B, 1500, D)
        for clip, frames in zip(batch, hidden, strict=True):
            used = frames[: max(1, min(len(frames), math.ceil(len(clip) / samples_per_frame)))]  # (n, D): the speech
            tokens.append(torch.nn.functional.adaptive_avg_pool1d(used.T[None], AUDIO_TOKENS)[0].T)  # (AUDIO_TOKENS, D)
            pooled.append(used.mean(0))
        if callback is not None:
            callback(min(start + batch_size, len(clips)), len(clips))
    order = torch.from_numpy(spoken.order)
    return AudioFeatures(
        torch.stack(tokens)[order].cpu().numpy(), torch.stack(pooled)[order].cpu().numpy(), f"{spoken.model} + {name}"
    )
