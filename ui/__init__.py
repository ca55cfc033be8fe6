"""The Gradio UI. ``build_demo`` (``ui/demo.py``) makes the app's objects, builds every
tab of ``ui/tabs/`` (one module each, explain panel included) and guards the page;
``ui/server/`` is what the web server lets clients do."""

from runtime.lazy import exports

_WHERE = {"build_demo": "ui.demo", "context_of": "ui.demo", "launch_kwargs": "ui.demo"}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
