"""What a lesson's Try it can run: every named endpoint of the page that a button starts.

Each tab wires its buttons to its handlers and names the endpoint (``api_name``), as
every task is also an API call. ``collect`` reads those events back from the page, so
a lesson reaches another tab's inputs by the handler's parameter names (``image``,
``prompt``, ``num_inference_steps``) without any tab listing them again, and a new
tab's endpoints are reachable as soon as it is built. For each endpoint it gives the
button to press, the inputs by name, and what has to open first for the button to be
on screen: the tabs it sits in and the accordions around it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import gradio as gr
from gradio.blocks import Block
from gradio.components import Component


@dataclass(frozen=True)
class Action:
    endpoint: str  # the api_name, e.g. "explain_caption"
    tab: str  # the id of the top-level tab it is in
    button: gr.Button  # what a student clicks to run it
    inputs: dict[str, Component]  # the handler's parameters, by name
    tabs: tuple[tuple[gr.Tabs, str], ...]  # (tabs, id) to select, outermost first
    accordions: tuple[gr.Accordion, ...]  # the accordions to open, outermost first

    @property
    def element_id(self) -> str:
        return self.button.elem_id


def run_id(endpoint: str) -> str:
    """The HTML id of the button that runs ``endpoint`` (given where the button is made), by
    which a lesson's Try it presses it."""
    return f"run-{endpoint}"


def parameters(fn) -> list[str]:
    """A handler's parameters that come from inputs: not the ones Gradio fills in itself
    (progress, the request)."""
    names = []
    for name, parameter in inspect.signature(fn).parameters.items():
        if isinstance(parameter.default, gr.Progress) or "Request" in str(parameter.annotation):
            continue
        names.append(name)
    return names


def collect(demo: gr.Blocks) -> dict[str, Action]:
    """Every public named endpoint of ``demo`` built so far that a button in a tab starts,
    by endpoint name. Each button has the HTML id ``run_id(endpoint)``, by which the page presses it."""
    found = {}
    for block_fn in demo.fns.values():
        if not block_fn.api_name or block_fn.api_visibility != "public" or block_fn.fn is None:
            continue
        buttons = [demo.blocks.get(target) for target, event in block_fn.targets if event == "click"]
        button = next((b for b in buttons if isinstance(b, gr.Button)), None)
        if button is None:
            continue
        tabs, accordions = _around(button)
        if not tabs:
            continue
        if button.elem_id != run_id(block_fn.api_name):  # the page presses it by this id
            raise ValueError(f"the button that runs /{block_fn.api_name} needs elem_id=run_id({block_fn.api_name!r})")
        inputs = dict(zip(parameters(block_fn.fn), block_fn.inputs, strict=False))
        found[block_fn.api_name] = Action(block_fn.api_name, tabs[0][1], button, inputs, tabs, accordions)
    return found


def _around(block: Block) -> tuple[tuple[tuple[gr.Tabs, str], ...], tuple[gr.Accordion, ...]]:
    """The (tabs, tab id) and the accordions ``block`` sits in, outermost first."""
    tabs, accordions = [], []
    parent = block.parent
    while parent is not None:
        if isinstance(parent, gr.Accordion):
            accordions.append(parent)
        if isinstance(parent, gr.Tab) and isinstance(parent.parent, gr.Tabs) and parent.id is not None:
            tabs.append((parent.parent, str(parent.id)))
        parent = parent.parent
    return tuple(reversed(tabs)), tuple(reversed(accordions))
