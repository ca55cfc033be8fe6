"""The folder of returned files (ui/server/outputs.py): fresh names, and pruned as it goes."""

import os
import time

from ui.server import outputs


def test_new_files_and_folders_are_fresh_and_sorted_by_time(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.settings, "OUTPUT_DIR", tmp_path)
    files = [outputs.new_file("speech", ".wav") for _ in range(3)]
    folder = outputs.new_folder("timeline")
    assert len(set(files)) == 3 and files == sorted(files)
    assert all(f.parent == tmp_path / "speech" and f.suffix == ".wav" and not f.exists() for f in files)
    assert folder.is_dir() and folder.parent == tmp_path / "timeline" and not any(folder.iterdir())


def test_old_entries_and_entries_beyond_the_newest_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.settings, "OUTPUT_DIR", tmp_path)
    monkeypatch.setattr(outputs, "KEEP_ENTRIES", 3)
    made = []
    for _ in range(5):
        made.append(outputs.new_file("speech", ".wav"))
        made[-1].write_bytes(b"RIFF")
    outputs.new_file("speech", ".wav")  # each new name prunes its kind
    assert sorted(p.name for p in (tmp_path / "speech").iterdir()) == [p.name for p in made[-3:]]
    old = time.time() - outputs.KEEP_SECONDS - 60
    os.utime(made[-1], (old, old))
    outputs.new_folder("speech")
    assert not made[-1].exists() and made[-2].exists()


def test_a_stable_folder_is_never_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs.settings, "OUTPUT_DIR", tmp_path)
    monkeypatch.setattr(outputs, "KEEP_ENTRIES", 1)
    folder = outputs.stable_folder("probes-v1")
    (folder / "a.png").write_bytes(b"png")
    for _ in range(3):
        outputs.new_folder("evaluation")
    assert outputs.stable_folder("probes-v1") == folder and (folder / "a.png").exists()
