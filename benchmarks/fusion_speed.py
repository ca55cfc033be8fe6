"""How long the Fusion lab takes with the `cpu` profile's features (CLIP ViT-B/32:
512-d embeddings, 50 image tokens), against the issue's budget of 30 s on a 2-core CPU.

    python -m benchmarks.fusion_speed            # all three strategies, the tab's defaults
    python -m benchmarks.fusion_speed --quick    # 5 epochs, for a smoke run

Uses openai/clip-vit-base-patch32 when it is in the local Hugging Face cache; otherwise
a randomly initialised CLIP of the same architecture (speed does not depend on the
weights; the tokenizer is then the tiny character-level one, which makes captions
longer, so hybrid fusion's numbers are on the slow side). The baseline, measured in
the same run, is training with torch's default number of threads instead of one.
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
    parser.add_argument("--strategies", default="early,late,hybrid")
    parser.add_argument("--cache", default=None, help="keep the features in this folder between runs (default: none)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from labs import fusion
    from ui.tabs.fusion import DEFAULTS

    epochs = args.epochs or (5 if args.quick else DEFAULTS.epochs)
    start = time.perf_counter()
    pipe, real = clip_b32()
    print(f"model: {pipe.name} ({'real weights' if real else 'random weights, same architecture'}), "
          f"built in {time.perf_counter() - start:.1f} s; torch threads: {torch.get_num_threads()}")  # fmt: skip

    with tempfile.TemporaryDirectory() as temporary:
        cache = args.cache or temporary
        cached = any(Path(cache).glob("*.npz"))
        start = time.perf_counter()
        data = fusion.FusionLab(cache).matching_set(pipe)
        encode = time.perf_counter() - start
        shape = data.features.image_tokens.shape
        print(f"features: {shape[0]} pictures x {shape[1]} tokens x {shape[2]} dims, "
              f"{len(data.features.captions)} captions: {encode:.1f} s "
              f"({'read from --cache' if cached else 'encoded: once per model, then cached on disk'})")  # fmt: skip
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
        print(f"{strategy:<8} {epochs:>6} {one:>8.2f}s {baseline:>8.2f}s {baseline / one:>5.1f}x "
              f"{result['metrics']['test_accuracy']:>12.1%}")  # fmt: skip
    verdict = "within" if slowest < BUDGET_SECONDS else "OVER"
    print(
        f"\nslowest run (features cached): {slowest:.1f} s, {verdict} the {BUDGET_SECONDS:.0f} s budget; "
        f"the very first run also encodes the pictures: {encode + slowest:.1f} s"
    )
    if hasattr(os, "getloadavg"):
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
