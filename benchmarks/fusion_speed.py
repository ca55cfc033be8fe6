"""How long the Fusion lab and the Contrastive lab take with the `cpu` profile's features
(CLIP ViT-B/32: 512-d embeddings, 50 image tokens; Whisper base: 512-d frames, pooled
into 16 audio tokens), against the budget of 30 s per run on a 2-core CPU.

    python -m benchmarks.fusion_speed            # every strategy, the tab's defaults, with and without audio
    python -m benchmarks.fusion_speed --quick    # 5 epochs, for a smoke run
    python -m benchmarks.fusion_speed --no-audio # the picture and the caption only

Uses openai/clip-vit-base-patch32 when it is in the local Hugging Face cache; otherwise
a randomly initialised CLIP of the same architecture (speed does not depend on the
weights; the tokenizer is then the tiny character-level one, which makes captions
longer, so hybrid fusion's numbers are on the slow side). The spoken captions come from
MMS-TTS English and Whisper base when both are cached, else from random models of
their architectures (benchmarks/speech.py's). The baseline, measured in the same run
for the picture and the caption, is training with torch's default number of threads
instead of one. The Contrastive lab is timed at its defaults, at the heaviest settings
its lesson uses, and at the tab's largest settings.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

BUDGET_SECONDS = 30.0


def clip_b32():
    """(the retrieval pipeline for ViT-B/32, whether its weights are real)."""
    from pipelines.retrieval import RetrievalPipeline
    from runtime.hub import is_cached
    from runtime.registry import CHECKPOINTS

    checkpoint = CHECKPOINTS["clip-b32"]
    if is_cached(checkpoint):
        return RetrievalPipeline.from_pretrained(checkpoint.repo_id, local_files_only=True), True
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    from runtime.tiny import _clip_tokenizer

    tokenizer = _clip_tokenizer()
    ids = dict(bos_token_id=len(tokenizer) - 2, eos_token_id=len(tokenizer) - 1, pad_token_id=len(tokenizer) - 1)
    config = CLIPConfig(text_config=dict(vocab_size=len(tokenizer), **ids))  # the defaults are ViT-B/32's
    torch.manual_seed(0)
    processor = CLIPProcessor(image_processor=CLIPImageProcessorPil(), tokenizer=tokenizer)
    return RetrievalPipeline(CLIPModel(config), processor, "random-clip-vit-base-patch32"), False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs instead of the tab's default")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--strategies", default="early,late,hybrid,weighted")
    parser.add_argument("--no-audio", action="store_true", help="skip the runs that hear the spoken captions")
    parser.add_argument("--cache", default=None, help="keep the features in this folder between runs (default: none)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from labs import fusion
    from ui.tabs.fusion import DEFAULTS

    epochs = args.epochs or (5 if args.quick else DEFAULTS.epochs)
    start = time.perf_counter()
    pipe, real = clip_b32()
    print(
        f"model: {pipe.name} ({'real weights' if real else 'random weights, same architecture'}), "
        f"built in {time.perf_counter() - start:.1f} s; torch threads: {torch.get_num_threads()}"
    )

    with tempfile.TemporaryDirectory() as temporary:
        cache = args.cache or temporary
        cached = any(Path(cache).glob("*.npz"))
        start = time.perf_counter()
        data = fusion.FusionLab(cache).matching_set(pipe)
        encode = time.perf_counter() - start
        shape = data.features.image_tokens.shape
        print(
            f"features: {shape[0]} pictures x {shape[1]} tokens x {shape[2]} dims, "
            f"{len(data.features.captions)} captions: {encode:.1f} s "
            f"({'read from --cache' if cached else 'encoded: once per model, then cached on disk'})"
        )
        start = time.perf_counter()
        fusion.FusionLab(cache).matching_set(pipe)
        print(f"features from the disk cache: {time.perf_counter() - start:.2f} s")

    threads, slowest = torch.get_num_threads(), 0.0
    print(f"\n{'strategy':<8} {'epochs':>6} {'1 thread':>9} {'default':>9} {'ratio':>6} {'held-out acc':>13}")
    for strategy in args.strategies.split(","):
        config = fusion.FusionConfig(strategy=strategy, epochs=epochs, learning_rate=DEFAULTS.learning_rate)
        result = fusion.train(data, config)  # one thread: how the lab trains
        one = result["seconds"]
        fusion.TRAIN_THREADS = threads  # the baseline: torch's default
        try:
            baseline = fusion.train(data, config)["seconds"]
        finally:
            fusion.TRAIN_THREADS = 1
        slowest = max(slowest, one)
        print(
            f"{strategy:<8} {epochs:>6} {one:>8.2f}s {baseline:>8.2f}s {baseline / one:>5.1f}x "
            f"{result['metrics']['test_accuracy']:>12.1%}"
        )
    if not args.no_audio:
        slowest = max(slowest, audio_runs(data, pipe, args.strategies.split(","), epochs, args.cache))
    slowest = max(slowest, contrastive_runs(data))
    verdict = "within" if slowest < BUDGET_SECONDS else "OVER"
    print(
        f"\nslowest run (features cached): {slowest:.1f} s, {verdict} the {BUDGET_SECONDS:.0f} s budget; "
        f"the very first run also encodes the pictures: {encode + slowest:.1f} s"
    )
    if hasattr(os, "getloadavg"):
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def speech_models(folder: Path) -> tuple:
    """(text-to-speech, speech recognition, names, whether they are real): MMS-TTS English
    and Whisper base when cached, else random models of their architectures."""
    from pipelines.speech_recognition import SpeechRecognitionPipeline
    from pipelines.text_to_speech import TextToSpeechPipeline
    from runtime.hub import is_cached
    from runtime.registry import CHECKPOINTS

    voice, ears = CHECKPOINTS["mms-tts-eng"], CHECKPOINTS["whisper-base"]
    if is_cached(voice) and is_cached(ears):
        tts = TextToSpeechPipeline.from_pretrained(voice.repo_id, local_files_only=True)
        asr = SpeechRecognitionPipeline.from_pretrained(ears.repo_id, local_files_only=True)
        return tts, asr, (voice.key, ears.key), True
    from benchmarks.speech import random_models

    whisper, vits = random_models(folder, tokens_per_second=0)
    return vits.pipeline, whisper.pipeline, ("random-mms-tts", "random-whisper-base"), False


def audio_runs(data, pipe, strategies: list[str], epochs: int, cache: str | None) -> float:
    """Every strategy on the picture, the caption and the spoken caption; the slowest run's seconds."""
    from labs import fusion
    from ui.tabs.fusion import DEFAULTS

    with tempfile.TemporaryDirectory() as temporary:
        start = time.perf_counter()
        tts, asr, names, real = speech_models(Path(temporary))
        print(
            f"\nspeech models: {' + '.join(names)} ({'real weights' if real else 'random weights'}), "
            f"built in {time.perf_counter() - start:.1f} s"
        )
        lab = fusion.FusionLab(cache or temporary)
        start = time.perf_counter()
        audio = lab.audio_features(tts, asr, names)
        seconds = time.perf_counter() - start
    print(
        f"spoken captions: {len(lab.spoken_captions(tts, names[0]).clips)} takes read and encoded, "
        f"{audio.audio_tokens.shape[1]} tokens x {audio.audio_tokens.shape[2]} dims: {seconds:.1f} s "
        "(once per pair of models, then cached on disk)"
    )
    data = fusion.MatchingSet.build(lab.scenes, data.features, data.split, audio=audio)
    slowest = 0.0
    print(f"\n{'strategy':<8} {'modalities':<18} {'epochs':>6} {'1 thread':>9} {'held-out acc':>13}")
    for strategy in strategies:
        config = fusion.FusionConfig(
            strategy=strategy,
            epochs=epochs,
            learning_rate=DEFAULTS.learning_rate,
            modalities=["image", "text", "audio"],
        )
        result = fusion.train(data, config)
        slowest = max(slowest, result["seconds"])
        print(
            f"{strategy:<8} {'image+text+audio':<18} {epochs:>6} {result['seconds']:>8.2f}s "
            f"{result['metrics']['test_accuracy']:>12.1%}"
        )
    return slowest


