"""A package's public names, imported on first use (PEP 562 ``__getattr__``), so that
``import pipelines, runtime, search, explain, labs`` loads no model and no PyTorch: the
page starts in seconds and models load when a tab first needs them."""

from __future__ import annotations

import importlib


def exports(package: str, where: dict[str, str]):
    """The ``__getattr__`` of ``package``: each name in ``where`` from its module."""

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
