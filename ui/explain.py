"""Explain panels for every tab: what happens inside the model, computed from the model
in use; "How it works" with the key formulas; "Show the code" with a runnable snippet
and a JSON record of each result.

Each tab calls one ``*_panel`` function at the end of its ``build`` and hands over
the components it needs. The computations live in ``pipelines/explain_*.py`` and
``explain/snippets.py`` (the torch-based ones are imported on first use, so building
the UI loads nothing heavy); this module lays out the panels and wires the endpoints
``/explain_caption``, ``/explain_vqa``, ``/explain_text_to_image``,
``/similarity_matrix`` and ``/embedding_map``.
"""

from __future__ import annotations

import functools
import itertools
import queue
import re
import threading

import gradio as gr
import pandas as pd

from explain import clip as explain_clip
from explain import snippets
from pipelines import safety
from runtime.cache import MODELS
from runtime.hub import locate
from runtime.inputs import check_text, is_random_seed
from runtime.registry import Checkpoint
from ui.common import drawn_seed, get_model, gpu, user_errors
from ui.i18n import _
from ui.server import outputs

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
_DONE = object()


def user_errors_stream(fn):
    """``user_errors`` for a generator handler: each step's failure becomes a message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        steps = fn(*args, **kwargs)
        advance = user_errors(lambda: next(steps, _DONE))
        while (item := advance()) is not _DONE:
            yield item

    return wrapper


def how_it_works(key: str) -> None:
    with gr.Accordion(_("explain.how_title"), open=False):
        gr.Markdown(_(key), latex_delimiters=LATEX)


def show_code() -> tuple[gr.Code, gr.File]:
    """The "Show the code" accordion: the snippet and the JSON record to download."""
    with gr.Accordion(_("explain.code_title"), open=False):
        gr.Markdown(_("explain.code_intro"))
        code = gr.Code(language="python", label=_("explain.code"), interactive=False)
        record = gr.File(label=_("explain.record"), interactive=False)
    return code, record


def _code(record: dict | None):
    if record is None:
        return "", None
    return snippets.snippet(record), snippets.write_record(record, outputs.new_folder("record"))


def _loaded(task: str, model: str | None):
    """The model that made a result on screen: loaded already, so this is a cache hit."""
    return MODELS.get(task, model or None)


# --- Caption and Ask: decoding explorer and attention maps -------------------------

# Column names of tables and charts filled by handlers can't go through gr.I18n (only
# component labels do), so they are bilingual, like the status lines.
STEP, TOKEN, PROB, TOP5 = "#", "token / 词元", "p / 概率", "top 5 / 前五"
STEP_LABEL, ANSWER, SIGMA, WORD, ATTENTION = "step / 步", "answer / 答案", "σ", "word / 词", "attention / 注意力"

STRATEGY_NAMES = {"greedy": "greedy / 贪心", "beam": "beam / 束搜索", "sampling": "sampling / 采样",
                  "classifier": "classifier / 分类器"}  # fmt: skip
STRATEGY_KEYS = {"greedy": "explain.greedy", "beam": "explain.beam", "sampling": "explain.sampling",
                 "classifier": "explain.classifier"}  # fmt: skip


def _steps_table(steps: list[dict]) -> pd.DataFrame:
    rows = [
        {
            STEP: i + 1,
            TOKEN: s["token"],
            PROB: round(s["probability"], 4),
            TOP5: " · ".join(f"{a['token']} {a['probability']:.3f}" for a in s["alternatives"]),
        }
        for i, s in enumerate(steps)
    ]
    return pd.DataFrame(rows, columns=[STEP, TOKEN, PROB, TOP5])


def _steps_chart(steps: list[dict]) -> pd.DataFrame:
    """Chosen token's probability per step; the label keeps steps in order."""
    return pd.DataFrame(
        [{STEP_LABEL: f"{i + 1:02d} {s['token']}", PROB: s["probability"]} for i, s in enumerate(steps)],
        columns=[STEP_LABEL, PROB],
    )


