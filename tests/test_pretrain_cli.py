"""``g2c pretrain`` end to end on a tiny play: artifact files, reruns, --resume, bad input."""

import json
import random

import pytest

from g2c.cli import main
from g2c.app.artifact import load_artifact

SPEAKERS = ["ROMEO", "JULIET", "NURSE", "FRIAR"]
WORDS = "love night day sweet fair death heaven light moon stars thou art my dear".split()


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    """~25 KB of speaker-and-verse text in the TinyShakespeare layout."""
    rng = random.Random(0)
    lines = []
    for _ in range(300):
        lines.append(f"{rng.choice(SPEAKERS)}:")
        for _ in range(rng.randint(1, 3)):
            lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 8))) + ",")
        lines.append("")
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def pretrain(play, out, *extra):
    # --device cpu: these runs check the CPU path (its manifest, bit-exact resume) on any machine.
    return main(["pretrain", "--corpus", str(play), "--data-dir", str(out.parent / "data"),
                 "--out", str(out), "--batch-size", "4", "--context-length", "32",
                 "--eval-interval", "2", "--quiet", "--device", "cpu", *extra])


def test_pretrain_writes_a_usable_artifact(play, tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-steps", "4") == 0
    err = capsys.readouterr().err
    assert "step-0 loss" in err and "log(V)" in err
    for name in ("weights.safetensors", "config.json", "tokenizer.json", "manifest.json",
                 "loss.png", "samples.txt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["steps"] == 4 and manifest["tokens_seen"] == 4 * 4 * 32
    assert 0 < manifest["final_val_loss"] < manifest["initial_check"]["log_vocab"] + 0.5
    assert manifest["final_train_loss"] > 0
    assert manifest["initial_check"]["verdict"] == "ok"
    assert manifest["training"]["batch_size"] == 4 and manifest["device"] == "cpu"
    assert manifest["corpus"]["tokenizer"]["kind"] == "char"
    assert {"torch", "g2c", "python"} <= set(manifest["versions"])
    assert manifest["name"].startswith("ShakespeareLM-")
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sample 1" in (out / "samples.txt").read_text()
    model, tokenizer, _ = load_artifact(out)
    assert model.vocab_size == tokenizer.vocab_size == manifest["corpus"]["tokenizer"]["vocab_size"]
    assert main(["sample", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "10"]) == 0


def test_an_output_directory_is_never_silently_replaced(play, tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-steps", "2") == 0
    assert pretrain(play, out, "--max-steps", "2") == 0  # the same run again: fine
    capsys.readouterr()
    assert pretrain(play, out, "--max-steps", "3") == 2
    err = capsys.readouterr().err
    assert "different run" in err and "max_steps: 2 then, 3 now" in err and "--overwrite" in err
    assert pretrain(play, out, "--max-steps", "3", "--overwrite") == 0
    assert json.loads((out / "manifest.json").read_text())["steps"] == 3


def test_unfinished_run_needs_resume_and_resume_needs_the_same_run(play, tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-steps", "3") == 0
    final = json.loads((out / "manifest.json").read_text())["final_val_loss"]
    (out / "manifest.json").unlink()  # as after Ctrl-C: only the checkpoint is there
    capsys.readouterr()
    assert pretrain(play, out, "--max-steps", "3") == 2
    assert "unfinished run" in capsys.readouterr().err
    assert pretrain(play, out, "--max-steps", "3", "--resume") == 0
    assert json.loads((out / "manifest.json").read_text())["final_val_loss"] == final
    assert pretrain(play, out, "--max-steps", "3", "--learning-rate", "0.1", "--resume") == 2
    assert "learning_rate" in capsys.readouterr().err


def test_time_budget_ends_the_run(play, tmp_path):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-time", "1.5") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stopped"] == "max_time" and manifest["training"]["max_time"] == 1.5
    assert manifest["training"]["max_steps"] is None


@pytest.mark.parametrize("flags, message", [
    (["--context-length", "400"], "max_seq_len"),
    (["--batch-size", "5000"], "validation split"),
    (["--max-steps", "0"], "max_steps"),
    (["--device", "tpu"], "device"),
])
def test_bad_input_is_one_clear_line(play, tmp_path, capsys, flags, message):
    code = main(["pretrain", "--corpus", str(play), "--data-dir", str(tmp_path / "data"),
                 "--out", str(tmp_path / "run"), "--quiet", *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
