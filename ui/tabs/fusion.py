"""Fusion lab tab: students train early, late, hybrid and weighted fusion models on
frozen features of pictures, captions and spoken captions (any subset of the three),
watch the loss and accuracy curves live, compare the strategies on held-out pairs and
see how each copes when a modality goes missing (see labs/fusion.py for the task and
the models)."""

from __future__ import annotations

import functools
import html
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from classroom.policy import ClassroomPolicy
from labs import fusion
from labs.fusion import FusionConfig, FusionLab
from runtime.inputs import notify
from runtime.messages import InputError, Notice
from ui.actions import run_id
from ui.chain import display, endpoint
from ui.components import model_picker, model_status, page_locale, seed_input, session_state, status_line
from ui.context import Context
from ui.handlers import get_model, gpu_method
from ui.i18n import _, bilingual, t
from ui.server.queue import Deadline

DEFAULTS = FusionConfig(learning_rate=0.003, epochs=40)
# A learning rate that works for each optimiser, set when the student switches.
LEARNING_RATES = {"adam": 0.003, "sgd": 0.05}
UPDATES = 40  # curve updates sent to the browser per run, at most
MAX_RUNS = 50  # rows kept in one session's comparison table
# Training pairs indigo, held-out pairs orange, in either language.
SERIES_COLOURS = {
    t(f"fusion.series_{split}", locale): colour
    for split, colour in (("train", "#4f46e5"), ("test", "#f97316"))
    for locale in ("en", "zh-CN")
}


def _config(strategy, hidden_size, learning_rate, epochs, optimizer, seed, modalities=fusion.DEFAULT_MODALITIES):
    return FusionConfig(
        strategy=strategy,
        hidden_size=hidden_size,
        learning_rate=learning_rate,
        epochs=epochs,
        optimizer=optimizer,
        seed=seed,
        modalities=modalities,
    ).check()


