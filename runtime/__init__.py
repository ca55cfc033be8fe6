"""What serves the models: every setting (``settings``, the only reader of the
environment), the registry of tasks, checkpoints and profiles, the device and precision,
memory budgets, finding checkpoints offline or on the Hub and downloading them (the Hub,
a mirror or ModelScope), dynamic batching, input checks, audio files, atomic writes and
the tiny random models. Nothing here lays out a page, and nothing here knows the
pipelines: the model cache that loads them is ``pipelines.cache.MODELS``."""

from runtime.lazy import exports

_WHERE = {
    "CheckpointUnavailable": "runtime.hub",
    "Checkpoint": "runtime.registry",
    "get_checkpoint": "runtime.registry",
    "choices": "runtime.registry",
    "load_image": "runtime.inputs",
    "load_audio": "runtime.audio",
    "save_audio": "runtime.audio",
}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
