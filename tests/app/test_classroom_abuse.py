"""Classroom mode against an adversary (issue 23): the app in this process with a teacher's
file, probed route by route and endpoint by endpoint, so that a route or an endpoint
added later is covered without changing these tests.

- every GET route of the FastAPI app, asked for the classroom file and /etc/passwd in
  several spellings, serves neither;
- every endpoint parameter that names a model refuses a checkpoint the teacher doesn't allow;
- what is logged and counted follows from each event's declaration: every text box of
  every event is logged, every event that can make images counts them, a request
  refused by a locked control is logged;
- one student is one student however the name is spelt, and a student's wrong passwords
  don't lock out the class; the models panel can't act for students.
"""

import json
import re
import urllib.parse

import gradio as gr
import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from classroom.policy import _parameters
from runtime import registry
from tests.conftest import free_port

PASSWORD = "s3cret-lesson"
ALLOWED = {
    "caption": "tiny-blip",
    "vqa": "tiny-blip-vqa",
    "text_to_image": "tiny-sd",
    "retrieval": "tiny-clip",
    "speech_recognition": "tiny-whisper",
    "text_to_speech": "tiny-vits",
}
CLASSROOM = """
tabs: [caption, ask, create, search, listen, fusion, evaluate]
models:
  caption: {allowed: [tiny-blip]}
  vqa: {allowed: [tiny-blip-vqa]}
  text_to_image: {allowed: [tiny-sd]}
  retrieval: {allowed: [tiny-clip]}
  speech_recognition: {allowed: [tiny-whisper]}
  text_to_speech: {allowed: [tiny-vits]}
locked:
  num_inference_steps: {max: 2}
  guidance_scale: 0
limits:
  requests_per_minute: 200
  images_per_hour: 50
password: %s
prompt_log: {enabled: true, file: %s}
"""


@pytest.fixture(scope="module")
def lesson(tmp_path_factory, models):
    """(url, demo, settings file, prompt log): the app in this process in classroom mode."""
    from ui import build_demo, launch_kwargs

    folder = tmp_path_factory.mktemp("lesson")
    log = folder / "prompts.jsonl"
    settings_file = folder / "lesson.yaml"
    settings_file.write_text(CLASSROOM % (PASSWORD, log), encoding="utf-8")
    demo = build_demo("tiny", str(settings_file))
    demo.queue(max_size=32, default_concurrency_limit=1, api_open=False)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo))
    try:
        yield f"http://127.0.0.1:{port}/", demo, settings_file, log
    finally:
        demo.close()


def logged_in(url: str, name: str = "probe") -> httpx.Client:
    session = httpx.Client(base_url=url, timeout=30)
    session.post("login", data={"username": name, "password": PASSWORD}).raise_for_status()
    return session