class Fusion:
    """The Fusion lab's endpoints, training on the app's lab (its cached features), with
    the strategies the classroom allows: each public method is one endpoint, named as its
    api_name."""

    def __init__(self, lab: FusionLab, classroom: ClassroomPolicy):
        self.lab, self.classroom = lab, classroom

    def _audio_features(self, audio_model: str | None, progress):
        """The spoken captions' features: read by the classroom's (or the profile's) voice,
        heard by the ``audio_model`` Whisper; made on first use, then cached (labs/spoken.py)."""
        tts = get_model("text_to_speech", self.classroom.model_for("text_to_speech", None), progress)
        asr = get_model("speech_recognition", audio_model, progress)

        def on(key: str):
            return lambda done, total: progress((done, total), desc=bilingual(key))

        names = (tts.checkpoint.key, asr.checkpoint.key)
        return self.lab.audio_features(
            tts.pipeline, asr.pipeline, names, on("fusion.progress_speaking"), on("fusion.progress_hearing")
        ), asr.checkpoint.key

    def _runs(
        self, configs: list[FusionConfig], split: str, negatives: str, model: str | None, progress, audio_model=None
    ):
        """Train each config in turn on the features of ``model`` (and of ``audio_model`` for
        runs that hear the spoken captions), yielding the results so far (the last one still
        training) as often as UPDATES allows."""
        loaded = get_model("retrieval", model, progress)

        def on_encode(done: int, total: int) -> None:
            progress((done, total), desc=bilingual("fusion.progress_encoding"))

        deadline = Deadline()  # epochs x hidden size x strategies is bounded by time, not by a formula
        hears = any("audio" in config.modalities for config in configs)
        audio, heard_by = self._audio_features(audio_model, progress) if hears else (None, None)
        data = self.lab.matching_set(loaded.pipeline, split, negatives, callback=on_encode, audio=audio)
        finished: list[dict] = []
        for config in configs:
            for result in fusion.train_steps(data, config, every=max(1, config.epochs // UPDATES)):
                result["config"].update(split=split, negatives=negatives, model=loaded.checkpoint.key)
                if "audio" in config.modalities:
                    result["config"]["audio_model"] = heard_by
                progress((len(result["curves"]["epoch"]), config.epochs), desc=bilingual(f"fusion.{config.strategy}"))
                yield [*finished, result]
                if deadline.passed and not result["done"]:
                    break
            finished.append(result)
            if deadline.passed:
                left = [c.strategy for c in configs[len(finished) :]]
                notify(
                    Notice(
                        "training_stopped_left" if left else "training_stopped",
                        left=", ".join(left),
                        done=len(result["curves"]["epoch"]),
                        epochs=config.epochs,
                        seconds=f"{deadline.seconds:g}",
                    )
                )
                return

    @gpu_method
    def train_fusion(
        self,
        strategy: str = DEFAULTS.strategy,
        hidden_size: int = DEFAULTS.hidden_size,
        learning_rate: float = DEFAULTS.learning_rate,
        epochs: int = DEFAULTS.epochs,
        optimizer: str = DEFAULTS.optimizer,
        seed: int = DEFAULTS.seed,
        split: str = "instances",
        negatives: str = "either",
        model: str | None = None,
        modalities: list[str] = fusion.DEFAULT_MODALITIES,
        audio_model: str | None = None,
        progress=gr.Progress(),
    ):
        """The Fusion lab: train one small fusion model (early, late, hybrid or weighted) on frozen features of synthetic pictures, captions and spoken captions, to tell whether a caption matches a picture. Streams results as it trains.

        Args:
            strategy: "early" (concatenate features), "late" (one head per modality), "hybrid" (cross-attention) or "weighted" (learned per-modality weights).
            hidden_size: Width of the model's hidden layer (4-512).
            learning_rate: The optimiser's learning rate.
            epochs: Passes over the training pairs (1-300).
            optimizer: "adam" or "sgd".
            seed: The training seed; the same seed gives the same numbers.
            split: "instances" (held-out pictures) or "combinations" (held-out colour-shape combinations).
            negatives: Which word a wrong caption changes: "either", "colour" or "shape".
            model: Which retrieval checkpoint gives the features; the profile's default when empty.
            modalities: Which features the model reads: any of "image", "text" and "audio" (each picture's caption, spoken); image and text by default.
            audio_model: Which speech-recognition checkpoint (Whisper) hears the spoken captions; the profile's default when empty.

        Returns:
            The result as JSON: final metrics, per-epoch curves, the confusion matrix and mistakes, the missing-modality tests (`missing`) and, for weighted fusion, the learned `weights`.
        """
        # Train one fusion model; yields its result (metrics, curves, confusion matrix) as it trains.
        config = _config(strategy, hidden_size, learning_rate, epochs, optimizer, seed, modalities)
        for results in self._runs([config], split, negatives, model, progress, audio_model):
            yield results[-1]

    @gpu_method
    def compare_fusion(
        self,
        hidden_size: int = DEFAULTS.hidden_size,
        learning_rate: float = DEFAULTS.learning_rate,
        epochs: int = DEFAULTS.epochs,
        optimizer: str = DEFAULTS.optimizer,
        seed: int = DEFAULTS.seed,
        split: str = "instances",
        negatives: str = "either",
        model: str | None = None,
        modalities: list[str] = fusion.DEFAULT_MODALITIES,
        audio_model: str | None = None,
        strategies: list[str] = ("early", "late", "hybrid"),
        progress=gr.Progress(),
    ):
        """The Fusion lab: train several fusion strategies (early, late and hybrid by default) with the same settings and compare them. Streams results as they train.

        Args:
            hidden_size: Width of the models' hidden layer (4-512).
            learning_rate: The optimiser's learning rate.
            epochs: Passes over the training pairs (1-300).
            optimizer: "adam" or "sgd".
            seed: The training seed.
            split: "instances" or "combinations".
            negatives: "either", "colour" or "shape".
            model: Which retrieval checkpoint gives the features; the profile's default when empty.
            modalities: Which features the models read: any of "image", "text" and "audio".
            audio_model: Which speech-recognition checkpoint hears the spoken captions; the profile's default when empty.
            strategies: Which strategies to train, in this order: any of "early", "late", "hybrid" and "weighted".

        Returns:
            The list of results, one per strategy, as JSON.
        """
        # Train the strategies with the same settings (those the classroom allows, in
        # classroom mode); yields the list of results.
        strategies = self.classroom.allowed("strategy", _strategies(strategies))
        configs = [_config(s, hidden_size, learning_rate, epochs, optimizer, seed, modalities) for s in strategies]
        yield from self._runs(configs, split, negatives, model, progress, audio_model)


def endpoints(ctx: Context) -> Fusion:
    """The Fusion lab's endpoints over the app's lab and classroom."""
    return Fusion(ctx.lab, ctx.classroom)


def _strategies(strategies) -> list[str]:
    """The strategies to compare, checked, in the order given, each once."""
    if isinstance(strategies, str):
        strategies = [s for s in strategies.replace(" ", ",").split(",") if s]
    if not isinstance(strategies, (list, tuple)) or not strategies:
        raise InputError("pick_strategy", strategies=", ".join(fusion.STRATEGIES))
    chosen = [str(s).strip().lower() for s in strategies]
    if unknown := [s for s in chosen if s not in fusion.STRATEGIES]:
        raise ValueError(f"Unknown fusion strategy {unknown[0]!r}; available strategies = {list(fusion.STRATEGIES)}")
    return list(dict.fromkeys(chosen))


# --- Showing results (server-side, in the page's language) -------------------------


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _curves(result: dict, locale: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    curves = result["curves"]
    rows = {"loss": [], "accuracy": []}
    for split in ("train", "test"):
        name = t(f"fusion.series_{split}", locale)
        for epoch, loss, accuracy in zip(
            curves["epoch"], curves[f"{split}_loss"], curves[f"{split}_accuracy"], strict=True
        ):
            rows["loss"].append({"epoch": epoch, "value": loss, "series": name})
            rows["accuracy"].append({"epoch": epoch, "value": accuracy, "series": name})
    return pd.DataFrame(rows["loss"]), pd.DataFrame(rows["accuracy"])


def _summary(result: dict, locale: str) -> str:
    m, c = result["metrics"], result["config"]
    key = "fusion.summary_done" if result["done"] else "fusion.summary_running"
    return t(key, locale).format(
        strategy=t(f"fusion.{result['strategy']}", locale),
        epoch=len(result["curves"]["epoch"]),
        epochs=c["epochs"],
        test=_percent(m["test_accuracy"]),
        train=_percent(m["train_accuracy"]),
        auroc=f"{m['test_auroc']:.3f}",
        parameters=f"{result['parameters']:,}",
        seconds=f"{result['seconds']:.1f}",
        pairs=result["data"]["test_pairs"],
    )


def _confusion(result: dict, locale: str) -> str:
    """The held-out confusion matrix as a small table, shaded by each row's share."""
    (tn, fp), (fn, tp) = result["confusion_matrix"]["matrix"]
    cells = [[tn, fp], [fn, tp]]
    title = t("fusion.confusion_title", locale).format(pairs=result["data"]["test_pairs"])
    names = [t("fusion.mismatch", locale), t("fusion.match", locale)]
    rows = []
    for truth, (name, row) in enumerate(zip(names, cells, strict=True)):
        total = max(1, sum(row))
        tds = "".join(
            f'<td class="{"hit" if guess == truth else "miss"}" style="--share:{count / total:.3f}">'
            f"<b>{count}</b><br><small>{_percent(count / total)}</small></td>"
            for guess, count in enumerate(row)
        )
        rows.append(f"<tr><th>{html.escape(name)}</th>{tds}</tr>")
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    return (
        f'<div class="fusion-confusion"><p>{html.escape(title)}</p><table>'
        f'<tr><th class="corner">{html.escape(t("fusion.confusion_corner", locale))}</th>{head}</tr>'
        f"{''.join(rows)}</table></div>"
    )


def _table(runs: list[dict], locale: str) -> str:
    """Every finished run of this session, best held-out accuracy highlighted."""
    if not runs:
        return f'<p class="fusion-empty">{html.escape(t("fusion.table_empty", locale))}</p>'
    columns = [
        "col_run",
        "col_strategy",
        "col_hidden",
        "col_lr",
        "col_epochs",
        "col_optimizer",
        "col_seed",
        "col_data",
        "col_train",
        "col_test",
        "col_auroc",
        "col_parameters",
        "col_seconds",
    ]
    best = max(run["metrics"]["test_accuracy"] for run in runs)
    body = []
    for number, run in enumerate(runs, 1):
        c, m = run["config"], run["metrics"]
        data = f"{t('fusion.split_' + c['split'], locale)} · {t('fusion.negatives_' + c['negatives'], locale)}"
        data += " · " + _modalities(c.get("modalities", fusion.DEFAULT_MODALITIES), locale)
        cells = [
            number,
            t(f"fusion.{run['strategy']}", locale),
            c["hidden_size"],
            f"{c['learning_rate']:g}",
            c["epochs"],
            t(f"fusion.optimizer_{c['optimizer']}", locale),
            c["seed"],
            data,
            _percent(m["train_accuracy"]),
            _percent(m["test_accuracy"]),
            f"{m['test_auroc']:.3f}",
            f"{run['parameters']:,}",
            f"{run['seconds']:.1f}",
        ]
        css = ' class="best"' if m["test_accuracy"] == best else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(t('fusion.' + column, locale))}</th>" for column in columns)
    return f'<div class="fusion-table"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _modalities(modalities, locale: str) -> str:
    return " + ".join(t(f"fusion.modality_{m}", locale) for m in modalities)


def _robustness(results: list[dict], locale: str) -> str:
    """The missing-modality tests of the finished runs shown (held-out accuracy with every
    modality, then without each one and with each one replaced by noise), and the learned
    weights of weighted fusion."""
    done = [r for r in results if r.get("done") and len(r.get("missing", {})) > 2]
    weighted = [r for r in results if r.get("weights") and len(r["weights"]) > 1]
    parts = []
    if done:
        modalities = [m for m in fusion.MODALITIES if m in done[-1]["missing"]]
        head = [t("fusion.col_strategy", locale), t("fusion.missing_all", locale)]
        for m in modalities:
            name = t(f"fusion.modality_{m}", locale)
            head += [
                t("fusion.missing_dropped", locale).format(modality=name),
                t("fusion.missing_noise", locale).format(modality=name),
            ]
        rows = []
        for r in done:
            cells = [t(f"fusion.{r['strategy']}", locale), _percent(r["missing"]["all"])]
            for m in modalities:
                tests = r["missing"].get(m, {})
                cells += [_percent(tests[k]) if k in tests else "–" for k in ("dropped", "noise")]
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        parts.append(
            f"<p>{html.escape(t('fusion.missing_title', locale))}</p><table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in head)
            + f"</tr>{''.join(rows)}</table>"
        )
    for r in weighted[-1:]:
        shares = " · ".join(f"{t(f'fusion.modality_{m}', locale)} {_percent(w)}" for m, w in r["weights"].items())
        parts.append(f"<p>{html.escape(t('fusion.weights', locale).format(weights=shares))}</p>")
    return f'<div class="fusion-missing">{"".join(parts)}</div>' if parts else ""


@functools.cache
def _scenes() -> list:
    """The lab's pictures: fixed by their seed, the same for every lab."""
    return fusion.make_scenes()


def _mistakes(result: dict, locale: str) -> list[tuple]:
    scenes = _scenes()
    label = {"match": t("fusion.match", locale), "mismatch": t("fusion.mismatch", locale)}
    return [
        (
            scenes[m["scene"]].image,
            t("fusion.mistake", locale).format(
                caption=m["caption"], truth=label[m["label"]], p=_percent(m["probability_match"])
            ),
        )
        for m in result.get("mistakes", [])
    ]


def _key(run: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in run["config"].items()))


def show(results, runs: list[dict] | None, locale: str):
    """Draw the latest result (a dict, or the list a comparison yields) and add finished
    runs to the session's comparison table (the same settings give the same run, so
    they are listed once)."""
    runs = list(runs or [])
    if not results:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), _table(runs, locale), runs
    results = results if isinstance(results, list) else [results]
    known = {_key(run) for run in runs}
    for result in results:
        if result.get("done") and _key(result) not in known:
            runs.append({k: result[k] for k in ("strategy", "config", "metrics", "parameters", "seconds")})
            known.add(_key(result))
    runs = runs[-MAX_RUNS:]
    latest = results[-1]
    loss, accuracy = _curves(latest, locale)
    mistakes = _mistakes(latest, locale) if latest.get("done") else gr.skip()
    confusion = _confusion(latest, locale) + _robustness(results, locale)
    return _summary(latest, locale), loss, accuracy, confusion, mistakes, _table(runs, locale), runs


