"""``g2c evaluate`` and ``g2c compare``: bits per byte on any corpus, the models x corpora matrix."""

import json
import random

import matplotlib.image
import pytest

from g2c.app.compare import compare_figure, compare_runs
from g2c.app.evaluate import evaluate_artifact, evaluation_documents
from g2c.cli import main

PLAY = "love night day sweet fair death heaven light moon stars thou art my dear".split()
STORY = "once upon a time there was little girl named lily she liked to play".split()


def write_corpus(path, words, seed, lines=400):
    rng = random.Random(seed)
    path.write_text("\n".join(" ".join(rng.choices(words, k=8)) for _ in range(lines)) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three short runs: a char model on plays, a BPE model on plays, a char model on stories."""
    root = tmp_path_factory.mktemp("compare")
    play, story = write_corpus(root / "play.txt", PLAY, 0), write_corpus(root / "story.txt",
                                                                         STORY, 1)
    common = ["--data-dir", str(root / "data"), "--batch-size", "8", "--context-length", "32",
              "--layers", "1", "--width", "48", "--heads", "2", "--max-steps", "40",
              "--eval-interval", "20", "--learning-rate", "0.01", "--quiet"]
    made = {}
    for name, corpus, extra in (("play-char", play, []), ("play-bpe", play,
                                 ["--tokenizer", "bpe", "--vocab-size", "300"]),
                                ("story-char", story, [])):
        made[name] = root / name
        assert main(["pretrain", "--corpus", str(corpus), "--out", str(made[name]), *common,
                     *extra]) == 0
    return root, play, story, made


def test_char_and_bpe_models_are_scored_on_the_same_bytes(runs):
    _, play, _, made = runs
    char, = evaluate_artifact(made["play-char"], [str(play)])
    bpe, = evaluate_artifact(made["play-bpe"], [str(play)])
    text_bytes = sum(len(d.encode("utf-8")) for d in evaluation_documents(str(play)))
    assert char.bytes == bpe.bytes == text_bytes  # the same validation text, byte for byte
    assert bpe.tokens < char.tokens  # BPE tokens span several characters ...
    assert bpe.loss > char.loss  # ... so nats per token are not comparable; bits per byte are
    for score in (char, bpe):
        assert score.bits_per_byte == pytest.approx(
            score.loss * score.tokens / 0.6931471805599453 / score.bytes)
        assert score.perplexity == pytest.approx(2.718281828459045 ** score.loss)


def test_each_model_is_best_on_its_own_corpus_and_unknown_text_is_reported(runs, capsys):
    _, play, story, made = runs
    assert main(["evaluate", str(made["story-char"]), "--corpus", str(play), "--corpus",
                 str(story), "--all", "--json"]) == 0
    on_play, on_story = json.loads(capsys.readouterr().out)
    assert on_story["bits_per_byte"] < on_play["bits_per_byte"]
    assert on_play["split"] == "all" and on_story["characters_left_out"] == 0
    # The play's letters the story alphabet lacks (v, k, ...) are counted, not silently lost.
    assert on_play["characters_left_out"] > 0 and "v" in on_play["unknown_characters"]
    play_model, = evaluate_artifact(made["play-char"], [str(play)], whole=True)
    assert play_model.bits_per_byte < on_play["bits_per_byte"]


def test_evaluate_defaults_to_the_models_own_corpus_and_prints_a_table(runs, capsys):
    _, play, _, made = runs
    assert main(["evaluate", str(made["play-char"])]) == 0
    table = capsys.readouterr().out
    assert "bits/byte" in table and "validation" in table and play.name in table


def test_compare_draws_one_curve_per_run_and_the_matrix(runs, tmp_path, capsys):
    _, play, story, made = runs
    artifacts = [made["play-char"], made["story-char"]]
    comparison = compare_runs(artifacts, corpora=[str(play), str(story)], whole=True)
    assert comparison.matrix.shape == (2, 2)
    # Rows: models, columns: corpora; each model is best on the corpus it was trained on.
    assert comparison.matrix[0, 0] < comparison.matrix[1, 0]
    assert comparison.matrix[1, 1] < comparison.matrix[0, 1]
    figure = compare_figure(comparison)
    by_tokens, by_seconds, heat = figure.axes[:3]
    assert len(by_tokens.get_lines()) == len(by_seconds.get_lines()) == 2
    # Every evaluation of each run: before step 1, at step 20 and at the end (40).
    assert [len(line.get_xdata()) for line in by_tokens.get_lines()] == [3, 3]
    assert heat.get_images()[0].get_array().shape == (2, 2)
    out = tmp_path / "compare.png"
    assert main(["compare", *map(str, artifacts), "--corpus", str(play), "--out", str(out)]) == 0
    assert "bits per byte" in capsys.readouterr().out
    assert matplotlib.image.imread(out).shape[2] in (3, 4)  # a readable PNG


def test_bad_input_is_one_clear_line(runs, tmp_path, capsys):
    _, _, _, made = runs
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "no model artifact" in capsys.readouterr().err
    assert main(["evaluate", str(made["play-char"]), "--corpus", str(tmp_path / "x.txt")]) == 2
    assert "is not a built-in name" in capsys.readouterr().err
    assert main(["compare", str(made["play-char"]), str(made["play-char"])]) == 2
    assert "share a folder name" in capsys.readouterr().err
