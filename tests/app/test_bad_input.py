"""Every endpoint against every class of bad input, through gradio_client and plain HTTP:
each answers with a message that says what is wrong (never an empty or generic error),
and the next valid request to the same endpoint still succeeds."""

import json
import re
import struct
import urllib.error
import urllib.request
import zlib

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.conftest import IMAGES

GENERIC = "The upstream Gradio app has raised an exception"
CAT = str(IMAGES / "cat.jpg")


def valid_request(endpoint: str) -> dict:
    """A small request that must succeed."""
    cat = handle_file(CAT)
    return {
        "/caption": dict(image=cat, max_new_tokens=8, num_beams=1),
        "/vqa": dict(image=cat, question="What is it?"),
        "/text_to_image": dict(prompt="a red fox", seed=1, width=64, height=64),
        "/search_by_text": dict(query="a cat", top_k=2),
        "/search_by_image": dict(image=cat, top_k=2),
        "/classify": dict(image=cat, labels="cat, dog"),
        "/add_to_gallery": dict(files=[cat]),
    }[endpoint]


def assert_refused_then_served(client, endpoint: str, message: str, **kwargs) -> None:
    request = {**valid_request(endpoint), **kwargs}
    with pytest.raises(AppError) as refused:
        client.predict(**request, api_name=endpoint)
    text = str(refused.value)
    assert text and GENERIC not in text
    assert refused.match(message), text
    assert client.predict(**valid_request(endpoint), api_name=endpoint) is not None


# --- Images -----------------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds almost no data: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def truncated_png(path):
    Image.effect_noise((200, 200), 50).save(path)
    path.write_bytes(path.read_bytes()[:2000])


BAD_IMAGES = {
    # name: (file name, write(path), what the message must say)
    "zero-byte": ("empty.png", lambda p: p.write_bytes(b""), "empty"),
    "not-an-image": ("notes.png", lambda p: p.write_text("just some text"), "not an image"),
    "truncated": ("cut.png", truncated_png, "damaged or truncated"),
    "corrupt": (
        "noise.jpg",
        lambda p: p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8),
        "damaged|not an image",
    ),
    "bomb": ("bomb.png", lambda p: Image.new("1", (9000, 9000)).save(p), "too large|limit is"),
    "bomb-header": ("claims.png", lambda p: p.write_bytes(png_header_only(60000, 60000)), "too large|limit is"),
    "extreme-aspect": ("strip.png", lambda p: Image.new("RGB", (2100, 10)).save(p), "aspect ratio"),
    "tiff": ("photo.tiff", lambda p: Image.new("RGB", (20, 20)).save(p), "TIFF"),
    "svg": ("drawing.svg", lambda p: p.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>'), "not an image"),
}
IMAGE_ENDPOINTS = ["/caption", "/vqa", "/search_by_image", "/classify"]


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad-images")
    for name, write, _ in BAD_IMAGES.values():
        write(folder / name)
    return {kind: str(folder / name) for kind, (name, _, _) in BAD_IMAGES.items()}


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
@pytest.mark.parametrize("kind", list(BAD_IMAGES))
def test_bad_images(client, bad_images, endpoint, kind):
    assert_refused_then_served(client, endpoint, BAD_IMAGES[kind][2], image=handle_file(bad_images[kind]))


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
def test_missing_image(client, endpoint):
    assert_refused_then_served(client, endpoint, "No image", image=None)


