"""Property-based tests (hypothesis) of the input validators and the security helpers:
whatever a client sends, a validator returns a value that keeps its promises or raises
ValueError/TypeError with a message, never anything else."""

import io
import math
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from pipelines.safety import Blocklist, normalise
from runtime import settings as app_settings
from runtime.inputs import MAX_SEED, check_flag, check_number, check_seed, check_text, load_image, parse_labels
from ui.server.limits import RateLimiter, client_key, parse_rate
from ui.server.security import file_refusal, parse_auth

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
IMAGES = settings(FAST, max_examples=60)  # each example encodes and decodes an image file
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


# --- Text -----------------------------------------------------------------------------


@FAST
@given(text=st.text(), max_chars=st.integers(1, 300))
@example(text="\x00\u200d\ud800 a", max_chars=10)
def test_check_text_returns_clean_bounded_text_or_says_why(text, max_chars):
    try:
        cleaned = check_text(text, "question", max_chars)
    except ValueError as error:
        assert "empty" in str(error) or "limit is" in str(error)
        return
    assert cleaned and cleaned == cleaned.strip() and "  " not in cleaned
    assert len(cleaned) <= max_chars
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in cleaned)
    assert cleaned == unicodedata.normalize("NFC", cleaned)
    assert check_text(cleaned, "question", max_chars) == cleaned  # idempotent


@FAST
@given(value=anything.filter(lambda v: v is not None and not isinstance(v, str)))
def test_check_text_refuses_non_text(value):
    with pytest.raises(TypeError, match="must be a string"):
        check_text(value, "prompt")


@FAST
@given(labels=st.lists(st.text(max_size=12), max_size=60))
def test_parse_labels_gives_distinct_clean_labels(labels):
    try:
        parsed = parse_labels(labels)
    except ValueError as error:
        assert "at least two" in str(error) or "at most" in str(error) or "empty" in str(error) or "limit" in str(error)
        return
    assert 2 <= len(parsed) <= app_settings.MAX_LABELS
    assert len(set(parsed)) == len(parsed)
    assert all(label and label == label.strip() and "," not in label for label in parsed)


# --- Numbers --------------------------------------------------------------------------


@FAST
@given(
    value=st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=True, allow_infinity=True), anything),
    low=st.integers(-100, 100),
    span=st.integers(0, 200),
    integer=st.booleans(),
)
def test_check_number_accepts_exactly_the_documented_range(value, low, span, integer):
    high = low + span
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    valid = number and math.isfinite(value) and low <= value <= high and (not integer or float(value).is_integer())
    try:
        result = check_number("steps", value, low, high, integer=integer)
    except (ValueError, TypeError) as error:
        assert not valid and "`steps`" in str(error)
        return
    assert valid and low <= result <= high and result == value
    assert isinstance(result, int if integer else float)


@FAST
@given(seed=anything)
@example(seed=-1)
@example(seed=MAX_SEED)
@example(seed=MAX_SEED + 1)
def test_check_seed_is_in_range_or_refused(seed):
    try:
        result = check_seed(seed)
    except (ValueError, TypeError):
        assert seed not in (None, -1)
        return
    assert isinstance(result, int) and 0 <= result <= MAX_SEED
    if seed not in (None, -1):
        assert result == seed


@FAST
@given(value=anything)
def test_check_flag(value):
    try:
        assert check_flag("do_sample", value) is bool(value)
    except TypeError:
        assert not (isinstance(value, bool) or value in (0, 1)) or isinstance(value, float)


# --- Images ---------------------------------------------------------------------------

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]
FORMATS = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
    "JPEG": ("L", "RGB", "CMYK"),
    "WEBP": ("RGB", "RGBA"),
    "GIF": ("L", "P"),
    "BMP": ("1", "L", "P", "RGB"),
}


def encode(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


@st.composite
def images(draw):
    image_format = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[image_format]))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    assume(max(width, height) / min(width, height) <= app_settings.MAX_ASPECT_RATIO)
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA").convert(mode if mode not in ("I;16", "I") else "L")
    if mode in ("I;16", "I"):
        image = Image.fromarray(np.asarray(image, dtype=np.uint16) * 257).convert(mode)
    return image_format, encode(image, image_format), (width, height)


@IMAGES
@given(case=images())
def test_every_supported_image_becomes_rgb_of_its_size(tmp_path, case):
    image_format, data, size = case
    path = tmp_path / f"image.{image_format.lower()}"
    path.write_bytes(data)
    out = load_image(str(path))
    assert out.mode == "RGB" and out.size == size


@IMAGES
@given(case=images(), cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6))
def test_damaged_images_give_an_image_or_a_message(tmp_path, case, cut, flips):
    # Truncate and corrupt a valid file at random: the result is an RGB image or a
    # ValueError that says what is wrong, never another exception or a hang.
    _, data, _ = case
    data = bytearray(data[: max(1, int(len(data) * cut))] if cut < 0.98 else data)
    for where, byte in flips:
        data[int(where * (len(data) - 1))] = byte
    path = tmp_path / "damaged.bin"
    path.write_bytes(bytes(data))
    try:
        out = load_image(str(path))
    except ValueError as error:
        assert str(error)
        return
    assert out.mode == "RGB" and max(out.size) <= app_settings.MAX_IMAGE_SIDE


