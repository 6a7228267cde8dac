"""Recipes: track < run.toml < flags, every config field a key and a flag, clear file errors,
a run repeated from its artifact's run.toml, metrics.jsonl and TensorBoard."""

import json
import math
from dataclasses import fields

import pytest

from g2c.app.metrics import read_metrics
from g2c.app.recipe import field_docs, merge, read_recipe, recipe_toml, resolve_track
from g2c.app.tracks import TRACKS, get_track
from g2c.cli import build_parser, main
from g2c.commands.pretrain import track_from_arguments
from g2c.training import TrainingConfig
from g2c.transformer import ModelConfig



def args(*argv):
    return build_parser().parse_args(["pretrain", *argv])


@pytest.mark.parametrize("name", list(TRACKS))
def test_a_resolved_recipe_reads_back_as_the_same_track(name, tmp_path):
    track = get_track(name)
    path = tmp_path / "run.toml"
    path.write_text(recipe_toml(track), encoding="utf-8")
    assert resolve_track(read_recipe(path)) == track


def test_every_config_field_is_a_documented_key_and_a_flag():
    help_text = build_parser()._subparsers._group_actions[0].choices["pretrain"].format_help()
    for cls, skip in ((TrainingConfig, set()), (ModelConfig, {"vocab_size"})):
        docs = field_docs(cls)
        for field in fields(cls):
            if field.name in skip:
                continue
            assert docs.get(field.name), f"{cls.__name__}.{field.name} has no description"
    for flag in ("--layers", "--width", "--heads", "--mlp-hidden", "--tokenizer", "--vocab-size",
                 "--batch-size", "--z-loss", "--cpu-tuning", "--no-cpu-tuning", "--positions"):
        assert flag in help_text, flag


def test_the_file_overrides_the_track_and_flags_override_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('track = "StoryLM"\n[model]\nnum_layers = 3\nembedding_dim = 64\n'
                    '[training]\nbatch_size = 5\nmax_steps = 40\n', encoding="utf-8")
    track = track_from_arguments(args("--config", str(path), "--layers", "2", "--heads", "2"))
    story = get_track("StoryLM")
    assert track.name == "StoryLM" and track.tokenizer == "bpe"  # from the track
    assert track.model.embedding_dim == 64 and track.training.batch_size == 5  # from the file
    assert track.model.num_layers == 2 and track.model.num_heads == 2  # from the flags
    assert track.training.learning_rate == story.training.learning_rate
    # A layer that sets one run limit replaces both: the flag's 30 s, no step limit.
    timed = track_from_arguments(args("--config", str(path), "--max-time", "30"))
    assert (timed.training.max_steps, timed.training.max_time) == (None, 30.0)
    assert merge({"training": {"max_steps": 5}}, {"training": {"seed": 3}})["training"] == \
        {"max_steps": 5, "max_time": None, "seed": 3}


@pytest.mark.parametrize("text, message", [
    ("[training]\nbatch_sise = 4\n", r"run\.toml, line 2: unknown key 'batch_sise' in "
                                     r"\[training\]; allowed: .*batch_size"),
    ("[model]\nnum_layers = 2\nnorm = 'batch'\n", r"line 3: model\.norm = 'batch' is not "
                                                   r"allowed; expected layer \| rms"),
    ("\n[training]\nmax_steps = 2.5\n", r"line 3: training\.max_steps = 2\.5 .*expected an "
                                        r"integer or 'none'"),
    ("[optimizer]\nlr = 1\n", r"line 1: unknown section \[optimizer\]; sections are "
                              r"\[model\], \[training\]"),
    ("[training]\ncompile = 1\n", r"line 2: training\.compile = 1 .*expected true or false"),
    ("track = 'GPT5'\n", r"unknown track 'GPT5'"),
    ("batch_size = [\n", r"not a valid TOML recipe"),
])
def test_a_bad_recipe_file_names_the_key_the_line_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        resolve_track(read_recipe(path))


