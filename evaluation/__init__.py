"""Measure what the models can do: a bundled probe set, metrics, a runner and reports.

- ``evaluation.probes``: the versioned probe set (``data/probes_v1.json``): scenes,
  the app's example photos with hand-written references, question-answer pairs
  tagged by ability, text-to-image prompts (the synthetic scenes are drawn by ``labs/scenes.py``);
- ``evaluation.metrics``: BLEU-4, CIDEr, CLIPScore, VQA accuracy, Recall@K, mean rank;
- ``evaluation.runner``: runs the app's models (or reads predictions) and scores them;
- ``evaluation.report``: ``results.json``, a Markdown report and a chart.

``python -m evaluation --help`` runs it from the command line; the app's Evaluate tab
runs it in the browser. Importing this package loads no model.
"""

from runtime.lazy import exports

_WHERE = {"ProbeSet": "evaluation.probes", "load_probes": "evaluation.probes", "evaluate": "evaluation.runner"}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