def entries(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


# --- Item 1's siblings: every route that could serve a file -------------------------------


def spellings(path: str) -> list[str]:
    """``path`` as a route parameter may carry it: plain, percent-encoded once and twice,
    with a leading '/' and without, and climbing out of a folder with '..'."""
    quoted = urllib.parse.quote(path, safe="")
    return [
        path,
        path.lstrip("/"),
        quoted,
        urllib.parse.quote(quoted, safe=""),
        "../../../../.." + path,
        "..%2f..%2f..%2f..%2f.." + quoted,
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e" + path,
    ]


def get_routes(routes, prefix: str = "") -> list[str]:
    """Every GET route's path, mounted routers included (Gradio mounts its API at /gradio_api)."""
    found = []
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router (Gradio's /gradio_api routes)
            found += get_routes(route.original_router.routes, prefix)
        elif hasattr(route, "routes") and not hasattr(route, "methods"):  # a Mount
            found += get_routes(route.routes, prefix + route.path)
        elif "GET" in (getattr(route, "methods", None) or set()):
            found.append(prefix + route.path)
    return found


def body(session: httpx.Client, path: str) -> str:
    """What a GET of ``path`` (sent as written) answers; a stream that doesn't end soon served nothing."""
    try:
        return session.get(path, timeout=5).text
    except httpx.TimeoutException:
        return ""


def test_no_get_route_serves_the_classroom_file_or_a_system_file(lesson):
    url, demo, settings_file, log = lesson
    student = logged_in(url)
    # Give the log something to leak, and the settings file its secret.
    student.post("gradio_api/call/v2/search_by_text", json={"query": "my secret query"}).raise_for_status()
    assert PASSWORD in settings_file.read_text()
    routes = get_routes(demo.app.routes)
    assert (
        len(routes) > 20 and "/gradio_api/file={path_or_url:path}" in routes
    )  # the whole app, Gradio's routes included
    targets = [str(settings_file), str(log), "/etc/passwd"]
    secrets = (PASSWORD, "my secret query", "root:x:0:0")
    probed = 0
    for route in routes:
        parameters = re.findall(r"{(\w+)(?::path)?}", route)
        for target in targets:
            for spelling in spellings(target):
                if parameters:
                    path = route
                    for name in parameters:
                        path = re.sub(r"{" + name + r"(?::path)?}", spelling, path)
                else:
                    path = route + "?path=" + urllib.parse.quote(spelling) + "&file=" + urllib.parse.quote(spelling)
                if path.startswith(("/gradio_api/heartbeat", "/gradio_api/queue/data", "/gradio_api/mcp")):
                    continue  # streams that wait for events or messages; they serve no file
                probed += 1
                assert not any(secret in body(student, path) for secret in secrets), (route, path)
    for prefix in (
        "/gradio_api/file=",
        "/file=",
        "/gradio_api/file/",
        "/file/",
        "/assets/",
        "/static/",
        "/gradio_api/stream/",
        "/gradio_api/run-history/",
    ):
        for target in targets:
            for spelling in spellings(target):
                probed += 1
                assert not any(secret in body(student, prefix + spelling) for secret in secrets), (prefix, spelling)
    assert probed > 500


# --- Item 4: every parameter that names a model ------------------------------------------------


def model_parameters(demo) -> list[tuple[str, str, str]]:
    """(api_name, parameter, task) for every named endpoint's input that picks a checkpoint:
    a dropdown whose choices are registry keys."""
    keys = {key: checkpoint.task for key, checkpoint in registry.CHECKPOINTS.items()}
    found = []
    for block_fn in demo.fns.values():
        if not block_fn.api_name or block_fn.api_visibility == "private":
            continue
        names = list(block_fn.input_parameter_names or [])
        for name, component in zip(names, block_fn.inputs, strict=False):
            if isinstance(component, gr.Dropdown):
                tasks = {keys[value] for _, value in component.choices if value in keys}
                if tasks:
                    found.append((block_fn.api_name, name, tasks.pop()))
    return found


def test_every_parameter_that_names_a_model_refuses_one_the_teacher_does_not_allow(lesson):
    url, demo, _, _ = lesson
    found = model_parameters(demo)
    assert {"caption", "vqa", "text_to_image", "evaluate", "train_fusion"} <= {api for api, _, _ in found}
    assert {("evaluate", "vqa_model"), ("evaluate", "compare_text_to_image_model")} <= {(a, p) for a, p, _ in found}
    client = Client(url, auth=("probe-models", PASSWORD), verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for api_name, parameter, task in found:
        refused = next(k for k, c in registry.CHECKPOINTS.items() if c.task == task and k != ALLOWED[task])
        # Required parameters get None (nothing to check); the picker is what must refuse.
        required = {
            p["parameter_name"]: None for p in api[f"/{api_name}"]["parameters"] if not p["parameter_has_default"]
        }
        with pytest.raises(AppError, match=r"teacher allows|must be one of"):
            client.predict(**{**required, parameter: refused}, api_name=f"/{api_name}")


# --- Item 6: the log and the limits follow from one declaration per event ---------------------


def declarations(demo) -> dict:
    """Each event of ``demo`` declared to the classroom (ui/chain.py) -> what it declared."""
    declared = {(c.endpoint, c.controls): c for c in demo.playground.classroom.endpoints}
    found = {}
    for block_fn in demo.fns.values():
        key = (getattr(block_fn.fn, "__name__", None), tuple(id(c) for c in block_fn.inputs))
        if key in declared:
            found[block_fn] = declared[key]
    return found


def test_every_text_box_is_logged_and_every_image_maker_counts(lesson):
    _, demo, _, _ = lesson
    declared = declarations(demo)
    # Every public endpoint is a request the classroom counts (the lessons' list is data, no task).
    public = [fn for fn in demo.fns.values() if fn.api_visibility == "public" and fn.api_name != "lessons"]
    assert public and all(fn in declared and declared[fn].counted for fn in public), [
        fn.api_name for fn in public if fn not in declared or not declared[fn].counted
    ]
    # A public endpoint's answer (a caption, an answer to a question) is not typed text.
    answers = {c._id for fn in public for c in fn.outputs}  # noqa: SLF001
    for block_fn, checked in declared.items():
        boxes = [
            name
            for name, component in zip(_parameters(block_fn.fn), block_fn.inputs, strict=False)
            if isinstance(component, gr.Textbox) and component.visible is True and component._id not in answers
        ]  # noqa: SLF001
        assert list(checked.typed) == (boxes if checked.counted else []), block_fn.api_name
        # Show the code (private, after a request) only shows a result: neither counted nor logged.
        if block_fn.api_name.endswith("_code") or block_fn.api_name in ("rescale_matrix", "where_maps"):
            assert not checked.counted, block_fn.api_name
    # A public endpoint that takes a text-to-image checkpoint makes images (Show the code only reads them).
    makers = {
        fn.api_name
        for fn in public
        if any(
            isinstance(c, gr.Dropdown) and any(v == ALLOWED["text_to_image"] for _, v in c.choices) for c in fn.inputs
        )
    }
    assert {"text_to_image", "explain_text_to_image", "evaluate"} <= makers
    for block_fn, checked in declared.items():
        if block_fn.api_name in makers:
            assert checked.images, f"{block_fn.api_name} makes images but doesn't say how many"
    typed = {fn.api_name: list(c.typed) for fn, c in declared.items()}
    assert "text" in typed["speak"] and "texts" in typed["similarity_matrix"] and "question" in typed["explain_vqa"]
    assert "question" in typed["vqa_1"]  # asked by voice: the transcription is the student's question
    assert typed["read_aloud_value"] == [] and typed["more_like_this"] == []  # a caption; a hidden image id


def test_texts_of_every_endpoint_and_refusals_by_a_locked_control_are_logged(lesson):
    url, _, _, log = lesson
    client = Client(url, auth=("dana", PASSWORD), verbose=False)
    client.predict(text="hello class", api_name="/speak")
    with pytest.raises(AppError):
        client.predict(prompt="a locked fox", guidance_scale=7.5, width=64, height=64, api_name="/text_to_image")
    mine = [e for e in entries(log) if e["student"] == "dana"]
    assert {"endpoint": "speak", "text": "hello class"}.items() <= mine[0].items()
    refused = [e for e in mine if e.get("prompt") == "a locked fox"]
    # (A value outside a narrowed range is refused by its control, before any handler: not logged.)
    assert refused and "refused" in refused[0] and "guidance_scale" in refused[0]["refused"]


def test_explaining_an_image_counts_as_making_one(lesson):
    _, demo, _, _ = lesson
    policy = demo.playground.classroom
    checked = next(c for f, c in declarations(demo).items() if f.api_name == "explain_text_to_image")
    before = sum(n for _, n in policy.limits._images["local"])  # noqa: SLF001
    policy.check(checked, {"prompt": "a fox"})
    assert sum(n for _, n in policy.limits._images["local"]) == before + 1  # noqa: SLF001


# --- Items 9 and 10: who a student is; what students can't do ---------------------------------


def test_one_student_however_the_name_is_spelt(lesson):
    from classroom.policy import student

    class Request:
        def __init__(self, name):
            self.username = name

    assert len({student(Request(n)) for n in ("Cara", "CARA", "ca\u200bra", " cara ", "ｃａｒａ")}) == 1
    # A Cyrillic а, a whole name of Cyrillic look-alikes, an accent (composed or combining),
    # small capitals: one student too, with one allowance (each had its own budget).
    assert {student(Request(n)) for n in ("Cаra", "сага", "Cára", "Ca\u0301ra", "ᴄᴀʀᴀ")} == {"cara"}
    # Names that differ are still told apart, in every script; marks that make another kana stay.
    names = ("Ana", "Cora", "Иван", "Игорь", "张三", "张四", "ドラ", "トラ", "김철수")
    assert len({student(Request(n)) for n in names}) == len(names)

    # Through the login: the log says who, as the limits count them, and the name as typed.
    url, _, _, log = lesson
    Client(url, auth=("Cаra", PASSWORD), verbose=False).predict(text="hello from cara", api_name="/speak")
    (entry,) = [e for e in entries(log) if e.get("text") == "hello from cara"]
    assert entry["student"] == "cara" and entry["name"] == "Cаra"


def test_a_students_wrong_passwords_do_not_lock_out_the_class(lesson):
    url, *_ = lesson
    for attempt in range(12):
        httpx.post(f"{url}login", data={"username": "mallory", "password": f"guess{attempt}"})
    assert httpx.post(f"{url}login", data={"username": "mallory", "password": "x"}).status_code == 429
    assert httpx.post(f"{url}login", data={"username": "MALLORY", "password": "x"}).status_code == 429  # same name
    for name in ("ana", "ben", "chen"):  # the rest of the class, behind the same address
        assert httpx.post(f"{url}login", data={"username": name, "password": PASSWORD}).status_code == 200


def test_students_cannot_unload_models_or_switch_the_fast_path(lesson):
    _, demo, _, _ = lesson
    functions = {getattr(fn.fn, "__name__", "") for fn in demo.fns.values()}
    assert not {"unload", "unload_all", "set_fast_path"} & functions
