"""Create shows its progress on the page. Its handler yields at each denoising step (so that
Stop and a closed page can end it, tests/app/test_create_stop.py), and Gradio shows no
progress bar for a handler that has yielded: the step goes into the gallery's label, which
is put back before the images, or before an error."""

import gradio as gr
import pytest


class Progress:
    """gr.Progress as the handler calls it, recorded."""

    def __init__(self):
        self.calls = []

    def __call__(self, value, desc=None, **kwargs):
        self.calls.append((value, desc))


def labels(updates) -> list[str]:
    return [update.label for update in updates if isinstance(update, gr.Gallery)]


def test_each_denoising_step_is_shown_above_the_gallery_then_the_images(models):
    from ui.tabs import create

    progress = Progress()
    updates = list(
        create.text_to_image(
            "a red fox", seed=1, num_inference_steps=3, width=64, height=64, model="tiny-sd", progress=progress
        )
    )
    assert labels(updates) == [
        "Images · Denoising step 1/3",
        "Images · Denoising step 2/3",
        "Images · Denoising step 3/3",
        "Images",
    ]
    images = updates[-1]
    assert len(images) == 1 and images[0][0].size == (64, 64) and "seed 1" in images[0][1]
    assert ((3, 3), "Denoising step 3/3") in progress.calls  # API clients still get the progress


def test_the_label_is_put_back_before_an_error(models, monkeypatch):
    from pipelines.text_to_image import TextToImagePipeline
    from tests.conftest import ThroughTheChain
    from ui.tabs import create

    def fail(self, prompt, callback=None, **kwargs):
        callback(1, 3)
        raise ValueError("the denoiser failed")

    monkeypatch.setattr(TextToImagePipeline, "__call__", fail)
    updates = []
    with pytest.raises(gr.Error, match="the denoiser failed"):
        # as the app calls it (ui/chain.py): the pipeline's ValueError becomes the message
        for update in ThroughTheChain(create).text_to_image(
            "a red fox", seed=1, num_inference_steps=3, width=64, height=64, model="tiny-sd", progress=Progress()
        ):
            updates.append(update)
    assert labels(updates) == ["Images · Denoising step 1/3", "Images"]