@functools.cache
def _examples() -> list[tuple]:
    """One picture per concept, with its caption: what the data looks like."""
    seen, examples = set(), []
    for scene in _scenes():
        if scene.caption not in seen:
            seen.add(scene.caption)
            examples.append((scene.image, scene.caption))
    return examples


# --- The page: layout, then wiring --------------------------------------------------


def _model_settings(ctx: Context) -> SimpleNamespace:
    """The model and its training: strategy, modalities, size, epochs, optimiser, seed."""
    strategy = ctx.classroom.control(
        "strategy",
        gr.Radio,
        [(_(f"fusion.{s}"), s) for s in fusion.STRATEGIES],
        value=DEFAULTS.strategy,
        label=_("fusion.strategy"),
        info=_("fusion.strategy_info"),
    )
    modalities = ctx.classroom.control(
        "modalities",
        gr.CheckboxGroup,
        [(_(f"fusion.modality_{m}"), m) for m in fusion.MODALITIES],
        value=list(fusion.DEFAULT_MODALITIES),
        label=_("fusion.modalities"),
        info=_("fusion.modalities_info"),
    )
    with gr.Row():
        hidden_size = ctx.classroom.control(
            "hidden_size",
            gr.Slider,
            *fusion.LIMITS["hidden_size"].ends,
            DEFAULTS.hidden_size,
            step=8,
            label=_("fusion.hidden_size"),
            info=_("fusion.hidden_size_info"),
        )
        epochs = ctx.classroom.control(
            "epochs",
            gr.Slider,
            *fusion.LIMITS["epochs"].ends,
            DEFAULTS.epochs,
            step=1,
            label=_("fusion.epochs"),
            info=_("fusion.epochs_info"),
        )
    with gr.Row():
        optimizer = ctx.classroom.control(
            "optimizer",
            gr.Radio,
            [(_("fusion.optimizer_adam"), "adam"), (_("fusion.optimizer_sgd"), "sgd")],
            value=DEFAULTS.optimizer,
            label=_("fusion.optimizer"),
        )
        learning_rate = ctx.classroom.control(
            "learning_rate",
            gr.Number,
            DEFAULTS.learning_rate,
            minimum=fusion.LIMITS["learning_rate"].low,
            maximum=fusion.LIMITS["learning_rate"].high,
            step=0.001,
            label=_("fusion.learning_rate"),
            info=_("fusion.learning_rate_info"),
        )
    seed = seed_input(ctx.classroom, DEFAULTS.seed, limit=fusion.LIMITS["seed"], info=_("fusion.seed_info"))
    return SimpleNamespace(
        strategy=strategy,
        modalities=modalities,
        hidden_size=hidden_size,
        epochs=epochs,
        optimizer=optimizer,
        learning_rate=learning_rate,
        seed=seed,
    )


