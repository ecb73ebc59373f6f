"""The scene model's training script, as its users run it: a rerun, or a stopped run resumed, gives the same weights.

A few steps on a few scenes stand in for the full run (41 minutes): every source of randomness and every
checkpointed state is already in play after two steps.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

SMALL_RUN = ["--scenes", "32", "--vae-steps", "3", "--vae-batch", "2", "--unet-batch", "4"]


def train(out: Path, work_dir: Path, unet_steps: int) -> None:
    command = [sys.executable, "-m", "default_models.train_scenes", "--out", str(out), "--work-dir", str(work_dir)]
    subprocess.run([*command, *SMALL_RUN, "--unet-steps", str(unet_steps)], check=True, capture_output=True)


def file_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_run_stopped_and_resumed_writes_the_same_files_as_one_straight_run(tmp_path: Path) -> None:
    train(tmp_path / "straight", tmp_path / "straight-work", unet_steps=4)
    train(tmp_path / "resumed", tmp_path / "resumed-work", unet_steps=2)
    train(tmp_path / "resumed", tmp_path / "resumed-work", unet_steps=4)

    straight = file_hashes(tmp_path / "straight")
    assert "unet/diffusion_pytorch_model.safetensors" in straight
    assert file_hashes(tmp_path / "resumed") == straight
