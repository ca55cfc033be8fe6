"""Benchmarks: our fast path and serving against the naive way, measured in one run.

    python -m benchmarks                       # everything (search at 1M vectors alone takes a while)
    python -m benchmarks --quick               # a smoke run: fewer repeats, smaller images
    python -m benchmarks --only caption,vqa    # some of them
    python -m benchmarks --out results.jsonl   # also write the JSON lines to a file

Each benchmark runs ours and its baseline alternately after a warm-up and reports
medians as one JSON line: name, unit, ours, baseline, ratio (speed-up, >1 is better),
machine, and for model workloads their GFLOP and achieved GFLOP/s as a share of a
large matmul timed in the same run, and how far the fast path's outputs are from
float32. A Markdown table for the README follows. Models are real-size architectures
with random weights (benchmarks/models.py): no download is needed. ``search`` runs
``python -m benchmarks.search`` (searching your own collection) when it is present.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys

BENCHMARKS = {
    "cold_start": "benchmarks.serving:run_cold_start",
    "serve_caption": "benchmarks.serving:run_serve_caption",
    "embed_images": "benchmarks.workloads:run_embed_images",
    "caption": "benchmarks.workloads:run_caption",
    "vqa": "benchmarks.workloads:run_vqa",
    "text_to_image": "benchmarks.workloads:run_text_to_image",
    "vlm": "benchmarks.vlm:run_vlm",
    "onnx_components": "benchmarks.onnx_components:run_onnx_components",
}
MODEL_WORKLOADS = {"embed_images", "caption", "vqa", "text_to_image", "vlm", "onnx_components"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    names = [*BENCHMARKS, "search"]
    parser.add_argument("--only", default="", help=f"comma-separated benchmarks to run, of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats and smaller workloads")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (default: NUM_THREADS or every CPU)")
    parser.add_argument("--out", default=None, help="also write the JSON lines to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or [*BENCHMARKS, "search"]
    unknown = [name for name in chosen if name not in BENCHMARKS and name != "search"]
    if unknown:
        raise SystemExit(f"Unknown benchmark(s) {unknown}; available = {[*BENCHMARKS, 'search']}")

    import torch

    from benchmarks import common
    from runtime import devices, settings

    if args.threads:
        settings.NUM_THREADS = args.threads
    devices.configure_torch()
    info = common.machine()
    print(f"# {common.machine_line(info)}", file=sys.stderr, flush=True)
    rows = []
    peaks = {}
    if MODEL_WORKLOADS & set(chosen):
        # Only the precisions the workloads run in: where bfloat16 is emulated (no native
        # instructions), its matmul is slow enough to take most of a --quick run.
        fast = str(devices.pick_dtype("cpu")).replace("torch.", "")
        peaks = {name: common.matmul_gflops(getattr(torch, name)) for name in {"float32", fast}}
        rows.append(
            common.result(
                "matmul",
                "GFLOP/s",
                peaks[fast],
                peaks["float32"],
                info,
                higher_is_better=True,
                precision=f"2048x2048, {fast} vs float32",
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    for name in chosen:
        if name == "search":
            _search(args.quick)
            continue
        module, function = BENCHMARKS[name].split(":")
        print(f"# {name} ...", file=sys.stderr, flush=True)
        for row in getattr(importlib.import_module(module), function)(args.quick, peaks, info):
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
    if rows:
        print("\n" + common.markdown(rows))
    return 0


def _search(quick: bool) -> None:
    """Issue #3's benchmark of searching your own collection, with its own rows and table."""
    if importlib.util.find_spec("benchmarks.search") is None:
        print("# search: benchmarks/search.py is not in this checkout; skipped", file=sys.stderr)
        return
    importlib.import_module("benchmarks.search").main(["--quick"] if quick else [])


if __name__ == "__main__":
    sys.exit(main())