def test_vocab_size_on_a_char_tokenizer_is_refused():
    with pytest.raises(ValueError, match=r"vocab_size=1000 only applies to a BPE tokenizer"):
        track_from_arguments(args("--vocab-size", "1000"))
    bpe = track_from_arguments(args("--tokenizer", "bpe", "--vocab-size", "1000"))
    assert (bpe.tokenizer, bpe.vocab_size) == ("bpe", 1000)
    with pytest.raises(ValueError, match="tokenizer must be 'char', 'bpe' or an existing"):
        track_from_arguments(args("--tokenizer", "wordpiece"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, write_play):
    root = tmp_path_factory.mktemp("recipe")
    write_play(root / "play.txt", seed=1)
    out = root / "first"
    assert main(["pretrain", "--corpus", str(root / "play.txt"), "--data-dir", str(root / "data"),
                 "--out", str(out), "--batch-size", "4", "--context-length", "32",
                 "--layers", "1", "--width", "32", "--heads", "2", "--max-steps", "6",
                 "--eval-interval", "3", "--log-interval", "2", "--quiet",
                 "--tensorboard", "--device", "cpu"]) == 0  # bit-for-bit: CPU kernels
    return root, out


def test_a_run_repeats_bit_for_bit_from_its_run_toml(finished_run):
    root, out = finished_run
    recipe = read_recipe(out / "run.toml")
    assert recipe["model"]["num_layers"] == 1 and recipe["training"]["max_time"] is None
    again = root / "again"
    assert main(["pretrain", "--config", str(out / "run.toml"), "--data-dir", str(root / "data"),
                 "--out", str(again), "--quiet", "--no-tensorboard"]) == 0
    first, second = (json.loads((d / "manifest.json").read_text()) for d in (out, again))
    assert first["final_val_loss"] == second["final_val_loss"]
    assert first["final_train_loss"] == second["final_train_loss"]
    assert first["history"]["train"] == second["history"]["train"]
    assert not (again / "tb").exists()  # --no-tensorboard


def test_metrics_jsonl_and_tensorboard_hold_the_same_values(finished_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, out = finished_run
    records = read_metrics(out / "metrics.jsonl")
    # Validation before the first step, log steps 2, 3 (an evaluation), 4, 6, and the end.
    assert [r["step"] for r in records] == [0, 2, 3, 4, 6, 6]
    assert [r["step"] for r in records if "val_loss" in r] == [0, 3, 6]
    assert "final_train_loss" in records[-1]
    assert records[0]["val_loss"] == pytest.approx(math.log(
        json.loads((out / "manifest.json").read_text())["corpus"]["tokenizer"]["vocab_size"]),
        rel=0.1)
    for key in ("tokens", "seconds", "train_loss", "lr", "grad_norm", "tokens_per_second"):
        assert all(key in r for r in records[1:-1]), key
    assert records[-1]["val_bpb"] > 0
    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    for tag, key in (("train/loss", "train_loss"), ("val/bpb", "val_bpb"), ("train/lr", "lr")):
        logged = [(r["step"], r[key]) for r in records if r.get(key) is not None]
        read = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in read] == [s for s, _ in logged], tag
        assert [v for _, v in read] == pytest.approx([v for _, v in logged], rel=1e-6), tag


def test_the_manifest_reports_bits_per_byte_next_to_the_loss(finished_run):
    _, out = finished_run
    manifest = json.loads((out / "manifest.json").read_text())
    # A character model: one token is one byte of this ASCII play, except <|endoftext|>
    # (0 bytes), so bits per byte is the loss in bits per token, a hair higher.
    assert manifest["final_val_bpb"] == pytest.approx(
        manifest["final_val_loss"] / math.log(2), rel=0.02)
    # (equal when no <|endoftext|> falls in the scored windows: allow the last bit's rounding)
    assert manifest["final_val_bpb"] >= manifest["final_val_loss"] / math.log(2) - 1e-12
