"""Disk through repeated references and conflicting members (issue 23, items 2 and 11):
inputs are deduplicated, one budget bounds a request's bytes unpacked and images decoded,
one allowance bounds a visitor over time (under 8 concurrent clients too), and every
member that can't be added is skipped with its reason while every distinct image is kept."""

import io
import threading
import zipfile

import pytest
from PIL import Image

from search.collections import Collections
from search.uploads import UploadBudget, distinct, extract_zip, store_images
from ui.server.limits import Allowance


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def hostile_zip(path):
    """Members that abort a naive unpacker: a file and a folder of the same name (both
    orders), a name over 255 bytes, 2,000 nested folders, two members with one name, a
    hidden file."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a", png("red"))
        archive.writestr("a/b.png", png("blue"))
        archive.writestr("c/d.png", png("green"))
        archive.writestr("c", png("yellow"))
        archive.writestr("x" * 300 + ".png", png("white"))
        archive.writestr("/".join(["deep"] * 2000) + "/e.png", png("black"))
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("same.png", png("purple"))
            archive.writestr("same.png", png("orange"))
        archive.writestr("photos/.hidden.png", png("pink"))
    return path


def test_conflicting_members_are_each_kept_or_reported(tmp_path):
    written, skipped = extract_zip(hostile_zip(tmp_path / "hostile.zip"), tmp_path / "out")
    assert len(written) == 8 and skipped == [("photos/.hidden.png", "a hidden file")]
    stored, refused = store_images(written, tmp_path / "store")
    assert len(set(stored)) == 8 and refused == []  # eight distinct colours, eight images
    long_name = next(name for name, why in store_images([("x" * 300 + ".txt", tmp_path / "none")], tmp_path)[1])
    assert len(long_name) <= 120  # a report line stays readable


def test_the_same_file_given_five_times_counts_once(tmp_path):
    archive = tmp_path / "one.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.png", png("red"))
    copy = tmp_path / "copy.zip"
    copy.write_bytes(archive.read_bytes())  # the same bytes uploaded twice
    assert distinct([archive] * 5 + [str(archive), copy]) == [archive]


def test_one_budget_per_request_over_all_its_zips(tmp_path):
    budget = UploadBudget(max_bytes=25_000, max_images=100)
    zips = []
    for i in range(3):
        zips.append(tmp_path / f"{i}.zip")
        with zipfile.ZipFile(zips[-1], "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("zeros.bin", bytes(10_000 + i))
    extract_zip(zips[0], tmp_path / "0", budget=budget)
    extract_zip(zips[1], tmp_path / "1", budget=budget)
    with pytest.raises(ValueError, match="this request may unpack 4,999 more"):
        extract_zip(zips[2], tmp_path / "2", budget=budget)
    assert budget.bytes_used == 20_001 and not (tmp_path / "2").exists()


def test_images_over_the_request_budget_are_skipped_and_reported(tmp_path):
    files = []
    for i, colour in enumerate(("red", "green", "blue")):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(png(colour))
    stored, skipped = store_images(files, tmp_path / "store", UploadBudget(10**9, 2))
    assert len(stored) == 2 and skipped == [("2.png", "over the 2 images this request may add")]


def test_a_visitors_allowance_holds_under_8_concurrent_clients():
    allowance = Allowance(1000, 3600)
    granted = []

    def client():
        for _ in range(10):
            amount, settle = allowance.take("visitor", 60)
            granted.append(amount)
            settle(amount)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 1000 and allowance.left("visitor") == 0
    assert allowance.take("someone else", 60)[0] == 60


def test_unused_allowance_is_given_back():
    now = [0.0]
    allowance = Allowance(100, 60, clock=lambda: now[0])
    amount, settle = allowance.take("v", 80)
    settle(10)
    assert amount == 80 and allowance.left("v") == 90
    now[0] = 61
    assert allowance.left("v") == 100


def test_adding_reports_names_not_server_paths(models, tmp_path):
    collections = Collections(data_dir=tmp_path / "data", gallery_mode="shared", library="")
    archive = hostile_zip(tmp_path / "hostile.zip")
    loaded = models.get("retrieval")
    added = collections.add([str(archive)] * 5, loaded.pipeline, loaded.checkpoint.key, None)
    assert added.added == 8 and added.skipped == [("hostile.zip/photos/.hidden.png", "a hidden file")]
    assert not list((tmp_path / "data").glob("unzip-*"))  # the unpacked members are gone
