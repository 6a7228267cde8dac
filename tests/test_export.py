"""``g2c export``: artifacts as stock transformers models with g2c's logits, tokens and ids.

Everything runs offline on tiny models written with ``write_model``: the
ShakespeareLM track's own ModelConfig (StableLM), RMSNorm with biases (Llama)
and the course's GPT-2 defaults. Weights are perturbed away from their
initialisation (norm gains and shifts included) so that a swapped or
mis-split tensor cannot hide behind ones and zeros.
"""

import json
import subprocess
import sys
from dataclasses import replace
from itertools import islice

import pytest
import torch

from g2c.app.artifact import write_model
from g2c.app.export import export_artifact, export_target
from g2c.app.hf_tokenizer import transformers_tokenizer
from g2c.app.tracks import get_track
from g2c.cli import main
from g2c.corpora.chat import encode_documents, render_chat
from g2c.corpora.shakespeare import shakespeare_documents
from g2c.tokenizer import EOT, SPECIAL_TOKENS, CharTokenizer, G2CTokenizer
from g2c.transformer import ModelConfig

transformers = pytest.importorskip("transformers")

PLAYS = "".join(islice(shakespeare_documents(), 2))  # two whole plays, ~190k characters
ADVERSARIAL = [
    "", " ", "a", "   \n\n\t\t  \r\n", "\n" * 7, "x  y   z    ",  # whitespace runs
    "héllo wörld, ünïcödé: 中文 😀 e\u0301 \u00a0 \u2028",  # unicode, combining, separators
    "don't 'S 've 123 4567 3.14 ...!!! ???",  # the GPT-2 pattern's contractions and runs
    *SPECIAL_TOKENS, "<|endoftext|>ROMEO:<|endoftext|>", "<|user|>hi<|end|><|assistant|>",
    "<|endoftext|", "<<|end|>>", "|<|user|>|",  # the course's tokens, whole and broken
]
CONVERSATIONS = [
    [{"role": "user", "content": "What light through yonder window breaks?"},
     {"role": "assistant", "content": "It is the east, and Juliet is the sun."}],
    [{"role": "system", "content": "Speak in verse."},
     {"role": "user", "content": "  Whitespace\n\tand ünïcödé 😀 "},
     {"role": "assistant", "content": ""},
     {"role": "user", "content": "Again?"}],
]


def _perturbed(config: ModelConfig, seed: int = 0):
    """A model of ``config`` whose every parameter is moved off its initial value."""
    torch.manual_seed(seed)
    model = config.build()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.add_(torch.randn_like(parameter) * (0.3 if "norm" in name else 0.1))
    return model.eval()


@pytest.fixture(scope="module")
def char_tokenizer():
    return CharTokenizer.train([PLAYS, *ADVERSARIAL, *[m["content"] for c in CONVERSATIONS
                                                       for m in c]],
                               special_tokens=SPECIAL_TOKENS)


@pytest.fixture(scope="module")
def bpe_tokenizer():
    return G2CTokenizer.train([PLAYS], vocab_size=600)


@pytest.fixture(scope="module")
def shakespeare_export(tmp_path_factory, char_tokenizer):
    """The ShakespeareLM track's model trained with --no-token-shift (the one option no stock
    decoder has), written and exported by the CLI."""
    root = tmp_path_factory.mktemp("shakespeare")
    config = replace(get_track("ShakespeareLM").model, vocab_size=char_tokenizer.vocab_size,
                     token_shift=False)
    model = _perturbed(config)
    artifact = write_model(root / "ShakespeareLM-test", model=model, config=config,
                           tokenizer=char_tokenizer)
    assert main(["export", str(artifact), "--to", str(root / "hf")]) == 0
    return artifact, root / "hf", model


def _load(directory):
    return (transformers.AutoModelForCausalLM.from_pretrained(directory, trust_remote_code=False),
            transformers.AutoTokenizer.from_pretrained(directory, trust_remote_code=False))