def _data_settings(ctx: Context) -> SimpleNamespace:
    """The data (held-out split, wrong captions) and the models that make the features."""
    with gr.Accordion(_("fusion.data"), open=False):
        split = ctx.classroom.control(
            "split",
            gr.Radio,
            [(_("fusion.split_instances"), "instances"), (_("fusion.split_combinations"), "combinations")],
            value="instances",
            label=_("fusion.split"),
            info=_("fusion.split_info"),
        )
        negatives = ctx.classroom.control(
            "negatives",
            gr.Radio,
            [
                (_("fusion.negatives_either"), "either"),
                (_("fusion.negatives_colour"), "colour"),
                (_("fusion.negatives_shape"), "shape"),
            ],
            value="either",
            label=_("fusion.negatives"),
            info=_("fusion.negatives_info"),
        )
        picker = model_picker("retrieval", ctx.classroom)
        gr.Markdown(_("fusion.audio_features"))
        audio_picker = model_picker("speech_recognition", ctx.classroom, "audio_model")
        examples = gr.Gallery(
            label=_("fusion.examples"), interactive=False, columns=6, height=220, object_fit="contain"
        )
    return SimpleNamespace(
        split=split, negatives=negatives, picker=picker, audio_picker=audio_picker, examples=examples
    )


def _results(demo: gr.Blocks, picker: gr.Dropdown, ctx: Context) -> SimpleNamespace:
    """The latest run: its summary, curves, confusion matrix and mistakes."""
    summary = gr.Markdown(_("fusion.summary_empty"))
    with gr.Row():
        # No fixed height: with one, Gradio's plots cut their legend off in narrow columns.
        plot = dict(
            x="epoch",
            y="value",
            color="series",
            x_title=_("fusion.epoch"),
            color_title=_("fusion.pairs"),
            color_map=SERIES_COLOURS,
        )
        loss_plot = gr.LinePlot(label=_("fusion.loss"), y_title=_("fusion.loss"), **plot)
        accuracy_plot = gr.LinePlot(label=_("fusion.accuracy"), y_title=_("fusion.accuracy"), y_lim=[0, 1], **plot)
    confusion = gr.HTML()
    mistakes = gr.Gallery(label=_("fusion.mistakes"), interactive=False, columns=4, height=220, object_fit="contain")
    status = status_line(demo, "retrieval", picker, ctx)
    return SimpleNamespace(
        summary=summary,
        loss_plot=loss_plot,
        accuracy_plot=accuracy_plot,
        confusion=confusion,
        mistakes=mistakes,
        status=status,
    )