def contrastive_runs(data) -> float:
    """The Contrastive lab at its defaults, at its lesson's heaviest settings and at the
    tab's largest; the slowest run's seconds."""
    from labs import contrastive
    from labs.fusion import make_scenes

    pairs = contrastive.ContrastiveSet.build(make_scenes(), data.features)
    runs = {
        "defaults (30 epochs, batch 8, 32 dims)": contrastive.ContrastiveConfig(),
        "the lesson's heaviest (100 epochs, 64 dims)": contrastive.ContrastiveConfig(epochs=100, embedding_size=64),
        "the tab's largest (200 epochs, batch 9, 128 dims, learned τ)": contrastive.ContrastiveConfig(
            epochs=200, batch_size=9, embedding_size=128, learn_temperature=True
        ),
    }
    slowest = 0.0
    print(f"\n{'contrastive lab':<62} {'1 thread':>9} {'diagonal share':>15} {'zero-shot':>10}")
    for name, config in runs.items():
        result = contrastive.train(pairs, config)
        slowest = max(slowest, result["seconds"])
        m = result["metrics"]
        print(f"{name:<62} {result['seconds']:>8.2f}s {m['diagonal_share']:>14.1%} {m['zero_shot_accuracy']:>9.1%}")
    return slowest


if __name__ == "__main__":
    main()
