"""Gradio through its front door only (issue 34): no module of the app assigns to an
attribute of a Gradio class or instance (a method replaced at run time, a private
attribute, a handler swapped inside Gradio's own records), and none reaches a private
Gradio name. Such patches are tied to one Gradio release's private shape and break
silently with the next one.

The scan reads the source (AST) of every package of the app and app.py. It follows the
names a module binds to Gradio: imported Gradio modules and classes, what they make
(``demo = gr.Blocks()``, ``with gr.Blocks() as demo``, ``except gr.Error as error``),
parameters annotated with a Gradio type, loop variables over a Gradio object's parts
(``for block_fn in demo.fns.values()``), Gradio objects handed to a function of the same
module, and the names ``demo``, ``block_fn``, ``component`` and ``block``. A component
subclass setting its own attributes (``self.x = ...``) is the documented route and is
not a finding.

Where Gradio has no public hook for something the app needs, the patch stays, named in
``EXCEPTIONS`` with the reason (the code's docstring says the same). A control the app
makes is built as it should be (a teacher's lock goes to its constructor, see
``ClassroomPolicy.control``), never changed afterwards."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

QUEUE = (
    "Gradio has no public hook for the order its queue starts jobs in (turns per visitor) nor for a share "
    "per visitor (queue() takes one total max_size): its queue's push and get_events are wrapped, on every "
    "queue demo.queue() makes; a gate in the handlers would hide waiting jobs from the queue, so the "
    "page's position and ETA would be false (ui/server/queue.py; its jobs are read, never written, by "
    "ui/server/limits.py of_event)"
)
QUEUE_PATCHES = (
    "demo._queue",
    "demo.queue = ...",
    "queue.push = ...",
    "queue.get_events = ...",
    "queue.shared_fairly = ...",
    "event_queue.queue = ...",
)
# (file, finding): why Gradio's public API can't do it. Each must still be found (a stale
# entry fails), so the list only ever names patches that exist.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("ui/server/mcp.py", "GradioMCPServer.pop_returned_state = ..."): (
        "Gradio 6.31's MCP server pops State outputs from a one-item list on its queued path, so every "
        "tool whose event has a gr.State output fails; the server is made inside launch() and has no "
        "option or hook for its results"
    ),
    **{("ui/server/queue.py", what): QUEUE for what in QUEUE_PATCHES},
}

ALWAYS_GRADIO = {"demo", "block_fn", "component", "block"}


def app_files() -> list[Path]:
    packages = [p for p in sorted(ROOT.iterdir()) if (p / "__init__.py").exists() and p.name != "tests"]
    return [ROOT / "app.py"] + [f for package in packages for f in sorted(package.rglob("*.py"))]


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)) is not None:
        return f"{base}.{node.attr}"
    return None


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Scan(ast.NodeVisitor):
    def __init__(self, handed: dict[str, set[int]] | None = None):
        self.gradio: set[str] = set(ALWAYS_GRADIO)  # names bound to Gradio modules, classes or objects
        self.findings: list[tuple[int, str]] = []
        # Functions of the module called with a Gradio object: their name -> the positions
        # of those arguments (``self.wrap(demo._queue)`` makes wrap's ``queue`` one).
        self.handed: dict[str, set[int]] = handed if handed is not None else {}

    # --- what is Gradio ---

    def _is_gradio(self, node: ast.AST | None) -> bool:
        """Whether ``node`` is (part of) a Gradio module, class or object."""
        if node is None:
            return False
        if isinstance(node, ast.Name):
            return node.id in self.gradio
        if isinstance(node, ast.Attribute):
            return self._is_gradio(node.value)
        if isinstance(node, ast.Call):
            return self._is_gradio(node.func)
        if isinstance(node, ast.Subscript):
            return self._is_gradio(node.value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation
            return node.value.split(".")[0].split("[")[0] in self.gradio
        if isinstance(node, ast.BinOp):  # gr.Blocks | None
            return self._is_gradio(node.left) or self._is_gradio(node.right)
        return False

    def _bind(self, target: ast.AST) -> None:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.gradio.add(node.id)

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name == "gradio" or alias.name.startswith("gradio."):
                self.gradio.add((alias.asname or alias.name).split(".")[0])
                if any(_private(part) for part in alias.name.split(".")):
                    self._find(node, f"import {alias.name}")

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if module == "gradio" or module.startswith("gradio."):
            if any(_private(part) for part in module.split(".")):
                self._find(node, f"from {module} import ...")
            for alias in node.names:
                self.gradio.add(alias.asname or alias.name)
                if _private(alias.name):
                    self._find(node, f"from {module} import {alias.name}")

    def visit_Assign(self, node):
        self._check_targets(node, node.targets)
        if self._is_gradio(node.value):
            for target in node.targets:
                self._bind(target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._check_targets(node, [node.target])
        if self._is_gradio(node.annotation) or self._is_gradio(node.value):
            self._bind(node.target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None and self._is_gradio(item.context_expr):
                self._bind(item.optional_vars)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_For(self, node):
        if self._is_gradio(node.iter):
            self._bind(node.target)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_comprehension(self, node):
        if self._is_gradio(node.iter):
            self._bind(node.target)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        if node.name and self._is_gradio(node.type):
            self.gradio.add(node.name)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        positional = node.args.posonlyargs + node.args.args
        if positional and positional[0].arg in ("self", "cls"):
            positional = positional[1:]
        for i, argument in enumerate(positional + node.args.kwonlyargs):
            if self._is_gradio(argument.annotation) or (i < len(positional) and i in self.handed.get(node.name, ())):
                self.gradio.add(argument.arg)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    # --- what is forbidden ---

    def _find(self, node: ast.AST, what: str) -> None:
        self.findings.append((node.lineno, what))

    def _check_targets(self, node, targets) -> None:
        for target in targets:
            if isinstance(target, (ast.Tuple, ast.List)):
                self._check_targets(node, target.elts)
            elif isinstance(target, (ast.Starred, ast.Subscript)):  # x.items[0] = ...: changes x.items
                self._check_targets(node, [target.value])
            elif isinstance(target, ast.Attribute) and self._is_gradio(target.value) and not _is_self(target.value):
                self._find(node, f"{_dotted(target) or '...' + target.attr} = ...")

    def visit_Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in ("setattr", "delattr") and node.args and self._is_gradio(node.args[0]):
            self._find(node, f"{node.func.id}({_dotted(node.args[0]) or '...'}, ...)")
        callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        for i, argument in enumerate(node.args):
            if callee and self._is_gradio(argument):
                self.handed.setdefault(callee, set()).add(i)
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if _private(node.attr) and self._is_gradio(node.value):
            self._find(node, f"{_dotted(node.value) or '...'}.{node.attr}")
        self.generic_visit(node)


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def scan(source: str) -> list[tuple[int, str]]:
    """The patches of Gradio in ``source`` (a module's text), as (line, what)."""
    tree = ast.parse(source)
    first = _Scan()  # learns which functions of the module are handed Gradio objects
    first.visit(tree)
    scanner = _Scan(first.handed)
    scanner.visit(tree)
    return sorted(set(scanner.findings))


def test_the_scanner_finds_each_kind_of_patch():
    source = """
import gradio as gr
from gradio.mcp import GradioMCPServer
from gradio.utils import _private_helper
import gradio._simple_templates

def build():
    with gr.Blocks() as page:
        image = gr.Image()
    image.preprocess = lambda payload: payload
    page.process_api = None
    GradioMCPServer.pop_returned_state = staticmethod(len)
    setattr(page, "postprocess_data", None)
    for fn in page.fns.values():
        fn.fn = print
    queue = page._queue
    try:
        pass
    except gr.Error as error:
        error.message = "changed"

def guard(box: gr.Textbox, other):
    box.value = ""
    other.value = ""

def wrap(queue):
    queue.push = None
    queue.waiting[:] = []
    found = {}
    found[queue.name] = 1

wrap(gr.Blocks()._queue)

class Mine(gr.File):
    def __init__(self):
        self.mine = 1
"""
    found = {what for _, what in scan(source)}
    assert found == {
        "from gradio.utils import _private_helper",
        "import gradio._simple_templates",
        "image.preprocess = ...",
        "page.process_api = ...",
        "GradioMCPServer.pop_returned_state = ...",
        "setattr(page, ...)",
        "fn.fn = ...",
        "page._queue",
        "error.message = ...",
        "box.value = ...",
        "queue.push = ...",
        "queue.waiting = ...",
        "...._queue",
    }, found


def test_the_scanner_passes_plain_code():
    source = """
import gradio as gr

def handler(text: str, request: gr.Request) -> str:
    return text.upper()

class Files(gr.File):
    def api_info_as_input(self):
        self.cached = super().api_info_as_input()
        return self.cached

def build(config):
    config.value = 1  # not a Gradio object
    with gr.Blocks() as page:
        box = gr.Textbox()
        box.submit(handler, box, box)
    return page
"""
    assert scan(source) == []


def test_the_app_uses_gradio_through_its_public_api_only():
    found: dict[tuple[str, str], list[int]] = {}
    for path in app_files():
        for line, what in scan(path.read_text(encoding="utf-8")):
            found.setdefault((path.relative_to(ROOT).as_posix(), what), []).append(line)
    unexplained = {
        f"{file}:{lines[0]}: {what}" for (file, what), lines in found.items() if (file, what) not in EXCEPTIONS
    }
    assert not unexplained, (
        "Gradio patched at run time (use its public API, an ASGI middleware, a component subclass, or the "
        f"handler chain; see tests/test_gradio_public.py): {sorted(unexplained)}"
    )
    stale = set(EXCEPTIONS) - set(found)
    assert not stale, f"EXCEPTIONS name patches that are gone; remove them: {sorted(stale)}"
