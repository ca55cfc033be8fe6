"""Reading and writing audio for the speech pipelines.

Files are decoded and encoded by libsndfile through ``soundfile`` (WAV, FLAC, OGG
Vorbis/Opus, MP3, AIFF, ...); every clip is mixed down to one channel and resampled to
the model's rate with ``soxr`` (the SoX resampler: band-limited, no aliasing). Like
``runtime/inputs.py``, each check raises ``ValueError`` with the rule and the bad
value, so a clip that can't be used gets a message instead of a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from runtime import settings
from runtime.inputs import InputTypeError
from runtime.messages import InputError, said

# Suffixes of the containers libsndfile reads; a file with one of them that still
# fails to open is damaged, anything else is a format we don't read (M4A, WEBM, ...).
AUDIO_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc"}
# Telephone speech is 8 kHz, studio audio at most 192 kHz; a rate outside that range is
# a mislabelled file, and soxr's filters would make from it either nothing audible or
# a huge buffer.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000
# Shorter than this is a click, not a word (Whisper hears 20 ms per output frame).
MIN_SECONDS = 0.1
# A clip whose loudest sample is below this level (dB relative to full scale) is
# silence or a muted microphone; speech peaks around -20 to -3 dBFS. Whisper "hears"
# words in silence, so silence is refused before it reaches the model.
SILENCE_DBFS = -60.0
# How written files are encoded, by suffix: 16-bit PCM is what every browser plays.
WRITE_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def load_audio(audio, sampling_rate: int, max_seconds: float | None = None, name: str = "audio") -> np.ndarray:
    """Return ``audio`` as a mono float32 waveform at ``sampling_rate`` Hz, shape (samples,).

    ``audio`` is a file path, or a ``(sampling_rate, array)`` pair as ``gr.Audio(type="numpy")``
    gives it, with the array shaped (samples,) or (samples, channels), float in [-1, 1]
    or integer PCM. Clips longer than ``max_seconds`` (MAX_AUDIO_SECONDS when None) are refused.
    """
    max_seconds = settings.MAX_AUDIO_SECONDS if max_seconds is None else max_seconds
    if audio is None:
        raise InputError("audio_missing", name=name)
    if isinstance(audio, (str, Path)):
        data, rate = _read(Path(audio), max_seconds, name)
    elif isinstance(audio, (tuple, list)) and len(audio) == 2:
        rate, data = audio
        data = _from_array(data, name)
        _check_rate_and_length(_as_rate(rate, name), len(data), max_seconds, name)
    else:
        raise InputTypeError("audio_kind", name=name, kind=type(audio).__name__)

    # Mix down: (samples, channels) -> (samples,). Averaging keeps the level of a
    # mono recording stored as two identical channels.
    mono = data.mean(axis=1, dtype=np.float32) if data.ndim == 2 else data.astype(np.float32)
    if not np.isfinite(mono).all():
        raise InputError("audio_not_finite", name=name)
    peak = float(np.abs(mono).max())
    if peak == 0 or 20 * np.log10(peak) < SILENCE_DBFS:
        raise InputError(
            "audio_silent",
            name=name,
            loudest="−∞" if peak == 0 else f"{20 * np.log10(peak):.0f}",
            limit=f"{SILENCE_DBFS:.0f}",
        )
    if rate != sampling_rate:
        mono = soxr.resample(mono, rate, sampling_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _read(path: Path, max_seconds: float, name: str) -> tuple[np.ndarray, int]:
    if not path.is_file():
        raise InputError("audio_not_found", name=name, file=path.name)
    if path.stat().st_size == 0:
        raise InputError("audio_empty", name=name, file=path.name)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        suffix = path.suffix.lower()
        if suffix in AUDIO_SUFFIXES:
            raise InputError(
                "audio_mislabelled",
                name=name,
                file=path.name,
                kind=suffix[1:].upper(),
            ) from None
        raise InputError(
            "audio_format",
            name=name,
            file=path.name,
            formats=said("audio_formats"),
        ) from None
    # Check before decoding, so that an hour-long upload is refused without reading it.
    _check_rate_and_length(info.samplerate, info.frames, max_seconds, name)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise InputError(
            "audio_damaged",
            name=name,
            file=path.name,
            detail=str(error),
        ) from None
    _check_rate_and_length(rate, len(data), max_seconds, name)  # the header may have promised more
    return data, rate


def _as_rate(rate, name: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) or rate != int(rate):
        raise InputTypeError("audio_rate_type", name=name, rate=repr(rate))
    return int(rate)


def _from_array(data, name: str) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim not in (1, 2) or 0 in data.shape[1:]:
        raise InputError("audio_array_shape", name=name, shape=str(data.shape))
    if np.issubdtype(data.dtype, np.integer):
        # Integer PCM -> [-1, 1): int16 divides by 32768, int32 by 2**31; unsigned
        # (8-bit WAV) has its silence at mid-scale.
        info = np.iinfo(data.dtype)
        half = (info.max + 1) / 2 if info.min == 0 else 0
        data = (data.astype(np.float64) - half) / (half or info.max + 1)
    elif not np.issubdtype(data.dtype, np.floating):
        raise InputTypeError("array_dtype", name=name, dtype=str(data.dtype))
    return data.astype(np.float32)


def _check_rate_and_length(rate: int, frames: int, max_seconds: float, name: str) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InputError(
            "audio_rate",
            name=name,
            rate=rate,
            low=MIN_SAMPLE_RATE,
            high=MAX_SAMPLE_RATE,
        )
    if frames <= 0:
        raise InputError("audio_no_samples", name=name)
    seconds = frames / rate
    if seconds < MIN_SECONDS:
        raise InputError(
            "audio_too_short",
            name=name,
            milliseconds=round(seconds * 1000),
            limit=f"{MIN_SECONDS:g}",
        )
    if seconds > max_seconds:
        raise InputError(
            "audio_too_long",
            name=name,
            seconds=f"{seconds:.1f}",
            limit=f"{max_seconds:g}",
        )


def save_audio(path: str | Path, waveform: np.ndarray, sampling_rate: int) -> Path:
    """Write a mono float waveform to ``path`` (.wav, .flac or .ogg, encoded as in
    WRITE_FORMATS), atomically: it is written beside the target and renamed into place,
    so a reader never sees half a file."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        raise ValueError(f"Audio can be saved as {sorted(WRITE_FORMATS)}, not {path.suffix!r}.")
    file_format, subtype = WRITE_FORMATS[path.suffix.lower()]
    waveform = np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0)  # PCM can't hold more than full scale
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            sf.write(file, waveform, sampling_rate, format=file_format, subtype=subtype)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
