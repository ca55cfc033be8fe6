"""How fast speech goes in and out, as real-time factors (compute seconds per second of
audio, measured in this run: below 1 is faster than real time).

    python benchmarks/speech.py --profile cpu             # Whisper base + MMS-TTS (cached checkpoints)
    python benchmarks/speech.py --random                  # their architectures, random weights (offline)
    python benchmarks/speech.py --profile tiny --quick    # smoke run, offline, a few seconds

With ``--random`` the models are Whisper base's and MMS-TTS's architectures with random
weights, built locally (speed doesn't depend on the weights). A random Whisper never
stops on its own, so its decoder writes ``--tokens-per-second`` tokens per second of
audio in each 30 s window (default 3: English at 150 words a minute); the real model's
RTF also depends on how much is said.

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

from pipelines.cache import ModelCache  # noqa: E402
from runtime import settings  # noqa: E402
from runtime.audio import load_audio  # noqa: E402

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
    print(
        f"read {seconds:5.0f} s 48 kHz stereo FLAC: decode {decode * 1000:7.1f} ms, decode+mono+resample "
        f"{full * 1000:7.1f} ms ({full / decode:.2f}x decoding alone), RTF {full / seconds:.4f}"
    )


def bench_recognition(loaded, lengths: list[float], repeats: int) -> None:
    print(f"speech recognition: {loaded.checkpoint.label} on {loaded.device}")
    speech = load_audio(settings.EXAMPLE_AUDIO_DIR / "what-animal.wav", 16_000)
    for seconds in lengths:
        clip = np.tile(speech, int(np.ceil(seconds * 16_000 / len(speech))))[: int(seconds * 16_000)]
        if getattr(loaded, "tokens_per_second", None):  # a random Whisper: as many tokens as speech would take
            window = min(seconds, 30.0)
            loaded.pipeline.model.generation_config.max_length = 4 + round(loaded.tokens_per_second * window)
        took = timed(lambda clip=clip: loaded.pipeline((16_000, clip), language="en"), repeats)
        print(f"  {seconds:5.0f} s clip: {took:6.2f} s, RTF {took / seconds:.3f}")


def bench_synthesis(loaded, lengths: list[int], repeats: int) -> None:
    print(f"text-to-speech: {loaded.checkpoint.label} on {loaded.device}")
    for chars in lengths:
        text = (SENTENCE * (chars // len(SENTENCE) + 1))[:chars]
        result = loaded.pipeline(text)
        spoken = len(result["audio"]) / result["sampling_rate"]
        took = timed(lambda text=text: loaded.pipeline(text), repeats)
        print(f"  {chars:4d} characters -> {spoken:5.1f} s of speech: {took:6.2f} s, RTF {took / spoken:.3f}")


def random_models(folder: Path, tokens_per_second: float) -> tuple:
    """Whisper base and MMS-TTS English architectures with random weights, loaded through
    the pipelines' own from_pretrained, as (label, device, pipeline) records."""
    from types import SimpleNamespace

    from pipelines.speech_recognition import SpeechRecognitionPipeline
    from pipelines.text_to_speech import TextToSpeechPipeline
    from runtime import tiny

    for name in ("whisper", "vits"):
        (folder / name).mkdir()
    # openai/whisper-base's config; the decoder's positions cap what it writes per window.
    tiny._whisper(
        folder / "whisper",
        d_model=512,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=8,
        decoder_attention_heads=8,
        encoder_ffn_dim=2048,
        decoder_ffn_dim=2048,
        max_target_positions=448,
    )
    tiny._vits(folder / "vits", full_size=True)
    whisper = SpeechRecognitionPipeline.from_pretrained(str(folder / "whisper"))
    vits = TextToSpeechPipeline.from_pretrained(str(folder / "vits"))
    record = lambda label, pipe: SimpleNamespace(  # noqa: E731
        checkpoint=SimpleNamespace(label=label), device="cpu", pipeline=pipe, tokens_per_second=tokens_per_second
    )
    return record("Whisper base architecture, random weights", whisper), record(
        "MMS-TTS architecture, random weights", vits
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny", help="auto, gpu, cpu or tiny (default: tiny, offline)")
    parser.add_argument("--seconds", default="5,30,60", help="clip lengths to transcribe, comma-separated")
    parser.add_argument("--chars", default="60,200,500", help="text lengths to read aloud, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--quick", action="store_true", help="one short clip, one text, one run each")
    parser.add_argument("--random", action="store_true", help="real-size architectures with random weights, offline")
    parser.add_argument("--tokens-per-second", type=float, default=3.0, help="with --random: decoder tokens per second")
    args = parser.parse_args()
    seconds = [5.0] if args.quick else [float(s) for s in args.seconds.split(",")]
    chars = [60] if args.quick else [int(c) for c in args.chars.split(",")]
    repeats = 1 if args.quick else args.repeats

    settings.MAX_AUDIO_SECONDS = max(settings.MAX_AUDIO_SECONDS, *seconds)  # the app's limit is not the point here
    bench_reading(max(seconds), repeats)
    with tempfile.TemporaryDirectory(prefix="speech-bench-") as tmp:
        if args.random:
            recognition, synthesis = random_models(Path(tmp), args.tokens_per_second)
        else:
            cache = ModelCache(args.profile)
            recognition, synthesis = cache.get("speech_recognition"), cache.get("text_to_speech")
        bench_recognition(recognition, seconds, repeats)
        bench_synthesis(synthesis, chars, repeats)


if __name__ == "__main__":
    main()
