"""``python -m runtime download``: prepare a machine before class (runtime/prepare.py).

    python -m runtime download --profile cpu            # every task's model under the cpu profile
    python -m runtime download --profile gpu chat caption
    python -m runtime download blip-large whisper-small  # registry keys
    python -m runtime download --profile cpu --all      # everything the model pickers offer

One disk-space check first, one progress bar, a summary of what is ready; the exit status
is 0 when every model is ready. HF_ENDPOINT (a mirror) and MODEL_SOURCE=modelscope apply
as they do in the app (docs/settings.md).
"""

from __future__ import annotations

import argparse
import sys

from runtime import registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="download a profile's models before class")
    fetch.add_argument("names", nargs="*", help="tasks (caption, chat, ...) or registry keys; all tasks when none")
    fetch.add_argument(
        "--profile",
        default=None,
        choices=[p for p in registry.PROFILES if p != "tiny"],
        help="auto (gpu with CUDA, else cpu), gpu or cpu; MODEL_PROFILE by default",
    )
    fetch.add_argument("--all", action="store_true", help="every model the pickers offer, not only the defaults")
    args = parser.parse_args(argv)

    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars
    from tqdm import tqdm

    from runtime.download import DownloadError, size_text
    from runtime.prepare import checkpoints, prepare, summary

    if constants.HF_HUB_OFFLINE:
        print("HF_HUB_OFFLINE=1 forbids every download: run this command without it.", file=sys.stderr)
        return 1
    profile = registry.resolve_profile(args.profile)
    if profile == "tiny":
        print("The tiny profile builds its models here and downloads nothing.")
        return 0
    try:
        wanted = checkpoints(profile, args.names, every=args.all)
    except ValueError as error:
        parser.error(str(error))
    print(f"Profile {profile}: {len(wanted)} models ({', '.join(c.label for c in wanted)}).")
    disable_progress_bars()  # the libraries' own bars, one per file: ours counts every byte of every model
    bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, desc="Downloading")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        results = prepare(wanted, progress)
    except DownloadError as error:  # the disk check: nothing was downloaded
        bar.close()
        print(error, file=sys.stderr)
        return 1
    bar.close()
    print(summary(results, profile))
    fetched = sum(r.nbytes for r in results)
    if fetched:
        print(f"Downloaded {size_text(fetched)} in all.")
    return 0 if all(r.status != "failed" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