def _markdown_text(text: str) -> str:
    """Model output shown as plain text inside Markdown (a backtick is not code here)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~$])", r"\\\1", text) if text else "∅"


def _summary(record: dict) -> str:
    lines = []
    for s in record["strategies"]:
        extra = ", ".join(f"{k} = {s[k]}" for k in ("num_beams", "seed", "temperature", "top_p") if k in s)
        lines.append(
            f"| **{STRATEGY_NAMES.get(s['name'], s['name'])}**{f' ({extra})' if extra else ''} | {_markdown_text(s['text'])} | {s['sequence_probability']:.3g} |"
        )
    return "| | text / 文本 | P(text) |\n|---|---|---|\n" + "\n".join(lines)


def _pick(explanation, strategy: str) -> str:
    names = [s["name"] for s in explanation.record["strategies"]]
    return strategy if strategy in names else names[0]


def _gallery(explanation, strategy: str, layer: int) -> list:
    strategy = _pick(explanation, strategy)
    from explain import generation as explain_generation

    layer = min(int(layer or 0), explanation.num_layers)
    items = explain_generation.heatmaps(explanation, strategy, layer)
    if "question" in explanation.maps:  # VQA: the question's words over the image too
        items += explain_generation.heatmaps(explanation, "question", layer, prefix="Q")
    return items


def render_generation(explanation, strategy: str, layer: int):
    """Summary, table, chart and heatmaps of one strategy, from a stored explanation."""
    if explanation is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    strategy = _pick(explanation, strategy)
    steps = next(s for s in explanation.record["strategies"] if s["name"] == strategy)["steps"]
    return (_summary(explanation.record), _steps_table(steps), _steps_chart(steps),
            _gallery(explanation, strategy, layer))  # fmt: skip


@gpu
@user_errors
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
    from explain import generation as explain_generation

    pipe = get_model("caption", model, progress).pipeline
    explanation = explain_generation.explain_caption(
        pipe, image, prompt=prompt, max_new_tokens=max_new_tokens, num_beams=num_beams, temperature=temperature,
        top_p=top_p, seed=seed,
    )  # fmt: skip
    return explanation.record, _gallery(explanation, decoding, layer), explanation


@gpu
@user_errors
def explain_vqa(
    image: str,
    question: str,
    model: str | None = None,
    candidates: str | None = None,
    top_k: int = 5,
    decoding: str = "greedy",
    layer: int = 0,
    progress=gr.Progress(track_tqdm=True),
):
    from explain import generation as explain_generation

    pipe = get_model("vqa", model, progress).pipeline
    explanation = explain_generation.explain_vqa(pipe, image, question, candidates=candidates, top_k=top_k)
    return explanation.record, _gallery(explanation, decoding, layer), explanation


def _layer_slider(explanation):
    """The layer slider's range follows the model just explained."""
    return gr.Slider(maximum=explanation.num_layers) if explanation is not None else gr.skip()


def _answers_chart(explanation) -> pd.DataFrame:
    if explanation is None:
        return gr.skip()
    rows = [{ANSWER: a["answer"], PROB: a["probability"] or 0.0} for a in explanation.record["answers"]]
    return pd.DataFrame(rows, columns=[ANSWER, PROB])


def _generation_panel(demo, title: str, intro: str, button_label: str):
    """The components the caption and the VQA explain panels share."""
    with gr.Accordion(_(title), open=False):
        gr.Markdown(_(intro))
        button = gr.Button(_(button_label), variant="secondary")
        with gr.Row():
            strategy = gr.Radio(
                [(_(key), name) for name, key in STRATEGY_KEYS.items() if name != "classifier"],
                value="greedy", label=_("explain.strategy"), info=_("explain.strategy_info"),
            )  # fmt: skip
            layer = gr.Slider(0, 24, 0, step=1, label=_("explain.layer"), info=_("explain.layer_info"))
        summary = gr.Markdown()
        with gr.Row(equal_height=False):
            table = gr.Dataframe(label=_("explain.steps"), interactive=False, wrap=True, max_height=360)
            chart = gr.BarPlot(x=STEP_LABEL, y=PROB, label=_("explain.chart"), y_lim=[0, 1], x_label_angle=-45,
                               height=300, sort=None)  # fmt: skip
        maps = gr.Gallery(label=_("explain.maps"), columns=6, height=300, object_fit="contain", format="png")
        extra = gr.Column()  # room for a panel's own outputs
        with gr.Accordion(_("explain.json"), open=False):
            record = gr.JSON(label="JSON")
    state = gr.State()
    return button, strategy, layer, summary, table, chart, maps, extra, record, state


