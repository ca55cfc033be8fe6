"""How fast speech goes in and out, as real-time factors (compute seconds per second of
audio, measured in this run: below 1 is faster than real time).

    python benchmarks/speech.py --profile cpu             # Whisper base + MMS-TTS (cached checkpoints)
    python benchmarks/speech.py --profile tiny --quick    # smoke run, offline, a few seconds

Three measurements:
- reading audio: decoding a 48 kHz stereo FLAC and resampling it to 16 kHz mono with
  soxr, against decoding alone (the ratio is what resampling adds);
- speech recognition: the shipped question clip, repeated to each length, through the
  profile's Whisper (clips over 30 s use long-form decoding);
- text-to-speech: sentences of several lengths through the profile's VITS voice.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from pipelines import settings  # noqa: E402
from pipelines.audio import load_audio  # noqa: E402
from pipelines.loading import ModelCache  # noqa: E402

SENTENCE = "A cat is sitting on a wooden table next to a cup of coffee. "


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_reading(seconds: float, repeats: int) -> None:
    speech = load_audio(settings.EXAMPLE_AUDIO_DIR / "what-animal.wav", 48_000)
    clip = np.tile(speech, int(np.ceil(seconds * 48_000 / len(speech))))[: int(seconds * 48_000)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.flac"
        sf.write(str(path), np.stack([clip, clip], axis=1), 48_000)
        decode = timed(lambda: sf.read(str(path), dtype="float32"), repeats)
        full = timed(lambda: load_audio(path, 16_000, max_seconds=seconds + 1), repeats)
    print(f"read {seconds:5.0f} s 48 kHz stereo FLAC: decode {decode * 1000:7.1f} ms, decode+mono+resample "
          f"{full * 1000:7.1f} ms ({full / decode:.2f}x decoding alone), RTF {full / seconds:.4f}")  # fmt: skip


def bench_recognition(cache: ModelCache, lengths: list[float], repeats: int) -> None:
    loaded = cache.get("speech_recognition")
    print(f"speech recognition: {loaded.checkpoint.label} on {loaded.device}")
    speech = load_audio(settings.EXAMPLE_AUDIO_DIR / "what-animal.wav", 16_000)
    for seconds in lengths:
        clip = np.tile(speech, int(np.ceil(seconds * 16_000 / len(speech))))[: int(seconds * 16_000)]
        took = timed(lambda clip=clip: loaded.pipeline((16_000, clip), language="en"), repeats)
        print(f"  {seconds:5.0f} s clip: {took:6.2f} s, RTF {took / seconds:.3f}")


def bench_synthesis(cache: ModelCache, lengths: list[int], repeats: int) -> None:
    loaded = cache.get("text_to_speech")
    print(f"text-to-speech: {loaded.checkpoint.label} on {loaded.device}")
    for chars in lengths:
        text = (SENTENCE * (chars // len(SENTENCE) + 1))[:chars]
        result = loaded.pipeline(text)
        spoken = len(result["audio"]) / result["sampling_rate"]
        took = timed(lambda text=text: loaded.pipeline(text), repeats)
        print(f"  {chars:4d} characters -> {spoken:5.1f} s of speech: {took:6.2f} s, RTF {took / spoken:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny", help="auto, gpu, cpu or tiny (default: tiny, offline)")
    parser.add_argument("--seconds", default="5,30,60", help="clip lengths to transcribe, comma-separated")
    parser.add_argument("--chars", default="60,200,500", help="text lengths to read aloud, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--quick", action="store_true", help="one short clip, one text, one run each")
    args = parser.parse_args()
    seconds = [5.0] if args.quick else [float(s) for s in args.seconds.split(",")]
    chars = [60] if args.quick else [int(c) for c in args.chars.split(",")]
    repeats = 1 if args.quick else args.repeats

    settings.MAX_AUDIO_SECONDS = max(settings.MAX_AUDIO_SECONDS, *seconds)  # the app's limit is not the point here
    cache = ModelCache(args.profile)
    bench_reading(max(seconds), repeats)
    bench_recognition(cache, seconds, repeats)
    bench_synthesis(cache, chars, repeats)


if __name__ == "__main__":
    main()