def _wire(demo: gr.Blocks, api: Fusion, page: SimpleNamespace, ctx: Context) -> None:
    """Train one strategy or compare several; each result is drawn in the page's language."""
    settings_ = [
        page.hidden_size,
        page.learning_rate,
        page.epochs,
        page.optimizer,
        page.seed,
        page.split,
        page.negatives,
        page.picker,
        page.modalities,
        page.audio_picker,
    ]
    trained, compared = [page.strategy, *settings_], [*settings_, page.compared]
    training = page.train_button.click(
        endpoint(api.train_fusion, ctx, trained), trained, page.raw, api_name="train_fusion", concurrency_id="model"
    )
    comparing = page.compare_button.click(
        endpoint(api.compare_fusion, ctx, compared),
        compared,
        page.raw,
        api_name="compare_fusion",
        concurrency_id="model",
    )
    outputs = [page.summary, page.loss_plot, page.accuracy_plot, page.confusion, page.mistakes, page.table, page.runs]
    shown = [page.raw, page.runs, page.locale]
    page.raw.change(display(show, ctx, shown), shown, outputs, api_visibility="private", queue=False)
    page.locale.change(display(show, ctx, shown), shown, outputs, api_visibility="private", queue=False)
    page.optimizer.input(
        lambda o: LEARNING_RATES[o], page.optimizer, page.learning_rate, api_visibility="private", queue=False
    )
    page.clear_button.click(
        lambda loc: ([], _table([], loc)), page.locale, [page.runs, page.table], api_visibility="private", queue=False
    )
    # The charts show the last strategy compared: the radio says which.
    comparing.then(
        lambda results: results[-1]["strategy"] if isinstance(results, list) and results else gr.skip(),
        page.raw,
        page.strategy,
        api_visibility="private",
        queue=False,
    )
    for event in (training, comparing):
        status_shown = display(lambda m: model_status("retrieval", m), ctx, page.picker)
        event.then(status_shown, page.picker, page.status, api_visibility="private", queue=False)
    demo.load(lambda loc: _table([], loc), page.locale, page.table, api_visibility="private", queue=False)
    # Drawn on first use, not at import.
    demo.load(_examples, None, page.examples, api_visibility="private", queue=False)


