"""The GPU check (benchmarks/gpu_check.py) on a CPU: its architectures have the real sizes,
its code runs end to end on tiny configs, and the script parses. Its numbers need a GPU."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check

ROOT = Path(__file__).resolve().parents[2]


def _millions(module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def test_the_architectures_are_the_gpu_profiles_at_their_real_sizes():
    from accelerate import init_empty_weights

    with init_empty_weights():  # shapes only: the weights are not allocated
        caption, _ = gpu_check.blip(vqa=False, smoke=False)
        sdxl = gpu_check.sdxl_turbo(smoke=False)
        siglip, _ = gpu_check.siglip(smoke=False)
    assert 440 < _millions(caption) < 500  # BLIP large: ViT-L/16 and BERT-base, 470 M
    assert caption.config.vision_config.image_size == 384
    assert 2550 < _millions(sdxl.unet) < 2600  # SDXL's UNet, 2.57 B
    assert 690 < _millions(sdxl.text_encoder_2) < 700  # OpenCLIP bigG's text tower
    assert 420 < _millions(siglip.vision_model) < 435  # SigLIP so400m/14


def test_the_smoke_run_writes_json_lines_and_a_table(tmp_path, capsys):
    assert gpu_check.main(["--smoke", "--only", "vqa,embed_images", "--out", str(tmp_path / "check")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "check.jsonl").read_text().splitlines()]
    assert [row["name"] for row in rows] == ["vqa", "embed_images"]
    assert all(row["ours"] > 0 and row["baseline"] > 0 and row["ratio"] > 0 for row in rows)
    assert "greedy tokens agree" in rows[0]["fidelity"] and "cosine to float32" in rows[1]["fidelity"]
    assert "| embed_images |" in (tmp_path / "check.md").read_text()


def test_without_a_gpu_it_says_so_and_the_dry_run_lists_the_plan(capsys):
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="No CUDA GPU here"):
            gpu_check.main([])
    assert gpu_check.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert all(out.count(f"{name}:") == 1 for name in gpu_check.WORKLOADS)


def test_the_script_parses():
    assert subprocess.run([shutil.which("bash"), "-n", str(ROOT / "benchmarks" / "gpu_check.sh")]).returncode == 0