def odd_images(tmp_path) -> dict[str, str]:
    """Images that are fine, in every awkward form: each must be converted and work."""
    rgba = Image.new("RGBA", (60, 40), (255, 0, 0, 128))
    exif = Image.new("RGB", (60, 30)).getexif()
    exif[0x0112] = 6
    files = {
        "alpha.png": lambda p: rgba.save(p),
        "grey.png": lambda p: Image.new("L", (50, 50), 90).save(p),
        "grey-alpha.png": lambda p: Image.new("LA", (50, 50)).save(p),
        "palette.gif": lambda p: Image.new("P", (50, 50), 3).save(p),
        "sixteen-bit.png": lambda p: Image.fromarray(np.arange(2500, dtype=np.uint16).reshape(50, 50) * 26).save(p),
        "cmyk.jpg": lambda p: Image.new("CMYK", (50, 50), (0, 50, 100, 0)).save(p),
        "rotated.jpg": lambda p: Image.new("RGB", (60, 30)).save(p, exif=exif),
        "animated.gif": lambda p: Image.new("RGB", (30, 30)).save(
            p, save_all=True, append_images=[Image.new("RGB", (30, 30), "red")]
        ),
        "photo.webp": lambda p: Image.new("RGB", (50, 50), "blue").save(p),
        "photo.bmp": lambda p: Image.new("RGB", (50, 50), "green").save(p),
        "huge.png": lambda p: Image.new("RGB", (2600, 1200), "white").save(p),  # downscaled, not refused
    }
    for name, write in files.items():
        write(tmp_path / name)
    return {name: str(tmp_path / name) for name in files}


def test_awkward_but_valid_images_are_converted_and_work(client, tmp_path):
    for name, path in odd_images(tmp_path).items():
        caption = client.predict(image=handle_file(path), max_new_tokens=5, num_beams=1, api_name="/caption")
        assert isinstance(caption, str), name


# --- Text -------------------------------------------------------------------------------

TEXT_PARAMS = [
    ("/vqa", "question"),
    ("/text_to_image", "prompt"),
    ("/search_by_text", "query"),
    ("/classify", "labels"),
]
BAD_TEXT = {
    "empty": ("", "empty"),
    "whitespace": (" \n\t \u3000 ", "empty"),
    "control-only": ("\x00\x07\x1b\x7f", "empty"),
    "too-long": ("word " * 2000, "limit is"),
    "not-text": (12345, "must be text"),
    "list": (["a", "b"], "must be text"),
}


@pytest.mark.parametrize(("endpoint", "param"), TEXT_PARAMS, ids=[f"{e}-{p}" for e, p in TEXT_PARAMS])
@pytest.mark.parametrize("kind", list(BAD_TEXT))
def test_bad_text(client, endpoint, param, kind):
    value, message = BAD_TEXT[kind]
    assert_refused_then_served(client, endpoint, message, **{param: value})


UNICODE = [
    "猫在做什么？",  # Chinese
    "ما هذا؟",  # Arabic, right to left
    "👩‍🚀 on a 🐴",  # emoji joined with a zero-width joiner
    "cafe\u0301 au lait",  # a combining accent
    "\u202eevil\u202c override",  # bidirectional override characters
    "tab\there\x00nul\x1bescape",  # control characters among words
]


@pytest.mark.parametrize(("endpoint", "param"), TEXT_PARAMS, ids=[f"{e}-{p}" for e, p in TEXT_PARAMS])
def test_any_unicode_is_accepted(client, endpoint, param):
    for text in UNICODE:
        value = f"{text}, dog" if param == "labels" else text
        assert client.predict(**{**valid_request(endpoint), param: value}, api_name=endpoint) is not None, text


def test_a_lone_surrogate_over_http_is_accepted(app_url):
    # Half an emoji, as broken clients send: JSON can carry it, UTF-8 can't.
    event, data = call_raw(app_url, "search_by_text", '{"query": "\\ud83d a cat", "top_k": 1}')
    assert event == "complete", data


def test_long_text_is_cut_to_the_model_and_still_answers(client):
    # Under the character limit but over the models' token limits (77 for CLIP, 64 for tiny BLIP).
    long = "a small red fox in the snow " * 30
    assert client.predict(image=handle_file(CAT), prompt=long[:900], api_name="/caption")
    assert client.predict(image=handle_file(CAT), question=long[:480], api_name="/vqa")
    assert client.predict(prompt=long[:900], seed=1, width=64, height=64, api_name="/text_to_image")
    assert client.predict(query=long[:900], api_name="/search_by_text")


def test_optional_caption_prompt(client):
    # An empty or blank optional prompt means "no prompt"; a wrong type or too long is refused.
    for blank in ("", "   "):
        assert isinstance(client.predict(image=handle_file(CAT), prompt=blank, api_name="/caption"), str)
    assert_refused_then_served(client, "/caption", "must be text", prompt=42)
    assert_refused_then_served(client, "/caption", "limit is", prompt="x" * 1500)