@IMAGES
@given(data=st.binary(max_size=2000))
def test_random_bytes_are_refused_with_a_message(tmp_path, data):
    path = tmp_path / "random.png"
    path.write_bytes(data)
    with pytest.raises(ValueError):
        load_image(str(path))


@FAST
@given(width=st.integers(1, 100_000), height=st.integers(1, 100_000))
def test_image_dimensions_are_bounded_before_decoding(width, height):
    image = Image.new("1", (1, 1))
    image.size  # noqa: B018
    image._size = (width, height)  # a header's claim, never decoded  # noqa: SLF001
    pixels_ok = width * height <= app_settings.MAX_IMAGE_PIXELS
    ratio_ok = max(width, height) / min(width, height) <= app_settings.MAX_ASPECT_RATIO
    if pixels_ok and ratio_ok:
        return  # would be decoded: not what this test is about
    with pytest.raises(ValueError, match="limit is|aspect ratio"):
        load_image(image)


# --- The blocklist --------------------------------------------------------------------

TERMS = ["nude", "gore", "self harm", "血腥"]
BLOCKLIST = Blocklist(TERMS)
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", max_size=30)


def disguise(term: str, draw) -> str:
    """Case changes, accents and look-alike digits: what people type to get past a list."""
    out = []
    for ch in term:
        ch = ch.upper() if draw(st.booleans()) else ch
        if ch.lower() == "e" and draw(st.booleans()):
            ch = draw(st.sampled_from(["3", "é", "È"]))
        out.append(ch)
    return "".join(out)


@FAST
@given(data=st.data(), before=words, after=words, term=st.sampled_from(TERMS))
def test_a_listed_term_is_found_however_it_is_written(data, before, after, term):
    disguised = disguise(term, data.draw)
    assert BLOCKLIST.find(f"{before} {disguised} {after}") is not None


@FAST
@given(text=st.text(max_size=60))
def test_normalise_is_idempotent(text):
    assert normalise(normalise(text)) == normalise(text)


@FAST
@given(text=st.text(alphabet="abcdfhijklmopqrstuvwxyz ", max_size=60))
def test_text_without_the_letters_of_any_term_passes(text):
    # None of the Latin terms can be spelled without "e" or "n": nothing is blocked by accident.
    assert BLOCKLIST.find(text) is None


# --- Rate limits, clients, passwords, paths --------------------------------------------


@FAST
@given(
    count=st.integers(1, 5),
    period=st.floats(0.5, 10),
    steps=st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 3)), max_size=80),
)
def test_rate_limiter_never_allows_more_than_count_per_period(count, period, steps):
    now = [0.0]
    limiter = RateLimiter(count, period, clock=lambda: now[0])
    allowed: dict[str, list[float]] = {}
    for key, dt in steps:
        now[0] += dt
        wait = limiter.hit(key)
        if wait is None:
            allowed.setdefault(key, []).append(now[0])
        else:
            assert 0 < wait <= period
    for times in allowed.values():
        for i, t in enumerate(times):
            assert sum(t <= u < t + period for u in times[i:]) <= count


@FAST
@given(
    count=st.integers(1, 10**6),
    number=st.sampled_from(["", "1", "5", "0.5"]),
    unit=st.sampled_from(["s", "second", "minute", "min", "hour", "day"]),
)
def test_parse_rate(count, number, unit):
    parsed_count, seconds = parse_rate(f"{count}/{number}{unit}")
    assert parsed_count == count and seconds == pytest.approx(
        float(number or 1) * {"s": 1, "second": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400}[unit]
    )


@FAST
@given(
    host=st.ip_addresses().map(str), chain=st.lists(st.ip_addresses().map(str), max_size=4), trusted=st.integers(0, 3)
)
def test_client_key_is_the_connection_or_a_proxy_entry(host, chain, trusted):
    key = client_key(host, {"x-forwarded-for": ", ".join(chain)}, trusted)
    if trusted == 0 or not chain:
        assert key == host
    else:
        assert key == chain[-min(trusted, len(chain))]


@FAST
@given(
    pairs=st.lists(
        st.tuples(
            st.text(alphabet=st.characters(blacklist_characters=":,", blacklist_categories=["Cs"]), min_size=1)
            .map(str.strip)
            .filter(bool),
            st.text(alphabet=st.characters(blacklist_characters=",", blacklist_categories=["Cs"]), min_size=1),
        ),
        max_size=4,
        unique_by=lambda p: p[0],
    )
)
def test_parse_auth_round_trip(pairs):
    assume(all(not password.isspace() and password.strip() == password for _, password in pairs))
    assert parse_auth(",".join(f"{user}:{password}" for user, password in pairs)) == pairs


segments = st.lists(st.sampled_from(["..", ".", ".hidden", "ok", "a b", "cat.jpg", "", "%2e%2e"]), max_size=6)


@FAST
@given(parts=segments)
def test_only_files_inside_the_roots_and_not_hidden_are_allowed(tmp_path_factory, parts):
    root = tmp_path_factory.getbasetemp() / "root"
    root.mkdir(exist_ok=True)
    target = str(root / Path(*parts)) if parts else str(root)
    if file_refusal(target, [root]) is None:
        real = Path(os.path.realpath(target))
        assert real == root.resolve() or root.resolve() in real.parents
        assert not any(part.startswith(".") for part in real.relative_to(root.resolve()).parts)
        assert ".." not in parts
