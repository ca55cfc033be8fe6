"""Classroom mode as students and API clients meet it: `python app.py --classroom FILE`
on a free port, driven through gradio_client. Locks and limits hold for API calls,
not only in the page; hidden tabs have no endpoint; the password and the prompt log work."""

import json
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from classroom.rules import ClassroomError
from tests.conftest import IMAGES, copy_of_app, launch_app
from tools.loadtest import loopback_client

PASSWORD = "letmein"
CAT = str(IMAGES / "cat.jpg")
CLASSROOM = f"""
message: "**Lesson 4**: how do models combine pictures and words?"
tabs: [caption, create, search, fusion]
models:
  text_to_image: {{default: tiny-sd, allowed: [tiny-sd]}}
locked:
  num_inference_steps: {{max: 2}}
  width: {{max: 128}}
  height: {{max: 128}}
  guidance_scale: 0
  epochs: {{max: 20}}
  strategy: {{allowed: [early, late]}}
limits:
  requests_per_minute: 6
  images_per_hour: 3
password: {PASSWORD}
prompt_log: {{enabled: true, file: logs/prompts.jsonl}}
"""


@pytest.fixture(scope="module")
def classroom_app(tmp_path_factory):
    """The app run from a copy whose settings file sits in assets/, as the README's own
    example puts it (that folder holds the example images, which are served)."""
    folder = tmp_path_factory.mktemp("classroom")
    app = copy_of_app(folder / "app")
    (app / "assets" / "lesson.yaml").write_text(CLASSROOM, encoding="utf-8")
    with launch_app(folder, "--classroom", "assets/lesson.yaml", cwd=app) as url:
        yield url, folder / "classroom" / "logs" / "prompts.jsonl"  # relative to the data dir


def student(classroom_app, name: str) -> Client:
    return loopback_client(classroom_app[0], auth=(name, PASSWORD))


