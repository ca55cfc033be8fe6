"""The model pipelines, one file per task: ``from_pretrained`` to load, ``__call__``
to run, plain Python values out (captions, answers, images, embeddings, transcripts,
waveforms). The text-to-image pipeline runs its safety filter (``pipelines/safety.py``)
inside ``__call__``. The ranges every pipeline checks are in ``limits``; the one model
cache (``MODELS``, ``pipelines/cache.py``) loads each pipeline on first use, from the
registry, devices and budgets of runtime/."""

from runtime.lazy import exports

_WHERE = {
    "CaptionPipeline": "pipelines.captioning",
    "VQAPipeline": "pipelines.vqa",
    "TextToImagePipeline": "pipelines.text_to_image",
    "RetrievalPipeline": "pipelines.retrieval",
    "SpeechRecognitionPipeline": "pipelines.speech_recognition",
    "TextToSpeechPipeline": "pipelines.text_to_speech",
    "SafetyChecker": "pipelines.safety",
    "SafetyFilter": "pipelines.safety",
    "MODELS": "pipelines.cache",
    "ModelCache": "pipelines.cache",
    "Loaded": "pipelines.cache",
}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
