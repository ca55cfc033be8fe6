"""Memory through small images (issue 23, item 3): an image is decoded at the size it is
needed at (JPEG's draft, whole-factor reduce), 16-bit images make no float64 copy, and
the decoded bytes of all requests in flight stay within one budget, under 8 concurrent
clients too. Also the aspect-ratio edge: an image at the limit stays within it."""

import threading
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from runtime import inputs, settings
from runtime.inputs import DecodeBudget, load_image


def test_a_big_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (8000, 4000), "teal").save(path, quality=80)
    budget = DecodeBudget(10**10)
    monkeypatch.setattr(inputs, "DECODING", budget)
    image = load_image(path, max_side=1024)
    assert image.size == (1024, 512) and image.mode == "RGB"
    full = 8000 * 4000 * 8  # what decoding at full size would have reserved
    assert budget.peak <= full // 16  # draft decoded at 1/8 scale: 1000x500


def test_a_16_bit_image_makes_no_float64_copy(tmp_path):
    path = tmp_path / "deep.png"
    ramp = (np.arange(3000 * 3000, dtype=np.uint32) % 65536).astype(np.uint16).reshape(3000, 3000)
    Image.fromarray(ramp).save(path)  # mode I;16: 18 MB decoded
    tracemalloc.start()
    image = load_image(path, max_side=512)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert image.size == (512, 512) and image.mode == "RGB"
    # A float64 copy of the full image alone is 72 MB; reduced first, the conversion holds
    # one uint16 copy (18 MB) and a small float32 image.
    assert peak < 40 * 2**20, peak


def test_the_budget_holds_under_8_concurrent_clients():
    budget = DecodeBudget(100, timeout=10)
    seen, errors = [], []

    def client():
        try:
            for _ in range(5):
                with budget.reserve(40):
                    seen.append(budget.in_use)
                    time.sleep(0.01)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(seen) == 40 and max(seen) <= 100 and budget.peak <= 100 and budget.in_use == 0


def test_a_request_that_waits_too_long_gets_a_message():
    budget = DecodeBudget(100, timeout=0.2)
    with budget.reserve(100), pytest.raises(ValueError, match="busy reading other large images"), budget.reserve(1):
        pass
    with budget.reserve(1000):  # one image larger than the whole budget takes all of it, no more
        assert budget.in_use == 100


def test_eight_concurrent_loads_of_a_small_file_that_decodes_big_stay_in_budget(tmp_path, monkeypatch):
    path = tmp_path / "bomb-ish.png"
    Image.new("I;16", (4000, 4000)).save(path)  # a few KB on disk, 32 MB decoded
    assert path.stat().st_size < 200_000
    cost = 4000 * 4000 * (2 + 4)
    budget = DecodeBudget(2 * cost)
    monkeypatch.setattr(inputs, "DECODING", budget)
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_image(path).size)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(2048, 2048)] * 8 and budget.peak <= 2 * cost


def test_an_image_at_the_aspect_limit_stays_within_it_after_downscaling(tmp_path):
    ratio = int(settings.MAX_ASPECT_RATIO)
    path = tmp_path / "strip.png"
    Image.new("RGB", (205 * ratio, 205), "navy").save(path)  # exactly at the limit, wider than MAX_IMAGE_SIDE
    once = load_image(path)
    assert max(once.size) == settings.MAX_IMAGE_SIDE
    assert max(once.size) / min(once.size) <= settings.MAX_ASPECT_RATIO
    assert load_image(once).size == once.size  # a pipeline that checks it again accepts it