def caption_panel(demo, *, image, picker, prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed,
                  output) -> None:  # fmt: skip
    """The Caption tab's Explain, How it works and Show the code panels."""
    button, strategy, layer, summary, table, chart, maps, _extra, record, state = _generation_panel(
        demo, "explain.caption_title", "explain.caption_intro", "explain.caption_button"
    )
    how_it_works("explain.caption_how")
    code, record_file = show_code()

    inputs = [image, picker, prompt, max_new_tokens, num_beams, temperature, top_p, seed, strategy, layer]
    event = button.click(explain_caption, inputs, [record, maps, state], api_name="explain_caption",
                         concurrency_id="model")  # fmt: skip
    render = dict(fn=render_generation, inputs=[state, strategy, layer], outputs=[summary, table, chart, maps],
                  api_visibility="private", queue=False)  # fmt: skip
    event.success(**render).then(_layer_slider, state, layer, api_visibility="private", queue=False)
    strategy.change(**render)
    layer.release(**render)

    @user_errors
    def caption_code(image, model, prompt, max_new_tokens, num_beams, do_sample, temperature, top_p, seed, output,
                     request: gr.Request = None):  # fmt: skip
        if not output or image is None:
            return "", None
        if is_random_seed(seed) and (drawn := drawn_seed(request)) is not None:
            seed = drawn  # the seed the caption was sampled with
        record = snippets.caption_record(_loaded("caption", model), image, output, prompt, max_new_tokens,
                                         num_beams, do_sample, temperature, top_p, seed)  # fmt: skip
        return _code(record)

    output.change(caption_code, [image, picker, prompt, max_new_tokens, num_beams, do_sample, temperature, top_p,
                                 seed, output], [code, record_file], api_visibility="private")  # fmt: skip


def vqa_panel(demo, *, image, question, picker, answer) -> None:
    """The Ask tab's Explain, How it works and Show the code panels."""
    button, strategy, layer, summary, table, chart, maps, extra, record, state = _generation_panel(
        demo, "explain.vqa_title", "explain.vqa_intro", "explain.vqa_button"
    )
    with extra:
        with gr.Row():
            candidates = gr.Textbox(label=_("explain.candidates"), info=_("explain.candidates_info"),
                                    placeholder="cat, dog, bird", max_length=1000)  # fmt: skip
            top_k = gr.Slider(1, 20, 5, step=1, label=_("explain.top_k"))
        answers = gr.BarPlot(x=ANSWER, y=PROB, label=_("explain.answers"), y_lim=[0, 1], height=260,
                             sort="-y")  # fmt: skip
    how_it_works("explain.vqa_how")
    code, record_file = show_code()

    inputs = [image, question, picker, candidates, top_k, strategy, layer]
    event = button.click(explain_vqa, inputs, [record, maps, state], api_name="explain_vqa", concurrency_id="model")
    render = dict(fn=render_generation, inputs=[state, strategy, layer], outputs=[summary, table, chart, maps],
                  api_visibility="private", queue=False)  # fmt: skip
    event.success(**render).then(_answers_chart, state, answers, api_visibility="private", queue=False).then(
        _layer_slider, state, layer, api_visibility="private", queue=False
    )
    strategy.change(**render)
    layer.release(**render)

    @user_errors
    def vqa_code(image, question, model, output):
        if not output or image is None:
            return "", None
        return _code(snippets.vqa_record(_loaded("vqa", model), image, check_text(question, "question"), output))

    answer.change(vqa_code, [image, question, picker, answer], [code, record_file], api_visibility="private")


# --- Create: timeline, noise levels, per-word attention, TAESD ----------------------