def _assert_same_logits(model, hf_model, ids):
    with torch.no_grad():
        expected, got = model(ids), hf_model(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_the_default_track_exports_to_stablelm_with_g2c_logits(shakespeare_export,
                                                               char_tokenizer):
    _, out, model = shakespeare_export
    names = {path.name for path in out.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "chat_template.jinja"} <= names
    assert json.loads((out / "config.json").read_text())["model_type"] == "stablelm"
    hf_model, _ = _load(out)
    assert type(hf_model).__name__ == "StableLmForCausalLM"
    assert hf_model.dtype == torch.float32
    starts = range(0, len(PLAYS) - 200, len(PLAYS) // 4)
    ids = torch.tensor([char_tokenizer.encode(PLAYS[s:s + 128]) for s in starts])  # (4, 128)
    _assert_same_logits(model, hf_model, ids)


def test_greedy_generate_gives_the_tokens_of_g2c_sample_at_temperature_zero(
        shakespeare_export, capsys):
    artifact, out, _ = shakespeare_export
    prompt, new = "ROMEO:\n", 100  # 107 tokens: inside the 128-token context
    assert main(["sample", str(artifact), "--prompt", prompt, "--temperature", "0",
                 "--max-new-tokens", str(new)]) == 0
    g2c_text = capsys.readouterr().out.removesuffix("\n")
    hf_model, hf_tokenizer = _load(out)
    prompt_ids = hf_tokenizer(prompt, return_tensors="pt")["input_ids"]
    generated = hf_model.generate(prompt_ids, do_sample=False, max_new_tokens=new)[0].tolist()
    new_ids = generated[prompt_ids.shape[1]:]
    if new_ids[-1] == hf_tokenizer.eos_token_id:  # g2c stops before <|endoftext|>, HF after it
        new_ids.pop()
    hf_text = prompt + hf_tokenizer.decode(new_ids)
    assert hf_text == g2c_text
    assert len(hf_text) > len(prompt) + 20  # it generated, and did not stop at once


@pytest.mark.parametrize("kind", ["char", "char-eot-only", "bpe"])
def test_tokenizer_ids_match_g2c_on_shakespeare_and_adversarial_text(
        kind, char_tokenizer, bpe_tokenizer, tmp_path):
    tokenizer = {"char": char_tokenizer, "bpe": bpe_tokenizer,
                 "char-eot-only": CharTokenizer(char_tokenizer.alphabet)}[kind]
    transformers_tokenizer(tokenizer, model_max_length=128).save_pretrained(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert [hf.convert_tokens_to_ids(t) for t in tokenizer.special_tokens] \
        == list(range(len(tokenizer.special_tokens)))
    assert hf.eos_token_id == hf.bos_token_id == tokenizer.eot_id
    texts = [PLAYS, *ADVERSARIAL]
    # split_special_tokens=True: reserved-token text is text, exactly g2c's encode.
    got = hf(texts, split_special_tokens=True)["input_ids"]
    for text, expected, ids in zip(texts, map(tokenizer.encode, texts), got):
        assert ids == expected, text[:40]
        assert hf.decode(ids) == tokenizer.decode(ids) == text
    # The default call (transformers' convention) differs only where reserved text appears.
    for text, expected, ids in zip(texts, map(tokenizer.encode, texts), hf(texts)["input_ids"]):
        if any(token in text for token in tokenizer.special_tokens):
            assert tokenizer.decode(ids) == text and len(ids) < len(expected)
        else:
            assert ids == expected
    assert hf(EOT)["input_ids"] == [tokenizer.eot_id]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_apply_chat_template_gives_the_ids_g2c_trains_on(kind, char_tokenizer, bpe_tokenizer,
                                                         tmp_path):
    tokenizer = char_tokenizer if kind == "char" else bpe_tokenizer
    transformers_tokenizer(tokenizer, model_max_length=128).save_pretrained(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    for messages in CONVERSATIONS:
        for prompt in (False, True):
            expected = encode_documents(
                tokenizer, [render_chat(messages, add_generation_prompt=prompt)])[0].tolist()
            got = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=prompt)
            assert got["input_ids"] == expected


def test_a_char_tokenizer_without_chat_tokens_has_no_chat_template(char_tokenizer):
    hf = transformers_tokenizer(CharTokenizer(char_tokenizer.alphabet), model_max_length=8)
    assert hf.chat_template is None
    assert transformers_tokenizer(char_tokenizer, model_max_length=8).chat_template is not None


@pytest.mark.parametrize("options, architecture", [
    (dict(positions="rotary", mlp="swiglu", norm="rms", bias=True), "LlamaForCausalLM"),
    (dict(positions="rotary", mlp="swiglu", norm="rms", bias=False), "LlamaForCausalLM"),
    (dict(positions="learned", mlp="gelu", norm="layer", bias=True), "GPT2LMHeadModel"),
    (dict(positions="learned", mlp="gelu", norm="layer", bias=False), "GPT2LMHeadModel"),
])
def test_rms_norm_exports_to_llama_and_learned_positions_to_gpt2(
        options, architecture, bpe_tokenizer, tmp_path):
    config = ModelConfig(bpe_tokenizer.vocab_size, embedding_dim=48, num_layers=2, num_heads=4,
                         max_seq_len=64, hidden_dim=80, output_bias=False, **options)
    assert export_target(config).model_class == architecture
    model = _perturbed(config, seed=1)
    artifact = write_model(tmp_path / "artifact", model=model, config=config,
                           tokenizer=bpe_tokenizer)
    hf_model, hf_tokenizer = _load(export_artifact(artifact, tmp_path / "hf"))
    assert type(hf_model).__name__ == architecture
    texts = [PLAYS[:1000], PLAYS[-1000:]]
    ids = hf_tokenizer(texts, truncation=True, return_tensors="pt")["input_ids"]  # (2, 64)
    assert ids.tolist() == [bpe_tokenizer.encode(text)[:64] for text in texts]
    _assert_same_logits(model, hf_model, ids)


@pytest.mark.parametrize("options, named", [
    (dict(output_bias=True), "output_bias=True"),  # stock decoders have no logits bias
    (dict(token_shift=True, output_bias=False), "token_shift=True"),  # nor a token shift
    (dict(output_bias=False, mlp="gelu"), "mlp='gelu'"),
    (dict(output_bias=False, bias=True), "bias=True"),
    (dict(output_bias=False, positions="learned"), "positions='learned'"),
    (dict(output_bias=False, positions="learned", mlp="gelu", qk_norm=True), "qk_norm=True"),
])
def test_options_no_stock_architecture_expresses_are_refused_by_name(options, named):
    config = replace(get_track("ShakespeareLM").model, vocab_size=70,
                     **{"token_shift": False, **options})
    with pytest.raises(ValueError, match=f"no stock transformers architecture.*{named}"):
        export_target(config)


def test_cli_refusals_are_one_line_naming_the_problem(shakespeare_export, char_tokenizer,
                                                      tmp_path, capsys):
    config = replace(get_track("ShakespeareLM").model, vocab_size=char_tokenizer.vocab_size,
                     output_bias=True, token_shift=False)
    artifact = write_model(tmp_path / "with-bias", model=config.build(), config=config,
                           tokenizer=char_tokenizer)
    assert main(["export", str(artifact), "--to", str(tmp_path / "hf")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "output_bias=True" in error and "--no-output-bias" in error
    assert not (tmp_path / "hf").exists()
    _, existing, _ = shakespeare_export  # a folder that is already there is never overwritten
    assert main(["export", str(shakespeare_export[0]), "--to", str(existing)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_export_without_transformers_says_how_to_install_it(shakespeare_export, tmp_path,
                                                            monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # what a missing package looks like
    with pytest.raises(ValueError, match=r"pip install 'g2c\[hf\]'"):
        export_artifact(shakespeare_export[0], tmp_path / "hf")


def test_g2c_never_imports_transformers_until_an_export_runs():
    code = ("import sys, g2c, g2c.cli, g2c.app.export, g2c.app.hf_tokenizer, g2c.transformer, "
            "g2c.training, g2c.corpora; g2c.cli.build_parser(); "
            "print('transformers' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
