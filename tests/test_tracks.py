"""Tracks: named presets with their corpus, tokenizer, model size and schedule."""

from dataclasses import replace

import pytest

from g2c.cli import build_parser
from g2c.app.pretrain import artifact_name
from g2c.app.tracks import DEFAULT_TRACK, TRACKS, get_track, size_label
from g2c.commands.pretrain import track_from_arguments


def test_the_three_tracks_exist_with_their_tokenizers():
    assert list(TRACKS) == ["ShakespeareLM", "StoryLM", "TinyLLM"]
    assert DEFAULT_TRACK == "ShakespeareLM"
    shakespeare = get_track("ShakespeareLM")
    assert shakespeare.tokenizer == "char" and shakespeare.corpus == "shakespeare"  # offline
    assert get_track("StoryLM").tokenizer == get_track("TinyLLM").tokenizer == "bpe"
    assert "," in get_track("TinyLLM").corpus  # a mixture


@pytest.mark.parametrize("name", list(TRACKS))
def test_every_track_builds_and_its_size_grows_with_the_track(name):
    track = get_track(name)
    vocab = 66 if track.tokenizer == "char" else track.vocab_size
    model = replace(track.model, vocab_size=vocab).build()
    count = sum(p.numel() for p in model.parameters())
    assert artifact_name(track, count) == f"{name}-{size_label(count)}"
    assert track.training.context_length <= track.model.max_seq_len


def test_track_sizes_are_ordered():
    counts = []
    for name in TRACKS:
        track = get_track(name)
        vocab = 66 if track.tokenizer == "char" else track.vocab_size
        model = replace(track.model, vocab_size=vocab).build()
        counts.append(sum(p.numel() for p in model.parameters()))
    assert counts == sorted(counts)


def test_size_labels():
    assert size_label(812_345) == "812K"
    assert size_label(1_234_567) == "1.2M"
    assert size_label(27_400_000) == "27M"
    assert size_label(1_300_000_000) == "1.3B"


def test_unknown_track_lists_the_valid_ones(capsys):
    with pytest.raises(ValueError, match="ShakespeareLM, StoryLM, TinyLLM"):
        get_track("GPT5")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pretrain", "--track", "GPT5"])
    assert "ShakespeareLM" in capsys.readouterr().err


def _args(*argv):
    return build_parser().parse_args(["pretrain", *argv])


def test_flags_override_the_preset_and_one_limit_replaces_both():
    preset = get_track("ShakespeareLM").training
    track = track_from_arguments(_args("--max-steps", "7", "--batch-size", "3"))
    assert track.training.max_steps == 7 and track.training.max_time is None
    assert track.training.batch_size == 3
    assert track.training.learning_rate == preset.learning_rate
    timed = track_from_arguments(_args("--max-time", "15"))
    assert timed.training.max_time == 15.0 and timed.training.max_steps is None
    both = track_from_arguments(_args("--max-time", "15", "--max-steps", "9"))
    assert (both.training.max_time, both.training.max_steps) == (15.0, 9)
    plain = track_from_arguments(_args())
    assert plain.training == preset


def test_corpus_override_is_part_of_the_name():
    track = track_from_arguments(_args("--corpus", "notes.txt"))
    assert artifact_name(track, 1_000_000) == "ShakespeareLM-1.0M-notes-txt"


def test_bad_flag_values_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        track_from_arguments(_args("--batch-size", "0"))
    with pytest.raises((ValueError, TypeError), match="max_time"):
        track_from_arguments(_args("--max-time", "-3"))
    assert track_from_arguments(_args("--compile")).training.compile is True
    with pytest.raises(ValueError, match=r"--batch-size: training\.batch_size = '2\.5' is not "
                                         r"allowed; expected an integer"):
        track_from_arguments(_args("--batch-size", "2.5"))
    with pytest.raises(ValueError, match=r"--precision: .*'fp8' .*auto \| fp32 \| bf16 \| fp16"):
        track_from_arguments(_args("--precision", "fp8"))