def attach_taesd(loaded) -> None:
    """Load the TAESD decoder for ``loaded``'s text-to-image model (the tiny one for a
    tiny model), through the same offline-aware lookup as every checkpoint."""
    from pipelines.text_to_image import TAESD

    pipe = loaded.pipeline
    if pipe.taesd is not None:
        return
    if loaded.checkpoint.is_tiny:
        checkpoint = Checkpoint("tiny-taesd", "text_to_image", "tiny/taesd", "taesd", "Tiny TAESD (random)", "1 MB")
    else:
        checkpoint = Checkpoint(f"taesd-{pipe.family}", "text_to_image", TAESD[pipe.family], "taesd", "TAESD", "10 MB")
    source, local_only = locate(checkpoint)
    pipe.load_taesd(source, local_files_only=local_only)
    if loaded.checkpoint.is_tiny:
        pipe.taesd_id = source


def create_options() -> tuple[gr.Radio, gr.Checkbox]:
    """The decoder and timeline options of /text_to_image, for the Advanced settings."""
    decoder = gr.Radio([(_("explain.decoder_vae"), "vae"), (_("explain.decoder_taesd"), "taesd")], value="vae",
                       label=_("explain.decoder"), info=_("explain.decoder_info"))  # fmt: skip
    timeline = gr.Checkbox(False, label=_("explain.timeline"), info=_("explain.timeline_info"))
    return decoder, timeline


def create_extras(loaded, decoder: str = "vae", timeline: bool = False, width=None, height=None):
    """Keyword arguments for ``TextToImagePipeline.__call__`` that apply /text_to_image's
    ``decoder`` and ``timeline`` options, and the timeline (None when not asked for)."""
    from explain import diffusion as explain_diffusion
    from pipelines.text_to_image import DECODERS

    decoder = decoder or "vae"
    if decoder not in DECODERS:
        raise ValueError(f"Unknown decoder {decoder!r}; available decoders = {list(DECODERS)}")
    if decoder == "taesd":
        attach_taesd(loaded)
    frames = None
    if timeline:
        pipe = loaded.pipeline
        size = (int(width or pipe.defaults["width"]), int(height or pipe.defaults["height"]))
        frames = explain_diffusion.Timeline(pipe, size, "latent")
    return {"decoder": decoder, "latents_callback": frames}, frames


@gpu
@user_errors_stream
def explain_text_to_image(
    prompt: str,
    seed: int = -1,
    negative_prompt: str | None = None,
    num_inference_steps: int = 1,
    guidance_scale: float = 0.0,
    width: int = 512,
    height: int = 512,
    model: str | None = None,
    preview: str = "latent",
    decoder: str = "vae",
    progress=gr.Progress(track_tqdm=True),
):
    """Streams the timeline while the image forms, then the per-word maps."""
    from explain import diffusion as explain_diffusion

    loaded = get_model("text_to_image", model, progress)
    checker = safety.checker_for(loaded, on_load=lambda c: progress(0, desc=f"Loading {c.label} ({c.size})…"))
    if "taesd" in (preview, decoder):
        attach_taesd(loaded)
    frames: queue.Queue = queue.Queue()
    result: dict = {}
    # Each preview is written once, as a file, and the gallery is handed the paths.
    # Handed PIL images, Gradio would re-encode the whole gallery at every update and
    # rewrite in place any file of the same content (two identical notices, say) while
    # the browser may still be reading it; files it copies once and renames into place.
    folder, numbers = outputs.new_folder("timeline"), itertools.count()

    def on_frame(image, caption):
        if checker is not None:  # each preview is checked before it is shown
            image = safety.screen(checker, [image])[0][0]
        path = folder / f"frame-{next(numbers):03d}.png"
        image.save(path)
        frames.put((str(path), caption))

    def work():
        try:
            result["value"] = explain_diffusion.explain_text_to_image(
                loaded.pipeline, prompt, seed, negative_prompt=negative_prompt, num_inference_steps=num_inference_steps,
                guidance_scale=guidance_scale, width=width, height=height, preview=preview, decoder=decoder,
                on_frame=on_frame, safety_checker=checker,
            )  # fmt: skip
        except BaseException as error:  # handed to the handler's thread, which reports it
            result["error"] = error
        finally:
            frames.put(None)

    shown = []
    threading.Thread(target=work, daemon=True).start()
    while (frame := frames.get()) is not None:
        shown.append(frame)
        yield gr.skip(), gr.skip(), list(shown)
    if "error" in result:
        raise result["error"]
    explanation = result["value"]
    # The previews as shown (checked); none when the finished image was hidden.
    yield explanation.record, explanation.words, shown if explanation.frames else []


