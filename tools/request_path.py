"""The life of one request, as the app's modules it crosses: python -m tools.request_path

Builds the app (the ``tiny`` profile unless MODEL_PROFILE says otherwise), serves it in
this process, calls each endpoint once to warm it (models loaded, caches filled), then
calls it again while a profiler notes every module of the app a function is entered in,
on every thread (the server's, the queue's, the handler's). Printed per endpoint, in the
order first entered: what a newcomer reads to follow that request, end to end.

    python -m tools.request_path              # caption and chat
    python -m tools.request_path --json       # the same, as JSON

Modules of the libraries (Gradio, transformers, ...) and of tests/ and tools/ are not
counted; ``ui/__init__.py`` and the like count when code in them runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = ("tests/", "tools/", ".venv/")


class Crossed:
    """The app's modules entered while ``recording`` is on, in order, from every thread
    started after ``install`` (the server's threads are: install before launching)."""

    def __init__(self):
        self.recording = False
        self.modules: dict[str, dict[str, None]] = {}  # module -> its functions entered, in order
        self._files: dict[str, str | None] = {}

    def _module(self, filename: str) -> str | None:
        if filename not in self._files:
            path = Path(filename)
            inside = path.is_absolute() and path.is_relative_to(ROOT)
            relative = path.relative_to(ROOT).as_posix() if inside else None
            self._files[filename] = None if relative is None or relative.startswith(SKIPPED) else relative
        return self._files[filename]

    def _profile(self, frame, event, _arg):
        if self.recording and event == "call" and (module := self._module(frame.f_code.co_filename)):
            self.modules.setdefault(module, {}).setdefault(frame.f_code.co_qualname)

    def install(self) -> None:
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)

    def uninstall(self) -> None:  # threads started meanwhile keep it until they end (recording is off)
        threading.setprofile(None)
        sys.setprofile(None)

    def during(self, call) -> dict[str, list[str]]:
        self.modules.clear()
        self.recording = True
        try:
            call()
        finally:
            self.recording = False
        return {module: list(functions) for module, functions in self.modules.items()}


def requests(client, cat: str) -> dict:
    """One call per endpoint traced: a caption of the cat photo, a question to Chat."""
    from gradio_client import handle_file

    return {
        "caption": lambda: client.predict(handle_file(cat), api_name="/caption"),
        "chat": lambda: client.predict("What animal is this?", [handle_file(cat)], [], api_name="/chat"),
    }


def trace(profile: str = "tiny") -> dict[str, dict[str, list[str]]]:
    """{endpoint: {module its warm request crossed: the functions entered there}}, each
    in the order first entered."""
    from tools.loadtest import free_port, loopback_client
    from ui import build_demo, launch_kwargs

    crossed = Crossed()
    crossed.install()
    demo = build_demo(profile)
    demo.queue(max_size=16, default_concurrency_limit=1, api_open=False)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo))
    try:
        client = loopback_client(f"http://127.0.0.1:{port}/")
        paths = {}
        for name, call in requests(client, str(ROOT / "assets" / "images" / "cat.jpg")).items():
            call()  # warm: the model loads, the caches fill
            paths[name] = crossed.during(call)
        return paths
    finally:
        demo.close()
        crossed.uninstall()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.request_path", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--functions", action="store_true", help="also name the functions entered in each module")
    args = parser.parse_args(argv)
    paths = trace()
    if args.json:
        print(json.dumps(paths, indent=1))
        return
    for name, modules in paths.items():
        print(f"{name}: {len(modules)} modules")
        for module, functions in modules.items():
            print(f"  {module}" + (f": {', '.join(functions)}" if args.functions else ""))


if __name__ == "__main__":
    main()
