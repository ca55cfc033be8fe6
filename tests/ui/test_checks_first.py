"""Cheap checks come first: a request with a missing or bad input is refused before its
model loads (on the real `cpu` profile a first load is a download of about 1 GB)."""

import pytest

from tests.conftest import IMAGES


def handlers():
    from ui import speech
    from ui.tabs import ask, caption, create, search

    return {
        "caption": (lambda: caption.caption(None), "caption"),
        "vqa": (lambda: ask.vqa(str(IMAGES / "cat.jpg"), "   "), "vqa"),
        "classify": (lambda: search.classify(str(IMAGES / "cat.jpg"), ", ,"), "retrieval"),
        "text_to_image": (lambda: next(create.text_to_image("")), "text_to_image"),
        "speak": (lambda: speech.speak(""), "text_to_speech"),
    }


@pytest.mark.parametrize("endpoint", ["caption", "vqa", "classify", "text_to_image", "speak"])
def test_bad_input_is_refused_before_the_model_loads(models, endpoint):
    call, task = handlers()[endpoint]
    for loaded in models.loaded():
        if loaded.checkpoint.task == task:
            models.unload(task, loaded.checkpoint.key)
    with pytest.raises(ValueError):  # the handler's own; ui/chain.py says it as a message
        call()
    assert not [loaded for loaded in models.loaded() if loaded.checkpoint.task == task]