def _diffusion_plots(record: dict | None):
    if not record:
        return gr.skip(), gr.skip()
    # Step labels as text: whole steps on the axis (σ before step 1, ..., after the last step)
    sigmas = pd.DataFrame({STEP_LABEL: [f"{i:02d}" for i in range(len(record["sigmas"]))], SIGMA: record["sigmas"]})
    words = pd.DataFrame([{WORD: f"{i + 1:02d} {w['word']}", ATTENTION: w["attention"]}
                          for i, w in enumerate(record["words"])], columns=[WORD, ATTENTION])  # fmt: skip
    return sigmas, words


def create_panel(demo, *, prompt, negative_prompt, seed, steps, guidance, width, height, picker, decoder,
                 gallery) -> None:  # fmt: skip
    """The Create tab's Explain, How it works and Show the code panels."""
    with gr.Accordion(_("explain.create_title"), open=False):
        gr.Markdown(_("explain.create_intro"))
        with gr.Row():
            preview = gr.Radio([(_("explain.preview_latent"), "latent"), (_("explain.preview_taesd"), "taesd")],
                               value="latent", label=_("explain.preview"), info=_("explain.preview_info"))  # fmt: skip
            button = gr.Button(_("explain.create_button"), variant="secondary")
        frames = gr.Gallery(label=_("explain.timeline_gallery"), columns=5, height=260, object_fit="contain",
                            format="png", preview=False)  # fmt: skip
        with gr.Row(equal_height=False):
            sigma_plot = gr.LinePlot(x=STEP_LABEL, y=SIGMA, label=_("explain.sigmas"), height=260)
            word_chart = gr.BarPlot(x=WORD, y=ATTENTION, label=_("explain.word_chart"), height=260,
                                    x_label_angle=-45, sort=None)  # fmt: skip
        words = gr.Gallery(label=_("explain.words"), columns=6, height=280, object_fit="contain", format="png")
        with gr.Accordion(_("explain.json"), open=False):
            record = gr.JSON(label="JSON")
    how_it_works("explain.create_how")
    code, record_file = show_code()

    inputs = [prompt, seed, negative_prompt, steps, guidance, width, height, picker, preview, decoder]
    event = button.click(explain_text_to_image, inputs, [record, words, frames], api_name="explain_text_to_image",
                         concurrency_id="model")  # fmt: skip
    event.success(_diffusion_plots, record, [sigma_plot, word_chart], api_visibility="private", queue=False)

    @user_errors
    def create_code(prompt, negative_prompt, steps, guidance, width, height, model, decoder, images):
        made = [caption for _image, caption in images or [] if caption and caption.startswith("seed ")]
        if not made:
            return "", None
        record = snippets.text_to_image_record(
            _loaded("text_to_image", model), check_text(prompt, "prompt"), int(made[0].split()[1]), made,
            negative_prompt, steps, guidance, width, height, len(made), decoder or "vae",
        )  # fmt: skip
        return _code(record)

    gallery.change(create_code, [prompt, negative_prompt, steps, guidance, width, height, picker, decoder, gallery],
                   [code, record_file], api_visibility="private")  # fmt: skip


# --- Search: the CLIP lab -----------------------------------------------------------


@gpu
@user_errors
def similarity_matrix(images: list[str] | None, texts: str, model: str | None = None,
                      progress=gr.Progress(track_tqdm=True)):  # fmt: skip
    pipe = get_model("retrieval", model, progress).pipeline
    record, loaded = explain_clip.similarity_matrix(pipe, list(images or []), texts)
    thumbnails = [explain_clip.fit(image, 96) for image in loaded]
    return record, explain_clip.matrix_figure(record, thumbnails), (record, thumbnails)


@user_errors
def rescale_matrix(state, temperature: float):
    if not state:
        return gr.skip()
    record, thumbnails = state
    return explain_clip.matrix_figure(record, thumbnails, temperature)


