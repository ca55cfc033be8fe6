"""Caption tab: an image in, a sentence out (BLIP, or a vision-language model asked to describe it)."""

from __future__ import annotations

import gradio as gr

from explain import snippets
from pipelines.limits import CAPTION
from runtime import settings
from runtime.backends import needs_local_model
from runtime.batching import batched, options_key
from runtime.inputs import is_random_seed, load_image
from ui import panels
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import image_input, model_picker, model_status, seed_input, session_state, status_line
from ui.context import Context
from ui.handlers import get_model, gpu
from ui.i18n import _, both
from ui.server.language import page_language
from ui.server.queue import batch_event
from ui.speech import read_aloud

EXAMPLES = ["astronaut.jpg", "cat.jpg", "coffee.jpg", "rocket.jpg", "grace_hopper.jpg"]


@gpu
def caption(
    image: str,
    model: str | None = None,
    prompt: str | None = None,
    max_new_tokens: int = 30,
    num_beams: int = 3,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 0.9,
    seed: int = -1,
    progress=gr.Progress(track_tqdm=True),
) -> tuple[str, int | None]:
    """Write a one-sentence caption of an image with BLIP, or with a vision-language model (Qwen3-VL, Qwen3.5, SmolVLM, Gemma 3) asked to describe it (in Chinese on the Chinese page, for a model that reads Chinese).

    Args:
        image: The image to describe (PNG, JPEG, WEBP, GIF or BMP).
        model: Which checkpoint to use (its key: a BLIP one, or a chat model such as qwen3.5-0.8b or smolvlm-256m); the profile's default when empty.
        prompt: Optional start of the caption that the model continues, e.g. "a photography of".
        max_new_tokens: Longest caption, in tokens (1-100).
        num_beams: Candidate captions kept by beam search (1-8); 1 is greedy decoding.
        do_sample: Pick words at random by their probability instead of searching.
        temperature: With do_sample, how random the choice is (0.1-2.0).
        top_p: With do_sample, sample only from the most likely words whose probabilities add up to this (0.1-1.0).
        seed: With do_sample, the random seed; -1 draws one. The same seed and settings give the same caption.

    Returns:
        The caption. (In the app's page the seed drawn for seed -1 is shown too.)
    """
    # The caption, and the seed drawn for it when it was sampled with seed -1 (else None).
    # The API returns the caption alone: the seed goes to the page's state, for the status
    # line and Show the code.
    # The checks that need no model run first: a bad input is refused before a download.
    image = load_image(image)
    loaded = get_model("caption", model, progress)
    pipe = loaded.pipeline
    # Checked before batching, so that bad input fails this request alone, never a batch;
    # its notices (a prompt cut short, fewer tokens) reach this request, whoever runs the batch.
    image, options = pipe.preprocess(
        image,
        prompt=prompt,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        **caption_language(pipe, prompt),
    )
    result = batched(loaded, lambda images: pipe.forward(images, **options), image, options_key(pipe, **options))
    return result, options.get("seed") if is_random_seed(seed) else None


def caption_language(pipe, prompt: str | None) -> dict:
    """On the Chinese page, a vision-language model that writes Chinese is asked for its
    caption in Chinese (BLIP writes English whatever the page); a caption prompt's own
    language decides otherwise, since the caption continues it."""
    chinese_page = (page_language() or "").startswith("zh")
    if getattr(pipe, "writes_chinese", False) and chinese_page and not (prompt and prompt.strip()):
        return {"language": "zh"}
    return {}


def caption_status(model: str | None, drawn: int | None = None) -> str:
    """The model's status line, and after a sampled caption with seed -1 the seed drawn."""
    line = model_status("caption", model)
    return line if drawn is None else f"{line}\n\n🎲 {both('caption.seed_drawn', seed=drawn)}"


# --- Explain, How it works and Show the code ---------------------------------------


@gpu
def explain_caption(
    image: str,
    model: str | None = None,
    prompt: str | None = None,
    max_new_tokens: int = 30,
    num_beams: int = 3,
    temperature: float = 1.0,
    top_p: float = 0.9,
    seed: int = -1,
    decoding: str = "greedy",
    layer: int = 0,
    progress=gr.Progress(track_tqdm=True),
):
    """Explain how a caption is decoded: each token's probability and top-5 alternatives under greedy decoding, beam search and sampling, and where in the image the model looked.

    Args:
        image: The image to describe.
        model: Which captioning checkpoint to use; the profile's default when empty.
        prompt: Optional start of the caption.
        max_new_tokens: Longest caption, in tokens (1-100).
        num_beams: Beams for the beam-search strategy (1-8).
        temperature: Temperature for the sampling strategy.
        top_p: Top-p for the sampling strategy.
        seed: Seed for the sampling strategy; -1 draws one.
        decoding: Which strategy's attention maps to return: greedy, beam or sampling.
        layer: Which cross-attention layer to show; 0 averages all layers.

    Returns:
        The explanation as JSON (texts, per-step tokens and probabilities) and the attention heatmaps.
    """
    from explain import generation as explain_generation

    # The checks that need no model run first: a bad input is refused before a download.
    image = load_image(image)
    pipe = get_model("caption", model, progress).pipeline
    needs_local_model(pipe, "caption")
    explanation = explain_generation.explain_caption(
        pipe,
        image,
        prompt=prompt,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        **caption_language(pipe, prompt),
    )
    return explanation.record, panels.attention_gallery(explanation, decoding, layer), explanation


