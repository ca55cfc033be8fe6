"""Command line: evaluate the app's models (or another model's predictions) on the probe set.

    python -m evaluation --tasks caption,vqa,retrieval,text_to_image --profile tiny --out runs/tiny
    python -m evaluation --tasks vqa --models vqa=vilt-vqa --limit 40 --out runs/vilt
    python -m evaluation --predictions preds.jsonl --out runs/mine          # no model runs
    python -m evaluation --reference-predictions gt.jsonl                    # the file format, filled with the truth

Writes ``results.json`` (per task and ability: metric, value, number of items; plus
every item with its prediction), ``report.md`` and ``chart.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from evaluation.probes import LATEST, TASKS
from runtime.files import atomic_write_text


def _pairs(text: str, allowed: tuple[str, ...], flag: str) -> dict[str, str]:
    """'caption=blip-base,vqa=vilt-vqa' -> {"caption": "blip-base", "vqa": "vilt-vqa"}."""
    pairs = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in allowed or not value.strip():
            raise argparse.ArgumentTypeError(f"{flag} takes NAME=KEY pairs with NAME in {list(allowed)}; got {part!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from runtime import registry

    parser = argparse.ArgumentParser(
        prog="python -m evaluation", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--tasks", default=",".join(TASKS), help=f"comma-separated, from {','.join(TASKS)} (default: all)"
    )
    parser.add_argument(
        "--profile",
        choices=registry.PROFILES,
        default=None,
        help="which checkpoints to use (default: MODEL_PROFILE or auto)",
    )
    parser.add_argument(
        "--models",
        default="",
        type=lambda t: _pairs(t, TASKS, "--models"),
        help="checkpoints to evaluate instead of the profile's, e.g. caption=blip-large,vqa=vilt-vqa",
    )
    parser.add_argument(
        "--judges",
        default="",
        type=lambda t: _pairs(t, ("clip", "vqa"), "--judges"),
        help="judge checkpoints: clip=KEY for CLIPScore, vqa=KEY for the text-to-image round trip\n"
        "(default: the profile's retrieval and VQA checkpoints)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most this many items per task, taken across abilities"
    )
    parser.add_argument("--probes", default=str(LATEST), help="probe set version or JSON file (default: %(default)s)")
    parser.add_argument(
        "--predictions", default=None, help='JSON lines of {"id": ..., "prediction": ...}: score these, run no model'
    )
    parser.add_argument(
        "--judge", action="store_true", help="with --predictions: also load the judges for CLIPScore and the round trip"
    )
    parser.add_argument("--baseline", default=None, help="a results.json to show side by side (as B) in the report")
    parser.add_argument("--out", default=None, help="folder for results.json, report.md and chart.png")
    parser.add_argument("--no-chart", action="store_true", help="skip chart.png (and matplotlib)")
    parser.add_argument(
        "--reference-predictions",
        metavar="FILE",
        default=None,
        help="write the ground truth as a predictions file (shows the format) and exit",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    if not args.out and not args.reference_predictions:
        parser.error("--out is required")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.profile:
        os.environ["MODEL_PROFILE"] = args.profile  # before runtime.settings is read
    from evaluation import report, runner
    from evaluation.probes import load_probes
    from pipelines.cache import MODELS
    from runtime.hub import CheckpointUnavailable

    try:
        probes = load_probes(int(args.probes) if args.probes.isdigit() else args.probes)
        tasks = runner.check_tasks(args.tasks)
        if args.reference_predictions:
            records = runner.reference_predictions(probes, tasks)
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            atomic_write_text(Path(args.reference_predictions), text)
            print(f"wrote {len(records)} predictions to {args.reference_predictions}")
            return 0
        MODELS.configure(args.profile)
        baseline = json.loads(Path(args.baseline).read_text(encoding="utf-8")) if args.baseline else None
        out = Path(args.out)
        predictions = runner.read_predictions(args.predictions, probes) if args.predictions else None

        def progress(done: int, total: int, text: str) -> None:
            if not args.quiet:
                print(f"[{done}/{total}] {text}", file=sys.stderr, flush=True)

        results = runner.evaluate(
            tasks,
            args.models,
            probes=probes,
            limit=args.limit,
            judges=args.judges,
            predictions=predictions,
            predictions_name=Path(args.predictions).name if args.predictions else "",
            use_judges=predictions is None or args.judge,
            image_dir=out / "images",
            progress=progress,
        )
        paths = report.write_report(results, out, baseline, with_chart=not args.no_chart)
    except (ValueError, TypeError, CheckpointUnavailable, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    headers, rows = report.table_rows(results, baseline)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    for row in [headers, *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    for note in results["notes"]:
        print(f"note: {note}")
    print("time: " + ", ".join(f"{task} {s:.1f} s" for task, s in results["run"]["seconds"].items()))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
