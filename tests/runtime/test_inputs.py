"""Input checks: odd images are converted, bad ones refused with a message that says why."""

import numpy as np
import pytest
from PIL import Image

from runtime import settings
from runtime.inputs import check_number, check_seed, check_text, load_image, parse_labels
from runtime.messages import InputError


def save(image: Image.Image, path, **kwargs) -> str:
    image.save(path, **kwargs)
    return str(path)


def write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGBA", (30, 20), (255, 0, 0, 0)),
        Image.new("LA", (30, 20)),
        Image.new("L", (30, 20), 7),
        Image.new("1", (30, 20)),
        Image.new("P", (30, 20)),
        Image.new("CMYK", (30, 20)),
        Image.new("I;16", (30, 20), 4000),
        Image.new("F", (30, 20), 0.5),
    ],
    ids=lambda im: im.mode,
)
def test_every_mode_becomes_rgb_of_the_same_size(image):
    out = load_image(image)
    assert out.mode == "RGB" and out.size == (30, 20)


def test_transparency_is_flattened_onto_white():
    assert load_image(Image.new("RGBA", (4, 4), (255, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_images_are_stretched_not_clipped():
    array = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    out = np.asarray(load_image(Image.fromarray(array)))
    assert out.min() == 0 and out.max() == 255


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = save(image, tmp_path / "rotated.jpg", exif=exif)
    assert load_image(path).size == (20, 40)


def test_large_images_are_downscaled(monkeypatch):
    monkeypatch.setattr(settings, "MAX_IMAGE_SIDE", 100)
    assert load_image(Image.new("RGB", (400, 200))).size == (100, 50)


def test_arrays_of_any_range_are_accepted():
    assert load_image(np.zeros((8, 9, 3), np.uint8)).size == (9, 8)
    assert load_image(np.ones((8, 9), np.float32)).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ValueError, match="shape"):
        load_image(np.zeros((8, 9, 2), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        load_image(np.full((4, 4), np.nan))


@pytest.mark.parametrize(
    ("array", "code", "chinese"),
    [
        (np.zeros((8, 9, 2), np.uint8), "array_shape", "数组的形状必须是 HxW、HxWx3 或 HxWx4，而不是 (8, 9, 2)。"),
        (np.array([["a", "b"]]), "array_dtype", "数组里必须是数字，而不是 <U1。"),
        (np.full((4, 4), np.nan), "array_not_finite", "数组含有 NaN 或无穷大的值。"),
    ],
)
def test_a_bad_array_is_refused_with_a_code_in_both_languages(array, code, chinese):
    from ui.messages import translate

    with pytest.raises(InputError) as refused:
        load_image(array)
    assert refused.value.code == code and str(refused.value).startswith("The image array")
    assert translate(refused.value, "zh-CN").endswith(chinese)


def test_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in ("red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert load_image(str(path)).getpixel((0, 0)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "No image given"),
        (lambda d: str(d / "missing.png"), "does not exist"),
        (lambda d: write(d / "empty.png", b""), "empty"),
        (lambda d: write(d / "notes.png", b"hello"), "not an image"),
        (lambda d: save(Image.new("RGB", (20, 20)), d / "x.tiff"), "TIFF"),
        (lambda d: save(Image.new("1", (9000, 9000)), d / "bomb.png"), "limit is"),
        (lambda d: save(Image.new("RGB", (2100, 10)), d / "strip.png"), "aspect ratio"),
        (lambda d: 42, "must be an image"),
    ],
    ids=["none", "missing", "empty", "text", "tiff", "bomb", "strip", "int"],
)
def test_bad_images_are_refused_with_a_reason(tmp_path, make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        load_image(make(tmp_path))


def test_truncated_files_are_refused(tmp_path):
    path = tmp_path / "cut.png"
    Image.effect_noise((200, 200), 50).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_image(str(path))


def test_text_is_cleaned_and_bounded():
    assert check_text("  what\tis\x00 this?\n", "question") == "what is this?"
    assert check_text("猫在做什么？👩‍🚀", "question") == "猫在做什么？👩‍🚀"  # the ZWJ emoji survives
    with pytest.raises(ValueError, match="empty"):
        check_text(" \n\t ", "question")
    with pytest.raises(ValueError, match="limit is 5"):
        check_text("abcdefgh", "question", max_chars=5)
    with pytest.raises(TypeError, match="must be a string"):
        check_text(3, "question")


def test_numbers_are_checked_against_their_range():
    assert check_number("num_beams", 3.0, 1, 8) == 3
    for bad, error in [
        (0, ValueError),
        (9, ValueError),
        (2.5, ValueError),
        (float("nan"), ValueError),
        ("3", TypeError),
        (True, TypeError),
    ]:
        with pytest.raises(error):
            check_number("num_beams", bad, 1, 8)


def test_seeds():
    assert check_seed(7) == 7
    assert 0 <= check_seed(-1) < 2**32 and 0 <= check_seed(None) < 2**32
    with pytest.raises(ValueError):
        check_seed(2**32)


def test_labels():
    assert parse_labels(" cat, dog ,cat,, bird ") == ["cat", "dog", "bird"]
    assert parse_labels(["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="at least two"):
        parse_labels("cat")