def test_nothing_is_served_without_the_class_password(classroom_app):
    import urllib.error
    import urllib.request

    with pytest.raises(Exception, match="credentials were not provided"):
        Client(classroom_app[0], verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(classroom_app[0], auth=("ana", "wrong"), verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(classroom_app[0], auth=("   ", PASSWORD), verbose=False)  # a name is needed
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(classroom_app[0] + "gradio_api/info", timeout=10)


def test_hidden_tabs_have_no_endpoint(classroom_app):
    api = student(classroom_app, "ana").view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/caption", "/text_to_image", "/search_by_text", "/train_fusion"} <= set(api)
    assert "/vqa" not in api


def test_the_api_defaults_obey_the_locks(classroom_app):
    api = student(classroom_app, "ana").view_api(print_info=False, return_format="dict")["named_endpoints"]
    defaults = {p["parameter_name"]: p["parameter_default"] for p in api["/text_to_image"]["parameters"]}
    assert defaults["num_inference_steps"] <= 2 and defaults["guidance_scale"] == 0
    assert defaults["width"] <= 128 and defaults["height"] <= 128


def test_a_request_within_the_locks_works(classroom_app):
    from PIL import Image

    result = student(classroom_app, "ben").predict(prompt="a red fox", seed=1, api_name="/text_to_image")
    assert len(result) == 1 and max(Image.open(result[0]["image"]).size) <= 128


# The input guard (ui/server/security.py) checks against the components the classroom narrowed.
LOCKED = [
    (
        dict(prompt="a fox", num_inference_steps=3, api_name="/text_to_image"),
        r"`num_inference_steps`: must be at least 1 and at most 2, not 3",
    ),
    (
        dict(prompt="a fox", width=256, api_name="/text_to_image"),
        r"`width`: must be at least 64 and at most 128, not 256",
    ),
    (dict(prompt="a fox", guidance_scale=7.5, api_name="/text_to_image"), r"`guidance_scale` \(= 0\); got 7.5"),
    (
        dict(prompt="a fox", model="tiny-sdxl", api_name="/text_to_image"),
        r"`model`: must be one of \['tiny-sd'\], not 'tiny-sdxl'",
    ),
    (
        dict(strategy="early", epochs=50, api_name="/train_fusion"),
        r"`epochs`: must be at least 1 and at most 20, not 50",
    ),
]


@pytest.mark.parametrize(("request_", "message"), LOCKED, ids=[r["api_name"] + "-" + m[:24] for r, m in LOCKED])
def test_locked_parameters_are_enforced_on_the_server_for_api_calls(classroom_app, request_, message):
    client = student(classroom_app, f"carl-{request_['api_name'][1:]}-{len(message)}")
    with pytest.raises(AppError, match=message):
        client.predict(**request_)


def test_comparing_trains_only_the_strategies_the_teacher_allows(classroom_app):
    client = student(classroom_app, "hana")
    assert [r["strategy"] for r in client.predict(epochs=2, api_name="/compare_fusion")] == ["early", "late"]
    with pytest.raises(AppError, match=r"`strategy`: must be one of \['early', 'late'\], not 'hybrid'"):
        client.predict(strategy="hybrid", epochs=2, api_name="/train_fusion")


def test_requests_per_minute_are_limited_per_student(classroom_app):
    dora, eli = student(classroom_app, "dora"), student(classroom_app, "eli")
    for _ in range(6):
        dora.predict(query="a cat", top_k=1, api_name="/search_by_text")
    with pytest.raises(AppError, match="6 requests in the last minute.*try again in"):
        dora.predict(query="a cat", top_k=1, api_name="/search_by_text")
    assert eli.predict(query="a cat", top_k=1, api_name="/search_by_text")  # others are not affected


def test_images_per_hour_are_limited_per_student(classroom_app):
    fay = student(classroom_app, "fay")
    assert len(fay.predict(prompt="a fox", num_images=2, api_name="/text_to_image")) == 2
    with pytest.raises(AppError, match="allows 3 images per hour; you have made 2 and asked for 2 more"):
        fay.predict(prompt="a fox", num_images=2, api_name="/text_to_image")


def test_the_prompt_log_records_who_typed_what(classroom_app):
    gus = student(classroom_app, "gus")
    gus.predict(prompt="a purple cow", api_name="/text_to_image")
    with pytest.raises(AppError, match="images per hour"):
        gus.predict(prompt="three purple cows", num_images=3, api_name="/text_to_image")
    gus.predict(query="cows", top_k=1, api_name="/search_by_text")
    entries = [json.loads(line) for line in classroom_app[1].read_text(encoding="utf-8").splitlines()]
    mine = [e for e in entries if e["student"] == "gus"]
    assert [(e["endpoint"], e.get("prompt") or e.get("query")) for e in mine] == [
        ("text_to_image", "a purple cow"),
        ("text_to_image", "three purple cows"),
        ("search_by_text", "cows"),
    ]
    assert "refused" not in mine[0] and "images per hour" in mine[1]["refused"]
    assert all(set(e) <= {"time", "student", "endpoint", "prompt", "negative_prompt", "query", "refused"} for e in mine)


def page_event(url: str, name: str, api_name: str, data: list) -> dict:
    """Run one of the page's own events (a private one, which gradio_client won't call) as
    the page does: join the queue with its index, read the result stream; the final message."""
    import uuid

    http = httpx.Client(base_url=url, timeout=120)
    http.post("login", data={"username": name, "password": PASSWORD}).raise_for_status()
    index = next(d["id"] for d in http.get("config").json()["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex
    joined = http.post(
        "gradio_api/queue/join",
        json={"data": data, "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None},
    )
    joined.raise_for_status()
    with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise AssertionError(f"{api_name} never completed")


def test_show_the_code_is_neither_a_request_nor_typed_text(classroom_app):
    """The page follows every caption with Show the code (a private event, with the caption
    among its inputs): it counted as another request (three captions a minute where the
    teacher set six) and logged the model's caption as text the student typed."""
    url, log = classroom_app
    kim = student(classroom_app, "kim")
    caption = kim.predict(handle_file(CAT), prompt="a photo of", max_new_tokens=3, num_beams=1, api_name="/caption")
    shown = [None, "tiny-blip", "a photo of", 3, 1, False, 1.0, 0.9, -1, caption, None]  # caption_code's inputs
    for _ in range(6):  # as many as the teacher allows requests in a minute
        completed = page_event(url, "kim", "caption_code", shown)
        assert completed["success"], completed
    assert kim.predict(handle_file(CAT), prompt="a photo of", max_new_tokens=3, num_beams=1, api_name="/caption")
    mine = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    mine = [e for e in mine if e["student"] == "kim"]
    assert [(e["endpoint"], e.get("prompt")) for e in mine] == [("caption", "a photo of")] * 2
    assert all(set(e) == {"time", "student", "endpoint", "prompt"} for e in mine)  # no "output": the caption


def test_a_bad_classroom_file_stops_the_app_with_a_message(tmp_path, monkeypatch):
    import app

    monkeypatch.setenv("CLASSROOM_FILE", "")  # main() sets it; restored afterwards
    bad = tmp_path / "lesson.yaml"
    bad.write_text("tabs: [caption]\nlimits: {requests_per_minut: 3}\nlocked: {width: {max: wide}}\n")
    with pytest.raises(SystemExit) as stopped:
        app.main(["--profile", "tiny", "--classroom", str(bad)])
    message = str(stopped.value.code)
    assert message.startswith("Classroom mode: lesson.yaml is not a valid classroom file:")
    assert "limits.requests_per_minut: unknown setting; allowed here: requests_per_minute" in message
    assert "locked.width.max: Input should be a valid number" in message


def test_the_settings_file_and_the_prompt_log_are_never_served(classroom_app):
    """The settings file holds the password, the log the students' text: no file route
    serves either, by a relative or an absolute path, in either spelling, nor the rest
    of assets/ beyond the examples."""
    url, log = classroom_app
    student(classroom_app, "hal").predict(query="a secret search", top_k=1, api_name="/search_by_text")
    assert "a secret search" in log.read_text(encoding="utf-8")
    session = httpx.Client(base_url=url, timeout=30)
    session.post("login", data={"username": "hal", "password": PASSWORD}).raise_for_status()
    app = Path(log.parents[2], "app")
    private = [
        "assets/lesson.yaml",
        str(app / "assets" / "lesson.yaml"),
        str(log),
        "assets/safety/blocklist.txt",
        "assets/classroom.example.yaml",
    ]
    for path in private:
        for route in ("gradio_api/file=", "gradio_api/file/", "file=", "file/"):
            answer = session.get(route + path)
            assert answer.status_code in (403, 404), (route, path, answer.status_code)
            assert PASSWORD not in answer.text and "a secret search" not in answer.text
    assert session.get("gradio_api/file=assets/images/cat.jpg").status_code == 200  # the examples still are


def test_a_settings_file_or_log_in_a_served_folder_stops_the_app(tmp_path, monkeypatch):
    from ui import demo as ui

    monkeypatch.setattr(ui.settings, "EXAMPLE_IMAGES_DIR", tmp_path)
    (tmp_path / "lesson.yaml").write_text("password: hunter2\n")
    with pytest.raises(ClassroomError, match="the classroom file: .* lies in a folder this app serves"):
        ui._classroom_rules(str(tmp_path / "lesson.yaml"))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "lesson.yaml").write_text(
        f"prompt_log: {{enabled: true, file: {tmp_path / 'log.jsonl'}}}\n"
    )
    with pytest.raises(ClassroomError, match="prompt_log.file: .* lies in a folder this app serves"):
        ui._classroom_rules(str(tmp_path / "elsewhere" / "lesson.yaml"))
