"""Multimodal Playground: captioning, visual question answering, text-to-image and
image-text search in one Gradio app.

    python app.py                      # auto profile: GPU checkpoints on CUDA, else CPU ones
    python app.py --profile tiny       # tiny random models, offline, for trying the app
    python app.py --classroom FILE     # a teacher's settings: tabs, models, locks, limits, password
    gradio app.py                      # reload mode while developing

``demo`` is module-level so that ``gradio app.py`` and Hugging Face Spaces find it.
Importing this file builds the widgets only; models load when a tab is first used.
"""

from __future__ import annotations

import argparse
import logging
import sys

from classroom.rules import ClassroomError
from lessons.files import LessonError
from runtime import registry, settings
from runtime.devices import quiet_library_notes
from ui import build_demo, launch_kwargs


def _build(profile: str | None = None, classroom: str | None = None):
    try:
        return build_demo(profile, classroom)
    except ClassroomError as error:  # the classroom file can't be used as it is
        sys.exit(f"Classroom mode: {error}")
    except LessonError as error:  # a lesson file (built-in or the classroom's) has mistakes
        sys.exit(f"Lessons: {error}")


# Imported (`gradio app.py`, Spaces' loader, tests), the module builds the page from the
# environment; run as a script, main() builds it once, from the command line.
if __name__ != "__main__":
    demo = _build()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--profile",
        choices=registry.PROFILES,
        default=None,
        help=f"which checkpoints to use (default: MODEL_PROFILE or auto; now {settings.MODEL_PROFILE!r})",
    )
    parser.add_argument("--host", default=settings.SERVER_NAME, help="address to listen on (GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=settings.SERVER_PORT, help="port to listen on (GRADIO_SERVER_PORT)")
    parser.add_argument("--share", action="store_true", help="also serve through a temporary public gradio.live link")
    parser.add_argument(
        "--classroom",
        metavar="FILE",
        default=None,
        help="a teacher's classroom settings file, YAML/JSON/TOML (CLASSROOM_FILE)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_library_notes()
    demo = _build(args.profile, args.classroom)
    # api_open=False: model endpoints are reachable only through the queue, so its bound and
    # concurrency limit hold for API clients too (Gradio otherwise opens /run/<api_name>).
    demo.queue(max_size=settings.QUEUE_MAX_SIZE, default_concurrency_limit=settings.CONCURRENCY_LIMIT, api_open=False)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs(demo))


if __name__ == "__main__":
    main()
