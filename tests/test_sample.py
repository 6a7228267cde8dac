"""Generation: temperature, top-k, seeds, stopping at <|endoftext|>; the ``g2c sample`` verb."""

import pytest
import torch

from g2c.cli import main
from g2c.tokenizer import CharTokenizer
from g2c.app.artifact import load_artifact, write_model
from g2c.transformer import ModelConfig, generate


class Scripted(torch.nn.Module):
    """A 'model' whose next-token scores are fixed: handy to test the sampler alone."""

    max_seq_len = 8

    def __init__(self, scores):
        super().__init__()
        self.scores = torch.tensor(scores, dtype=torch.float32)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.seen_lengths = []

    def forward(self, token_ids):
        self.seen_lengths.append(token_ids.shape[1])
        return self.scores.expand(token_ids.shape[0], token_ids.shape[1], -1)


def test_temperature_zero_and_top_k_one_pick_the_likeliest_token():
    model = Scripted([0.0, 1.0, 3.0, 2.0])
    assert generate(model, [0], 5, temperature=0) == [2] * 5
    draws = generate(model, [0], 50, top_k=1, generator=torch.Generator().manual_seed(0))
    assert draws == [2] * 50


def test_top_k_never_samples_outside_the_k_best():
    model = Scripted([0.0, 1.0, 3.0, 2.0, 2.5])
    draws = generate(model, [0], 300, temperature=5.0, top_k=2,
                     generator=torch.Generator().manual_seed(0))
    assert set(draws) == {2, 4}


def test_same_seed_same_text_and_stop_at_end_of_text():
    model = Scripted([1.0, 1.0, 1.0, 1.0])
    a = generate(model, [1], 40, generator=torch.Generator().manual_seed(3))
    b = generate(model, [1], 40, generator=torch.Generator().manual_seed(3))
    assert a == b
    stopped = generate(model, [1], 40, stop_id=0, generator=torch.Generator().manual_seed(3))
    assert 0 not in stopped and len(stopped) < 40
    assert stopped == a[: len(stopped)]  # the same draws, cut at the first stop id


def test_context_is_cropped_to_max_seq_len():
    model = Scripted([0.0, 1.0])
    generate(model, [1] * 5, 10, temperature=0)
    assert max(model.seen_lengths) == model.max_seq_len


def test_bad_sampling_arguments_name_themselves():
    model = Scripted([0.0, 1.0])
    with pytest.raises(ValueError, match="temperature"):
        generate(model, [0], 3, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        generate(model, [0], 3, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(model, [0], 0)
    with pytest.raises(ValueError, match="prompt_ids"):
        generate(model, [], 3)


@pytest.fixture
def artifact(tmp_path):
    tokenizer = CharTokenizer.train(["ROMEO: hello there\nJULIET: good night\n"])
    torch.manual_seed(0)
    config = ModelConfig(tokenizer.vocab_size, embedding_dim=16, num_layers=1, num_heads=2,
                         max_seq_len=32)
    model = config.build()
    return write_model(tmp_path / "Tiny-1K", model=model, config=config,
                       tokenizer=tokenizer), model


def test_artifact_round_trips_weights_and_tokenizer(artifact):
    directory, model = artifact
    loaded, tokenizer, manifest = load_artifact(directory)
    assert manifest == {}  # a model written without a training run has no manifest
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    assert tokenizer.decode(tokenizer.encode("ROMEO:")) == "ROMEO:"


def test_sample_command_continues_the_prompt_reproducibly(artifact, capsys):
    directory, _ = artifact
    args = ["sample", str(directory), "--prompt", "ROMEO:", "--max-new-tokens", "20",
            "--seed", "4"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and first.startswith("ROMEO:")


def test_sample_command_reports_bad_input(artifact, tmp_path, capsys):
    directory, _ = artifact
    assert main(["sample", str(tmp_path / "nowhere")]) == 2
    assert "no model artifact" in capsys.readouterr().err
    assert main(["sample", str(directory), "--prompt", "ROMEO: §"]) == 2
    assert "'§'" in capsys.readouterr().err  # a character the tokenizer never saw
    assert main(["sample", str(directory), "--temperature", "-2"]) == 2
    assert "temperature" in capsys.readouterr().err
