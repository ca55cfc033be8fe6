"""Uploaded zip files are hostile: no path escapes, limits on files, bytes and pixels."""

import io
import stat
import zipfile

import pytest
from PIL import Image

from search.uploads import UploadBudget, extract_zip, store_images


def png(size=(20, 10), colour="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_plain_zip_unpacks_with_its_folders(tmp_path):
    archive = make_zip(
        tmp_path / "photos.zip",
        {
            "a.png": png(),
            "trip/b.png": png(colour="blue"),
            "notes.txt": b"hello",
            "__MACOSX/._a.png": b"junk",
            "trip/.DS_Store": b"junk",
        },
    )
    written, skipped = extract_zip(archive, tmp_path / "out")
    assert sorted(member for member, _ in written) == ["a.png", "notes.txt", "trip/b.png"]
    assert all(file.parent == tmp_path / "out" for _, file in written)  # numbered names, no folders of theirs
    # The note is left to store_images, which reports it as not an image; the junk says why it is left out.
    assert skipped == [
        ("__MACOSX/._a.png", "macOS metadata (__MACOSX), not an image"),
        ("trip/.DS_Store", "a hidden file"),
    ]


@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png"])
def test_a_path_that_escapes_the_target_refuses_the_whole_zip(tmp_path, name):
    archive = make_zip(tmp_path / "hostile.zip", {"fine.png": png(), name: png()})
    target = tmp_path / "deep" / "out"
    with pytest.raises(ValueError, match="unsafe path"):
        extract_zip(archive, target)
    assert (
        not target.exists() and not (tmp_path / "evil.png").exists() and not (tmp_path / "deep" / "evil.png").exists()
    )


def test_too_many_files_is_refused_before_anything_is_written(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"{i}.png": png() for i in range(5)})
    with pytest.raises(ValueError, match="holds 5 files; at most 4"):
        extract_zip(archive, tmp_path / "out", max_files=4)
    assert not (tmp_path / "out").exists()


def test_too_many_uncompressed_bytes_is_refused(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(2_000_000)})  # deflates to ~2 KB
    assert archive.stat().st_size < 10_000
    with pytest.raises(ValueError, match="would unpack to 2,000,000 bytes; this request may unpack 1,000,000 more"):
        extract_zip(archive, tmp_path / "out", budget=UploadBudget(1_000_000, 10))
    assert not (tmp_path / "out").exists()


def test_an_image_over_the_pixel_limit_is_skipped_without_decoding(tmp_path):
    archive = make_zip(tmp_path / "big.zip", {"huge.png": png((400, 300)), "small.png": png((10, 10))})
    written, skipped = extract_zip(archive, tmp_path / "out", max_pixels=50_000)
    assert [member for member, _ in written] == ["small.png"]
    assert skipped == [("huge.png", "400x300 = 120,000 pixels, over the limit of 50,000")]
    assert [p.name for p in (tmp_path / "out").iterdir()] == [written[0][1].name]


def test_links_are_skipped_and_a_non_zip_is_a_clear_error(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("passwd.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("ok.png", png())
    written, skipped = extract_zip(archive, tmp_path / "out")
    assert [member for member, _ in written] == ["ok.png"] and skipped[0][0] == "passwd.png"
    (tmp_path / "fake.zip").write_bytes(b"PK not really")
    with pytest.raises(ValueError, match="not a zip file"):
        extract_zip(tmp_path / "fake.zip", tmp_path / "out2")


def test_stored_copies_are_named_by_content_and_stored_once(tmp_path):
    (tmp_path / "a.png").write_bytes(png((3000, 1500)))
    (tmp_path / "b.txt").write_text("hello")
    stored, skipped = store_images([tmp_path / "a.png", tmp_path / "a.png", tmp_path / "b.txt"], tmp_path / "store")
    assert len(stored) == 2 and stored[0] == stored[1] and len(list((tmp_path / "store").iterdir())) == 1
    assert max(Image.open(stored[0]).size) == 1024 and skipped == [("b.txt", "not an image")]


def test_a_refused_archive_says_why_in_both_languages(tmp_path):
    from runtime.messages import InputError, in_each

    hostile = make_zip(tmp_path / "hostile.zip", {"../evil.png": png()})
    with pytest.raises(InputError) as unsafe:
        extract_zip(hostile, tmp_path / "out")
    bomb = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(2_000_000)})
    with pytest.raises(InputError) as too_big:
        extract_zip(bomb, tmp_path / "out", budget=UploadBudget(1_000_000, 10))
    assert in_each(unsafe.value) == {
        "en": str(unsafe.value),
        "zh-CN": "这个 zip 文件含有不安全的路径 '../evil.png'，解压时会写到它所解压的文件夹之外。整个压缩包都被拒绝了。",
    }
    assert in_each(too_big.value)["zh-CN"].startswith(
        "'bomb.zip' 解压后有 2,000,000 字节；这个请求最多还能解压 1,000,000 字节"
    )