def caption_code(image, model, prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed, output, drawn):
    """Show the code for the caption on the page, with the seed it was sampled with."""
    if not output or image is None:
        return "", None
    if is_random_seed(seed) and drawn is not None:
        seed = drawn  # the seed the caption was sampled with
    loaded = panels.loaded_model("caption", model)
    record = snippets.caption_record(
        loaded,
        image,
        output,
        prompt,
        max_new_tokens,
        num_beams,
        do_sample,
        temperature,
        top_p,
        seed,
        **caption_language(loaded.pipeline, prompt),
    )
    return panels.code_and_record(record)


def caption_panel(
    demo,
    ctx,
    captioned,
    *,
    image,
    picker,
    prompt,
    max_new_tokens,
    num_beams,
    do_sample,
    temperature,
    top_p,
    seed,
    output,
    drawn,
) -> None:
    """The Caption tab's Explain, How it works and Show the code panels; Show the code
    follows each caption (``captioned``, its event) as a display of it, never a request."""
    button, strategy, layer, summary, table, chart, maps, _extra, record, state = panels.generation_panel(
        demo,
        ctx.classroom,
        "explain.caption_title",
        "explain.caption_intro",
        "explain.caption_button",
        "explain_caption",
    )
    panels.how_it_works("explain.caption_how")
    code, record_file = panels.show_code()

    inputs = [image, picker, prompt, max_new_tokens, num_beams, temperature, top_p, seed, strategy, layer]
    event = button.click(
        endpoint(explain_caption, ctx, inputs),
        inputs,
        [record, maps, state],
        api_name="explain_caption",
        concurrency_id="model",
    )
    render = panels.redraw_generation(ctx, state, strategy, layer, [summary, table, chart, maps])
    event.success(**render).then(
        display(panels.layer_slider, ctx, state), state, layer, api_visibility="private", queue=False
    )

    shown = [image, picker, prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed, output, drawn]
    captioned.success(display(caption_code, ctx, shown), shown, [code, record_file], api_visibility="private")


def _advanced(ctx: Context) -> tuple:
    """The Advanced settings: the prompt, the decoding settings and the seed, each built
    with the teacher's lock on its parameter."""
    with gr.Accordion(_("common.advanced"), open=False):
        prompt = ctx.classroom.control(
            "prompt",
            gr.Textbox,
            label=_("caption.prompt"),
            info=_("caption.prompt_info"),
            placeholder="a photography of",
        )
        max_new_tokens = ctx.classroom.control(
            "max_new_tokens",
            gr.Slider,
            *CAPTION["max_new_tokens"].ends,
            30,
            step=1,
            label=_("caption.max_new_tokens"),
        )
        num_beams = ctx.classroom.control(
            "num_beams",
            gr.Slider,
            *CAPTION["num_beams"].ends,
            3,
            step=1,
            label=_("caption.num_beams"),
            info=_("caption.num_beams_info"),
        )
        do_sample = ctx.classroom.control(
            "do_sample", gr.Checkbox, False, label=_("caption.do_sample"), info=_("caption.do_sample_info")
        )
        with gr.Row():
            temperature = ctx.classroom.control(
                "temperature",
                gr.Slider,
                *CAPTION["temperature"].ends,
                1.0,
                step=0.05,
                label=_("caption.temperature"),
            )
            top_p = ctx.classroom.control(
                "top_p", gr.Slider, *CAPTION["top_p"].ends, 0.9, step=0.05, label=_("caption.top_p")
            )
        seed = seed_input(ctx.classroom)
    return prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed


def build(demo: gr.Blocks, ctx: Context) -> None:
    with gr.Tab(_("caption.tab"), id="caption"):
        gr.Markdown(_("caption.intro"))
        with gr.Row(equal_height=False):
            with gr.Column():
                image = image_input(label=_("common.image"), sources=["upload", "clipboard", "webcam"], height=340)
                picker = model_picker("caption", ctx.classroom)
                prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed = _advanced(ctx)
                button = gr.Button(_("caption.button"), elem_id=run_id("caption"), variant="primary")
            with gr.Column():
                # Read aloud's ``text`` too: a lock on that parameter fixes this box as well.
                output = ctx.classroom.control("text", gr.Textbox, label=_("caption.output"), lines=3, buttons=["copy"])
                read_aloud(output, ctx)
                status = status_line(demo, "caption", picker, ctx)
        gr.Examples(
            [[str(settings.EXAMPLE_IMAGES_DIR / name)] for name in EXAMPLES], inputs=[image], label=_("common.examples")
        )

        # The seed drawn for this visitor's last sampled caption (seed -1): in their page's
        # state, so the status line shows it and Show the code replays it.
        drawn = session_state(None)
        inputs = [image, picker, prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed]
        event = button.click(
            endpoint(caption, ctx, inputs), inputs, [output, drawn], api_name="caption", **batch_event()
        )
        event.then(
            display(caption_status, ctx, [picker, drawn]),
            [picker, drawn],
            status,
            api_visibility="private",
            queue=False,
        )
        caption_panel(
            demo,
            ctx,
            event,
            image=image,
            picker=picker,
            prompt=prompt,
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            do_sample=do_sample,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            output=output,
            drawn=drawn,
        )


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their parameters).
ENDPOINTS = (caption, explain_caption)
