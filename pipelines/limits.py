"""The ranges the pipelines check their number options against, each declared once: the
pipelines' own checks call ``Range.check`` on them, and the tabs build their sliders from
them (tests/ui/test_slider_limits.py holds the two together). Keyed by the option's name,
as the pipelines and the API name it.

A chat model asked to caption or to answer in a word (pipelines/vlm_tasks.py) takes the
Caption and Ask tabs' controls, so it checks the same ranges as BLIP."""

from pipelines.chat_budget import MAX_ANSWER_TOKENS
from runtime.inputs import Range

# Caption: BLIP (pipelines/captioning.py) or a chat model asked to describe the image.
CAPTION = {
    "max_new_tokens": Range(1, 100),
    "num_beams": Range(1, 8),
    "temperature": Range(0.05, 2.0, integer=False),
    "top_p": Range(0.05, 1.0, integer=False),
}

# Ask: BLIP or ViLT (pipelines/vqa.py) or a chat model asked for a short answer.
VQA = {"max_new_tokens": Range(1, 50), "num_beams": Range(1, 8)}
MAX_QUESTION_CHARS = 500

# Chat (pipelines/vlm.py, and its model-server twin).
CHAT = {
    "max_new_tokens": Range(1, MAX_ANSWER_TOKENS),
    "temperature": Range(0.0, 2.0, integer=False),  # 0: greedy
    "top_p": Range(0.05, 1.0, integer=False),
}

# Create (pipelines/text_to_image.py): width and height must also be multiples of the
# model's latent scale, which depends on the model.
TEXT_TO_IMAGE = {
    "num_inference_steps": Range(1, 100),
    "guidance_scale": Range(0.0, 20.0, integer=False),
    "width": Range(64, 1024),
    "height": Range(64, 1024),
    "num_images": Range(1, 4),
}

# Speak (pipelines/text_to_speech.py).
TEXT_TO_SPEECH = {"speaking_rate": Range(0.25, 4.0, integer=False)}

# Search (pipelines/retrieval.py): how much the text query weighs against the image one.
RETRIEVAL = {"text_weight": Range(0.0, 1.0, integer=False)}


def check_caption_options(max_new_tokens, num_beams, temperature, top_p) -> None:
    """The Caption tab's number options, checked against ``CAPTION``."""
    options = dict(max_new_tokens=max_new_tokens, num_beams=num_beams, temperature=temperature, top_p=top_p)
    for name, value in options.items():
        CAPTION[name].check(name, value)
