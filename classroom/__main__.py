"""The classroom from the command line.

    python -m classroom prompt-log [--out FILE]

writes the prompt log that the app's replicas share (SHARED_STATE) as JSON lines, to
FILE (written whole, then renamed into place) or to the standard output. With one
replica and no SHARED_STATE, the log is already the file the classroom file names.
"""

from __future__ import annotations

import argparse
import sys

from runtime import settings
from runtime.files import atomic_write_bytes
from runtime.shared import SharedStateError, read_log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classroom", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("prompt-log", help="write the shared prompt log as JSON lines")
    export.add_argument("--out", help="the file to write (default: the standard output)")
    args = parser.parse_args(argv)
    if not settings.SHARED_STATE:
        parser.error(
            "SHARED_STATE is not set: without it each app keeps its prompt log in the file its "
            "classroom file names (prompt_log.file)."
        )
    try:
        lines = read_log()
    except SharedStateError as error:
        print(error, file=sys.stderr)
        return 1
    text = "".join(line + "\n" for line in lines)
    if args.out:
        atomic_write_bytes(args.out, text.encode("utf-8"))
        print(f"{len(lines)} entries written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
