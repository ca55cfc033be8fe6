"""Text-to-image on a model server (BACKEND_TEXT_TO_IMAGE): a real HTTP server started
here answers /v1/images/generations with the tiny SD model (as vLLM-Omni or SGLang
Diffusion would with a real one); the remote pipeline gives the in-process images, with
the same checks, and the app's safety filter applied to what comes back."""

from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest


@pytest.fixture(scope="module")
def local(models):
    return models.get("text_to_image", "tiny-sd").pipeline


@pytest.fixture(scope="module")
def images_server(local):
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            width, height = (int(v) for v in body["size"].split("x"))
            image = local(
                body["prompt"],
                seed=body["seed"],
                num_inference_steps=body["num_inference_steps"],
                guidance_scale=body["guidance_scale"],
                width=width,
                height=height,
            )[0]
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            reply = json.dumps({"created": 0, "data": [{"b64_json": base64.b64encode(buffer.getvalue()).decode()}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    server.shutdown()


@pytest.fixture
def remote(images_server, local):
    from pipelines.remote import RemoteTextToImagePipeline
    from runtime.backends import Backend

    return RemoteTextToImagePipeline(
        Backend("text_to_image", images_server[0], "tiny-sd"), safety=local.safety, defaults=local.defaults
    )


def test_the_server_gives_the_in_process_images_seed_by_seed(remote, local, images_server):
    kwargs = dict(seed=7, num_inference_steps=2, guidance_scale=0.0, width=64, height=64)
    there = remote("a red fox", num_images=2, **kwargs)
    here = local("a red fox", num_images=2, **kwargs)
    # The same images up to rounding: one a request there, a batch of two here (float sums in another order).
    differ = [int(np.abs(np.asarray(i, int) - np.asarray(j, int)).max()) for i, j in zip(there, here, strict=True)]
    assert max(differ) <= 1, differ
    assert [r["seed"] for r in images_server[1][-2:]] == [7, 8]  # image i with seed + i, one request each
    assert images_server[1][-1]["size"] == "64x64" and images_server[1][-1]["response_format"] == "b64_json"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(prompt=""), "prompt is empty"),
        (dict(prompt="a cat", width=100), "divisible by 8"),
        (dict(prompt="a cat", decoder="taesd"), "needs the model in this process"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_sent(remote, images_server, kwargs, message):
    sent = len(images_server[1])
    with pytest.raises(ValueError, match=message):
        remote(**kwargs)
    assert len(images_server[1]) == sent


def test_a_prompt_on_the_blocklist_never_reaches_the_server(remote, images_server):
    from pipelines import safety

    term = next(iter(safety.blocklist().terms))
    sent = len(images_server[1])
    with pytest.raises(ValueError):
        remote(f"a picture of {term}", num_inference_steps=1, width=64, height=64)
    assert len(images_server[1]) == sent