# --- Numbers ----------------------------------------------------------------------------

BAD_NUMBERS = [
    ("/caption", "max_new_tokens", 0, "at least 1"),
    ("/caption", "max_new_tokens", 10**9, "at most 100"),
    ("/caption", "num_beams", 9, "at most 8"),
    ("/caption", "num_beams", "lots", "must be a number"),
    ("/caption", "temperature", 0, "at least 0.05"),
    ("/caption", "top_p", 1.5, "at most 1"),
    ("/caption", "seed", -7, "between 0 and"),
    ("/caption", "seed", 2**40, "between 0 and"),
    ("/caption", "seed", "abc", "must be a number"),
    ("/caption", "do_sample", "yes", "true or false"),
    ("/text_to_image", "num_inference_steps", 0, "at least 1"),
    ("/text_to_image", "num_inference_steps", 10**6, "at most 100"),
    ("/text_to_image", "guidance_scale", -1, "at least 0"),
    ("/text_to_image", "guidance_scale", 1e308, "at most 20"),
    ("/text_to_image", "width", 100, "divisible by 8"),
    ("/text_to_image", "width", 4096, "at most 1024"),
    ("/text_to_image", "height", 8, "at least 64"),
    ("/text_to_image", "height", True, "must be a number"),
    ("/text_to_image", "num_images", 100, "at most 4"),
    ("/text_to_image", "seed", 1.5e10, "between 0 and"),
    ("/search_by_text", "top_k", 0, "at least 1"),
    ("/search_by_text", "top_k", 10**9, "at most 1000"),
    ("/search_by_image", "top_k", "many", "must be a number"),
    ("/vqa", "model", "../../etc/passwd", "must be one of"),
    ("/text_to_image", "model", "stabilityai/sd-turbo", "must be one of"),
]


@pytest.mark.parametrize(
    ("endpoint", "param", "value", "message"), BAD_NUMBERS, ids=[f"{e}-{p}-{v!r}"[:60] for e, p, v, _ in BAD_NUMBERS]
)
def test_bad_numbers_and_choices(client, endpoint, param, value, message):
    assert_refused_then_served(client, endpoint, message, **{param: value})


# --- Files that are not the client's, over plain HTTP -------------------------------------


