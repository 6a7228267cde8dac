"""No lost work, no tracebacks for mistakes, no silent surprises (issue 15): the run side."""

import errno
import json
import os
import random
import time
from pathlib import Path

import pytest
import torch

from g2c.app import output as output_module
from g2c.cli import main
from g2c.training import InitialLossError, Trainer, TrainingConfig
from g2c.training import checkpoint as checkpoint_module
from g2c.transformer import TransformerLM

WORDS = "love night day sweet fair death heaven light moon stars thou art my dear".split()


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    rng = random.Random(2)
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text("\n".join(f"{rng.choice(['ROMEO', 'JULIET'])}:\n" +
                              " ".join(rng.choices(WORDS, k=7)) for _ in range(250)),
                    encoding="utf-8")
    return path


def pretrain(play, out, *extra):
    return main(["pretrain", "--corpus", str(play), "--data-dir", str(out.parent / "data"),
                 "--out", str(out), "--batch-size", "4", "--context-length", "32",
                 "--layers", "1", "--width", "32", "--heads", "2", "--eval-interval", "2",
                 "--no-tensorboard", "--quiet", *extra])


@pytest.mark.parametrize("where", ["inside-a-file", "sysfs"])
def test_an_unwritable_output_fails_before_any_work(play, tmp_path, capsys, where):
    if where == "inside-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run"
    else:
        out = Path("/sys/g2c-test-run")  # sysfs: nobody, not even root, creates files there
    assert main(["pretrain", "--corpus", str(play), "--data-dir", str(tmp_path / "data"),
                 "--out", str(out), "--max-steps", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the run's output to {out}" in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()  # nothing was tokenized


def test_too_little_free_space_is_refused_before_training(play, tmp_path, capsys, monkeypatch):
    real = output_module.shutil.disk_usage
    monkeypatch.setattr(output_module.shutil, "disk_usage",
                        lambda path: real(path)._replace(free=1000))
    assert pretrain(play, tmp_path / "run", "--max-steps", "2") == 2
    assert "MiB free but a checkpoint and the artifact need" in capsys.readouterr().err


def test_a_full_disk_mid_run_keeps_the_last_good_checkpoint(play, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    real, writes = checkpoint_module.atomic_write_bytes, []

    def second_write_fails(path, data):
        writes.append(path)
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(checkpoint_module, "atomic_write_bytes", second_write_fails)
    assert pretrain(play, out, "--max-steps", "6", "--checkpoint-interval", "2") == 2
    err = capsys.readouterr().err
    assert "could not write the checkpoint" in err and "No space left on device" in err
    assert "the last good checkpoint (step 2) is kept there" in err and "Traceback" not in err
    assert checkpoint_module.load_checkpoint(out / "checkpoint.pt")["step"] == 2


def test_overwrite_replaces_a_broken_run_folder_without_reading_it(play, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text("{'not': json")
    assert pretrain(play, out, "--max-steps", "2") == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "--overwrite" in err
    assert pretrain(play, out, "--max-steps", "2", "--overwrite") == 0
    assert json.loads((out / "manifest.json").read_text())["steps"] == 2


def test_a_finished_run_is_not_trained_again_without_overwrite(play, tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-time", "2") == 0
    before = (out / "weights.safetensors").read_bytes()
    capsys.readouterr()
    assert pretrain(play, out, "--max-time", "2") == 0
    assert "already holds this run, finished; nothing to train" in capsys.readouterr().err
    assert (out / "weights.safetensors").read_bytes() == before


def test_the_artifact_is_replaced_whole_or_not_at_all(play, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-steps", "2") == 0
    old = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    from g2c.app import pretrain as pretrain_module

    def fail_after_the_weights(*args, **kwargs):  # a crash between two artifact files
        raise RuntimeError("killed while writing the artifact")

    monkeypatch.setattr(pretrain_module, "_samples", fail_after_the_weights)
    with pytest.raises(RuntimeError, match="killed while writing"):
        pretrain(play, out, "--max-steps", "3", "--overwrite")
    now = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for name in ("weights.safetensors", "config.json", "manifest.json", "samples.txt"):
        assert now[name] == old[name], name  # the old artifact, untouched
    assert checkpoint_module.load_checkpoint(out / "checkpoint.pt")["step"] == 3  # kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]  # no temporary left


def test_an_unchanged_corpus_touched_between_runs_still_resumes(play, tmp_path, capsys):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-steps", "4") == 0
    (out / "manifest.json").unlink()  # as after Ctrl-C: the checkpoint is there
    os.utime(play, (time.time() + 10, time.time() + 10))  # touched, not changed
    assert pretrain(play, out, "--max-steps", "4", "--resume") == 0, capsys.readouterr().err


def test_a_step_0_loss_far_above_log_vocab_stops_the_run():
    torch.manual_seed(0)
    model = TransformerLM(24, 32, 1, 2, 16)
    with torch.no_grad():
        model.output_bias[3] = 40.0  # every prediction is token 3, confidently
    ids = torch.randint(0, 24, (3000,))
    config = TrainingConfig(batch_size=4, context_length=16, max_steps=2, device="cpu")
    with pytest.raises(InitialLossError, match=r"far from log\(V\).*--ignore-initial"):
        Trainer(model, ids[:2500], ids[2500:], config, quiet=True).fit()
    override = TrainingConfig(batch_size=4, context_length=16, max_steps=2, device="cpu",
                              ignore_initial_loss_check=True)
    result = Trainer(model, ids[:2500], ids[2500:], override, quiet=True).fit()
    assert result.initial_check["verdict"] == "too_high" and result.steps == 2


def test_a_bug_keeps_its_traceback_and_ctrl_c_is_one_line(monkeypatch, capsys):
    from g2c.commands import sample

    def buggy(args):
        raise TypeError("a bug in g2c")

    monkeypatch.setattr(sample, "run", buggy)
    with pytest.raises(TypeError, match="a bug in g2c"):
        main(["sample", "x"])

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sample, "run", interrupted)
    assert main(["sample", "x"]) == 130
    assert capsys.readouterr().err.strip() == "g2c sample: interrupted"


def test_pretrain_trains_on_a_directory_that_prepare_wrote(play, tmp_path, capsys):
    prepared = tmp_path / "prepared"
    assert main(["prepare", "--corpus", str(play), "--tokenizer", "bpe", "--vocab-size", "300",
                 "--out", str(prepared), "--quiet"]) == 0
    out = tmp_path / "run"
    assert main(["pretrain", "--corpus", str(prepared), "--out", str(out), "--max-steps", "2",
                 "--batch-size", "4", "--context-length", "32", "--quiet"]) == 0
    assert json.loads((out / "manifest.json").read_text())["corpus"]["tokenizer"]["kind"] == "bpe"
    capsys.readouterr()
    assert main(["pretrain", "--corpus", str(prepared), "--tokenizer", "char", "--out",
                 str(tmp_path / "other"), "--max-steps", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bpe" in err and "'char'" in err and "Traceback" not in err


@pytest.mark.parametrize("damage", ["truncated", "another model"])
def test_sample_refuses_damaged_weights_in_one_line(play, tmp_path, capsys, damage):
    out = tmp_path / "run"
    assert pretrain(play, out, "--max-steps", "1") == 0
    weights = out / "weights.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    else:
        config = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**config, "embedding_dim": 64}))
    capsys.readouterr()
    assert main(["sample", str(out), "--max-new-tokens", "3"]) == 2
    err = capsys.readouterr().err
    assert "weights.safetensors does not hold this model's weights" in err
    assert "Traceback" not in err


def test_a_zero_time_budget_is_refused_not_replaced(play, tmp_path, capsys):
    assert pretrain(play, tmp_path / "run", "--max-steps", "3", "--max-time", "0") == 2
    assert "max_time must be > 0" in capsys.readouterr().err