def embedding_map_handler(gallery, upload_folder):
    """/embedding_map over the Search tab's gallery (``gallery``: a retrieval Gallery;
    ``upload_folder(request)``: the visitor's uploads)."""

    @gpu
    @user_errors
    def embedding_map(query: str | None = None, image: str | None = None, model: str | None = None, top_k: int = 5,
                      request: gr.Request = None, progress=gr.Progress(track_tqdm=True)):  # fmt: skip
        pipe = get_model("retrieval", model, progress).pipeline
        if image:
            embedding, label = pipe.embed_images([image])[0], "image"
        elif query and query.strip():
            label = check_text(query, "search text")
            embedding = pipe.embed_texts([label])[0]
        else:
            raise ValueError("Type a search text or give a query image to place on the map.")
        paths, matrix = gallery.embeddings(pipe, [upload_folder(request)])
        record, picture = explain_clip.embedding_map(paths, matrix, embedding, label, int(top_k))
        return picture, record

    return embedding_map


def search_panel(demo, *, query, query_image, picker, top_k, gallery, upload_folder, classify_image,
                 confidences) -> None:  # fmt: skip
    """The Search tab's CLIP lab, How it works and Show the code panels."""
    from runtime import settings

    with gr.Accordion(_("explain.clip_title"), open=False):
        gr.Markdown(_("explain.clip_intro"))
        with gr.Row(equal_height=False):
            with gr.Column():
                files = gr.File(file_count="multiple", file_types=["image"], label=_("explain.matrix_images"))
                examples = gr.Button(_("explain.matrix_examples"), size="sm")
            texts = gr.Textbox(label=_("explain.matrix_texts"), info=_("explain.matrix_texts_info"), lines=5,
                               value="a photo of a cat.\na photo of a cup of coffee.\na photo of a rocket.\n"
                               "a photo of coins.", max_length=5000)  # fmt: skip
        button = gr.Button(_("explain.matrix_button"), variant="secondary")
        temperature = gr.Slider(explain_clip.MIN_TEMPERATURE, 1.0, 0.01, step=0.001, label=_("explain.temperature"),
                                info=_("explain.temperature_info"))  # fmt: skip
        matrix = gr.Image(label=_("explain.matrix"), type="pil", format="png", interactive=False)
        with gr.Accordion(_("explain.json"), open=False):
            record = gr.JSON(label="JSON")
        gr.Markdown(_("explain.map_intro"))
        map_button = gr.Button(_("explain.map_button"), variant="secondary")
        picture = gr.Image(label=_("explain.map"), type="pil", format="png", interactive=False)
        with gr.Accordion(_("explain.json"), open=False):
            map_record = gr.JSON(label="JSON")
    state = gr.State()
    how_it_works("explain.search_how")
    code, record_file = show_code()

    names = ["cat.jpg", "coffee.jpg", "rocket.jpg", "coins.jpg"]
    examples.click(lambda: [str(settings.EXAMPLE_IMAGES_DIR / n) for n in names], None, files,
                   api_visibility="private", queue=False)  # fmt: skip
    event = button.click(similarity_matrix, [files, texts, picker], [record, matrix, state],
                         api_name="similarity_matrix", concurrency_id="model")  # fmt: skip
    # The slider starts at the model's learned temperature: what zero-shot classification uses.
    event.success(lambda r: r["temperature"] if r else gr.skip(), record, temperature, api_visibility="private",
                  queue=False)  # fmt: skip
    temperature.release(rescale_matrix, [state, temperature], matrix, api_visibility="private")
    map_button.click(embedding_map_handler(gallery, upload_folder), [query, query_image, picker, top_k],
                     [picture, map_record], api_name="embedding_map", concurrency_id="model")  # fmt: skip

    @user_errors
    def classify_code(image, model, output):
        # ``output`` is the label's {label: confidence}, best first, as /classify returned it
        if not isinstance(output, dict) or not output or image is None:
            return "", None
        return _code(snippets.classify_record(_loaded("retrieval", model), image, list(output), output))

    @user_errors
    def matrix_code(images, model, matrix):
        if not matrix or not images:
            return "", None
        return _code(snippets.similarity_matrix_record(_loaded("retrieval", model), list(images), matrix))

    record.change(matrix_code, [files, picker, record], [code, record_file], api_visibility="private")
    confidences.change(classify_code, [classify_image, picker, confidences], [code, record_file],
                       api_visibility="private")  # fmt: skip
