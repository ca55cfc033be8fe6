"""The app's imports flow one way, from the page down to what serves the models, with no
circles: read from the source (every ``import``, also those inside functions, and the
"module" or "module:Name" strings that lazy exports and the model cache import by name),
so a cycle can't hide behind an import moved into a function."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom: a module may import from its own package and from the layers below it,
# never from a layer above; packages that share a layer don't import one another.
LAYERS = [
    ["app"],
    ["ui"],
    ["classroom", "evaluation", "explain", "search"],
    ["labs", "lessons"],
    ["pipelines"],
    ["runtime"],
]
LAYER_OF = {package: n for n, packages in enumerate(LAYERS) for package in packages}
# "package.module" or "package.module:Name", as importlib.import_module and lazy exports take them
LAZY = re.compile(r"[a-z_]+(\.[a-z_0-9]+)+(:[A-Za-z_]\w*)?")


def app_modules() -> dict[str, Path]:
    """Dotted module name -> file, for app.py and every package in ``LAYERS``."""
    modules = {"app": ROOT / "app.py"}
    for package in LAYER_OF:
        if (ROOT / package).is_dir():
            for path in sorted((ROOT / package).rglob("*.py")):
                parts = path.relative_to(ROOT).with_suffix("").parts
                modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _closest(name: str, modules: dict) -> str | None:
    """The module that ``name`` (a module, or a name inside one) lives in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, modules: dict) -> list[tuple[str, int]]:
    """(imported app module, line) for every import in ``path``, at any depth."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # "from pkg import mod" imports the submodule; "from mod import name", the module
            targets = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and LAZY.fullmatch(node.value):
            module = node.value.partition(":")[0]
            targets = [module] if module in modules else []  # a module imported by name, on first use
        for target in targets:
            module = _closest(target, modules)
            if module is not None and module != name:
                found.append((module, node.lineno))
    return found


def import_graph() -> dict[str, dict[str, int]]:
    modules = app_modules()
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        for module, line in imports_of(name, path, modules):
            graph[name].setdefault(module, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    described = [
        "; ".join(f"{a} -> {b} (line {graph[a][b]})" for a in cycle for b in cycle if b in graph[a]) for cycle in found
    ]
    assert not found, "Import cycles (put the shared code in the module both sides need):\n" + "\n".join(described)


def test_imports_flow_down_the_layers():
    wrong = []
    for name, imported in import_graph().items():
        package = name.partition(".")[0]
        for module, line in imported.items():
            other = module.partition(".")[0]
            if other != package and LAYER_OF[package] >= LAYER_OF[other]:
                wrong.append(f"{name} (line {line}) imports {module}")
    assert not wrong, f"Imports against the layers {LAYERS}:\n" + "\n".join(wrong)


def test_the_checks_see_imports_inside_functions_and_by_name(tmp_path):
    """The scan itself: an import moved into a function, or named in a string, still counts."""
    modules = {"runtime.a": tmp_path / "a.py", "pipelines.b": tmp_path / "b.py"}
    modules["runtime.a"].write_text('def f():\n    from pipelines.b import thing\n\nWHERE = "pipelines.b:Thing"\n')
    modules["pipelines.b"].write_text("import runtime.a\n")
    assert imports_of("runtime.a", modules["runtime.a"], modules) == [("pipelines.b", 2), ("pipelines.b", 4)]
    graph = {name: dict(imports_of(name, path, modules)) for name, path in modules.items()}
    assert cycles(graph) == [["pipelines.b", "runtime.a"]]