def call_raw(url: str, endpoint: str, body: str) -> tuple[str, dict]:
    """POST a raw JSON body to /gradio_api/call/v2/<endpoint>; return the event and its data."""
    request = urllib.request.Request(
        f"{url}gradio_api/call/v2/{endpoint}", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    event_id = json.load(urllib.request.urlopen(request, timeout=30))["event_id"]
    stream = urllib.request.urlopen(f"{url}gradio_api/call/v2/{endpoint}/{event_id}", timeout=60).read().decode()
    lines = stream.splitlines()
    event = [line[len("event: ") :] for line in lines if line.startswith("event: ")][-1]
    data = json.loads([line[len("data: ") :] for line in lines if line.startswith("data: ")][-1])
    return event, data


FOREIGN_FILES = {
    "server-path-with-meta": ({"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "not uploaded"),
    "server-path-without-meta": ({"path": CAT}, "not uploaded"),
    "relative-path": ({"path": "../../../etc/passwd", "meta": {"_type": "gradio.FileData"}}, r"'\.\.'"),
    "internal-url": ({"path": "http://127.0.0.1:1/x.png", "meta": {"_type": "gradio.FileData"}}, "fetch URLs"),
    "url-only": ({"url": "http://169.254.169.254/latest/meta-data", "path": None}, "fetch URLs"),
    "data-url": ({"path": None, "url": "data:image/png;base64,iVBORw0KGgo="}, "data: URL|fetch URLs"),
    "bare-string": ("/etc/passwd", "uploaded to this app"),
}


@pytest.mark.parametrize("kind", list(FOREIGN_FILES))
@pytest.mark.parametrize("endpoint", ["caption", "search_by_image"])
def test_files_not_uploaded_here_are_refused_with_a_message(app_url, client, endpoint, kind):
    payload, message = FOREIGN_FILES[kind]
    event, data = call_raw(app_url, endpoint, json.dumps({"image": payload}))
    assert event == "error"
    assert data["error"] and re.search(message, data["error"]), data
    assert client.predict(**valid_request(f"/{endpoint}"), api_name=f"/{endpoint}") is not None


def test_gallery_upload_refuses_foreign_files(app_url):
    event, data = call_raw(app_url, "add_to_gallery", json.dumps({"files": [{"path": "/etc/hostname"}]}))
    assert event == "error" and "not uploaded" in data["error"]


def test_nan_and_infinity_are_refused_over_http(app_url, client):
    for body in ('{"image": null, "seed": NaN}', '{"prompt": "a fox", "guidance_scale": Infinity}'):
        endpoint = "caption" if "image" in body else "text_to_image"
        event, data = call_raw(app_url, endpoint, body)
        assert event == "error" and data["error"], data
    assert client.predict(**valid_request("/caption"), api_name="/caption")


def test_gallery_upload_reports_each_bad_file_and_keeps_the_good_ones(client, bad_images, tmp_path):
    files = [
        handle_file(bad_images[kind]) for kind in ("zero-byte", "not-an-image", "truncated", "bomb", "extreme-aspect")
    ]
    good = tmp_path / "good-square.png"
    Image.new("RGB", (64, 64), (200, 30, 180)).save(good)
    _, report = client.predict(files=[*files, handle_file(str(good))], api_name="/add_to_gallery")
    assert "Added 1 image" in report
    for needle in ("empty", "not an image", "damaged or truncated", "limit is", "aspect ratio"):
        assert needle in report, report


def test_oversized_upload_is_refused(app_url, tmp_path):
    # MAX_FILE_SIZE is 20 MB: Gradio answers 413 before the file reaches any model.
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * (21 * 2**20))
    boundary = "----playground"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + big.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{app_url}gradio_api/upload", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413
    assert "size" in refused.value.read().decode().lower()


# --- Every endpoint, also those added later: wrong values for each parameter ----------

SERVER_FILE = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}
URL_FILE = {"path": "http://127.0.0.1:1/cat.png", "meta": {"_type": "gradio.FileData"}}


def bad_values(parameter: dict) -> list[tuple[object, str]]:
    """(value, what the message must say) for a parameter, by its component."""
    component, python_type = parameter["component"], parameter["python_type"]["type"]
    many = python_type.startswith("list")
    if component in ("Image", "File"):
        return [
            ([SERVER_FILE] if many else SERVER_FILE, "not uploaded"),
            ([URL_FILE] if many else URL_FILE, "fetch URLs"),
        ]
    if component in ("Slider", "Number"):
        return [("many", "must be a number")] + ([(1e12, "at most")] if component == "Slider" else [])
    if component == "Textbox":
        return [(12345, "must be text")]
    if component in ("Dropdown", "Radio"):
        return [("no-such-choice", "must be one of")]
    if component == "Checkbox":
        return [("yes", "true or false")]
    if component == "Checkboxgroup":
        return [(["no-such-choice"], "must be a list of")]
    return []


def test_every_endpoint_refuses_bad_values_with_a_message(app_url, client):
    """A sweep over the live API description, so endpoints added later are covered too:
    each parameter gets a wrong value of its kind, and the answer names it and says why."""
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    checked = 0
    for endpoint, info in api.items():
        parameters = info["parameters"]
        for parameter in parameters:
            for value, message in bad_values(parameter):
                body = {p["parameter_name"]: None for p in parameters if not p["parameter_has_default"]}
                body[parameter["parameter_name"]] = value
                event, data = call_raw(app_url, endpoint.lstrip("/"), json.dumps(body))
                where = f"{endpoint} {parameter['parameter_name']}={value!r}"
                assert event == "error" and data["error"], where
                assert f"`{parameter['parameter_name']}`" in data["error"] and message in data["error"], (where, data)
                checked += 1
        assert client.predict(query="a cat", top_k=1, api_name="/search_by_text"), endpoint  # still serving
    assert checked >= 60
