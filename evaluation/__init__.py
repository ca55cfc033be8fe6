"""Measure what the models can do: a bundled probe set, metrics, a runner and reports.

- ``labs.scenes``: synthetic scenes drawn from a seed, with exact ground truth
  (``generate_scenes``, ``render_scene``, ``describe``, ``questions``);
- ``evaluation.probes``: the versioned probe set (``data/probes_v1.json``): scenes,
  the app's example photos with hand-written references, question-answer pairs
  tagged by ability, text-to-image prompts;
- ``evaluation.metrics``: BLEU-4, CIDEr, CLIPScore, VQA accuracy, Recall@K, mean rank;
- ``evaluation.runner``: runs the app's models (or reads predictions) and scores them;
- ``evaluation.report``: ``results.json``, a Markdown report and a chart.

``python -m evaluation --help`` runs it from the command line; the app's Evaluate tab
runs it in the browser. Importing this package loads no model.
"""

from evaluation.probes import ProbeSet, load_probes
from evaluation.runner import evaluate
from labs.scenes import Scene, Shape, generate_prompts, generate_scenes, render_scene

__all__ = [
    "ProbeSet",
    "Scene",
    "Shape",
    "evaluate",
    "generate_prompts",
    "generate_scenes",
    "load_probes",
    "render_scene",
]