def build(demo: gr.Blocks, ctx: Context) -> None:
    api = endpoints(ctx)
    with gr.Tab(_("fusion.tab"), id="fusion"):
        gr.Markdown(_("fusion.intro"))
        locale = page_locale(demo)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                model = _model_settings(ctx)
                data = _data_settings(ctx)
                with gr.Row():
                    train_button = gr.Button(_("fusion.train"), elem_id=run_id("train_fusion"), variant="primary")
                    compare_button = gr.Button(_("fusion.compare"), elem_id=run_id("compare_fusion"))
                compared = ctx.classroom.control(
                    "strategies",
                    gr.CheckboxGroup,
                    [(_(f"fusion.{s}"), s) for s in fusion.STRATEGIES],
                    value=["early", "late", "hybrid"],
                    label=_("fusion.compare_strategies"),
                )
            with gr.Column(scale=3):
                results = _results(demo, data.picker, ctx)
        gr.Markdown(_("fusion.table_title"))
        table = gr.HTML()
        clear_button = gr.Button(_("fusion.clear"), size="sm")
        with gr.Accordion(_("fusion.raw"), open=False):
            raw = gr.JSON(label=_("fusion.raw"))
        runs = session_state([])
        page = SimpleNamespace(
            **vars(model),
            **vars(data),
            **vars(results),
            locale=locale,
            train_button=train_button,
            compare_button=compare_button,
            compared=compared,
            table=table,
            clear_button=clear_button,
            raw=raw,
            runs=runs,
        )
        _wire(demo, api, page, ctx)


# The public handlers of this tab (a lesson reaches them by name, a classroom lock by their
# parameters); the methods of Fusion run over the app's lab and classroom (``endpoints``).
ENDPOINTS = (Fusion.train_fusion, Fusion.compare_fusion)
