"""What teaches by doing: the Fusion lab (early, late and hybrid fusion trained on frozen
features) and the synthetic scenes it shares with the evaluation probe set."""

from runtime.lazy import exports

_WHERE = {
    "FusionLab": "labs.fusion",
    "FusionConfig": "labs.fusion",
    "train": "labs.fusion",
    "train_steps": "labs.fusion",
    "Scene": "labs.scenes",
    "render_scene": "labs.scenes",
    "generate_scenes": "labs.scenes",
}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
