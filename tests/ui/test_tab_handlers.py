"""The tabs' handlers are plain module-level code (issue 34): a tab's endpoints over the
app's objects are the methods of one small class, which Gradio sees exactly as it saw the
old closures, and which ZeroGPU can run without pickling the app's objects."""

import functools
import inspect
import pickle
import threading

import gradio as gr
import pytest

from ui import handlers
from ui.handlers import gpu_method


def zero_gpu(fn):
    """What spaces.GPU does with a call on ZeroGPU: its arguments are pickled for the GPU worker."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        pickle.dumps((args, kwargs))
        return fn(*args, **kwargs)

    return call


class Endpoints:
    def __init__(self):
        self.lock = threading.Lock()  # as the app's collections and indexes hold: can't be pickled

    @gpu_method
    def shout(self, text: str, times: int = 2, request: gr.Request = None, progress=gr.Progress()) -> str:
        """Say it louder.

        Args:
            text: What to say.
            times: How many times.
        """
        return " ".join([text.upper()] * times)


def test_a_gpu_method_runs_on_zero_gpu_without_pickling_its_instance(monkeypatch):
    monkeypatch.setattr(handlers, "gpu", zero_gpu)
    api = Endpoints()
    assert api.shout("hi") == "HI HI"
    assert api.shout is api.shout  # wrapped once per instance: ZeroGPU keeps a worker per function
    # The plain decorator would hand the instance to the worker as its first argument.
    with pytest.raises(TypeError, match="pickle"):
        zero_gpu(Endpoints.shout)(api, "hi")


def test_gradio_sees_a_gpu_method_as_the_function_it_wraps(monkeypatch):
    monkeypatch.setattr(handlers, "gpu", zero_gpu)
    shout = Endpoints().shout
    assert shout.__name__ == "shout"
    assert list(inspect.signature(shout).parameters) == ["text", "times", "request", "progress"]
    assert inspect.getdoc(shout).startswith("Say it louder.")
    description, parameters, _ = gr.utils.get_function_description(shout)
    assert description == "Say it louder."
    assert (parameters["text"], parameters["times"]) == ("What to say.", "How many times.")


LONGEST = 80  # lines, docstring included: a function read in one screen


def test_no_function_in_the_ui_runs_over_80_lines():
    """A tab's file reads in one sitting when each function does: a long one is a layout to
    split into parts, or handlers to move out to module level."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    long = []
    for path in sorted((root / "ui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST:
                    long.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines} lines")
    assert not long, "\n".join(long)
