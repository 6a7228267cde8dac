"""Generation: temperature, top-k, seeds, stopping at <|endoftext|>; the ``g2c sample`` verb."""

import pytest
import torch

from g2c.app.artifact import load_artifact, write_model
from g2c.cli import main
from g2c.tokenizer import CharTokenizer
from g2c.transformer import ModelConfig, generate
from g2c.transformer.kv_cache import KVCache


class Scripted(torch.nn.Module):
    """A 'model' whose next-token scores are fixed: handy to test the sampler alone."""

    max_seq_len = 8

    def __init__(self, scores):
        super().__init__()
        self.scores = torch.tensor(scores, dtype=torch.float32)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, token_ids, kv_cache=None):
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


def tiny_lm(positions: str) -> torch.nn.Module:
    """A small model whose greedy continuation varies (a fresh init repeats one id)."""
    torch.manual_seed(0)
    model = ModelConfig(vocab_size=40, embedding_dim=32, num_layers=2, num_heads=4,
                        max_seq_len=16, positions=positions).build()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 2:  # embeddings and linear weights
                parameter.normal_(0.0, 0.3)
    return model


def recomputed_greedy(model, prompt_ids, max_new_tokens):
    """Generation without a cache: the whole cropped context, every step."""
    ids = list(prompt_ids)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            ids.append(int(model(torch.tensor([ids[-model.max_seq_len:]]))[0, -1].argmax()))
    return ids[len(prompt_ids):]


@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("prompt_length", [3, 23], ids=["short_prompt", "prompt_over_max_seq_len"])
def test_the_kv_cache_gives_the_greedy_tokens_of_recomputing(positions, prompt_length):
    # 30 new tokens run past max_seq_len = 16, where the window starts to slide.
    model = tiny_lm(positions).eval()
    prompt = torch.randint(0, 40, (prompt_length,), generator=torch.Generator().manual_seed(1))
    expected = recomputed_greedy(model, prompt.tolist(), 30)
    assert generate(model, prompt.tolist(), 30, temperature=0) == expected
    assert len(set(expected)) > 3  # a varied continuation, not one repeated id


def test_the_cache_reads_each_position_once_until_the_window_slides():
    model = tiny_lm("rotary")
    fed = []
    model.register_forward_pre_hook(lambda module, args: fed.append(args[0].shape[1]))
    generate(model, [1, 2, 3, 4, 5], 14, temperature=0)
    # The prompt, then one position per token until 16 are cached; then the window slides
    # and each token recomputes the last 16 (the context is cropped, never longer).
    assert fed == [5] + [1] * 11 + [16] * 2
    fed.clear()
    generate(model, list(range(20)), 2, temperature=0)
    assert fed == [16, 16]


@pytest.mark.parametrize("sampling", [{"temperature": 0}, {"temperature": 0.8, "top_k": 5}])
def test_one_host_read_per_emitted_token(sampling):
    from torch.overrides import TorchFunctionMode

    class HostReads(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("item", "__bool__", "__int__", "__float__",
                                                 "__index__", "tolist"):
                self.count += 1
            return func(*args, **(kwargs or {}))

    model = tiny_lm("learned")
    with HostReads() as reads:
        emitted = generate(model, [1, 2, 3], 20, generator=torch.Generator().manual_seed(0),
                           **sampling)
    assert len(emitted) == 20 and reads.count == 20


def test_a_kv_cache_is_fed_the_prompt_then_one_token_at_a_time():
    model = tiny_lm("learned").eval()
    cache = KVCache(model.max_seq_len)
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3]]), kv_cache=cache)
        assert cache.length == 3
        with pytest.raises(ValueError, match="one new position per call"):
            model(torch.tensor([[4, 5]]), kv_cache=cache)
        with pytest.raises(ValueError, match="max_seq_len is 16"):
            model(torch.ones(1, 14, dtype=torch.long), kv_cache=cache)
        with pytest.raises(ValueError, match="document_ids"):
            model(torch.tensor([[4]]), kv_cache=cache, document_ids=torch.zeros(1, 1).long())


def test_a_seed_draws_what_torch_multinomial_draws():
    scores = torch.tensor([0.5, 1.0, 3.0, 2.0, 2.5])
    model = Scripted(scores.tolist())
    generator = torch.Generator().manual_seed(7)
    expected = [int(torch.multinomial(torch.softmax(scores / 1.5, dim=-1), 1,
                                      generator=generator)) for _ in range(50)]
    drawn = generate(model, [0], 50, temperature=1.5, generator=torch.Generator().manual_seed(7))
    assert drawn == expected and len(set(drawn)) > 2


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
