"""``g2c export``: a trained artifact as a Hugging Face folder that stock ``transformers`` loads.

**Which architecture.** A TransformerLM goes only to a transformers class that
computes exactly the same function — no approximation, no custom code:

    positions  mlp     norm   bias   class                 g2c models
    rotary     swiglu  layer  False  StableLmForCausalLM   ShakespeareLM --no-token-shift
    rotary     swiglu  rms    any    LlamaForCausalLM      StoryLM, TinyLLM
    learned    gelu    layer  any    GPT2LMHeadModel       TransformerLM's defaults

and all three need ``output_bias=False`` and ``token_shift=False``: no stock
decoder with sequential pre-norm blocks has a bias on its tied unembedding or
mixes the previous token's embedding into each token's. Any other model is
refused with a ValueError naming the options in the way (ShakespeareLM trains
with a token shift, so it exports when trained with ``--no-token-shift``).

**How the weights map.** The fused ``qkv`` splits into ``q/k/v_proj`` and
SwiGLU's ``up`` into ``gate_proj``/``up_proj``; rotary needs no permutation
(g2c pairs channel i with i + D/2, transformers' ``rotate_half`` layout);
RMSNorm's ``eps=None`` is written as fp32's machine epsilon; GPT-2's ``Conv1D``
linears are transposed and get zero biases. Before writing anything the export
refuses models whose fp32 logits differ by more than 1e-4 on a probe batch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from g2c.app.artifact import load_artifact, read_model_config
from g2c.app.hf_tokenizer import transformers_tokenizer
from g2c.atomic_files import write_new_directory
from g2c.transformer import ModelConfig, TransformerLM

ROPE_THETA = 10_000.0  # RotaryEmbedding's base
LOGITS_TOLERANCE = 1e-4
PROBE_TOKENS = 64


@dataclass(frozen=True)
class Target:
    """A stock transformers architecture and the TransformerLM options it can express."""

    model_class: str  # the transformers class name
    needs: dict  # ModelConfig field -> the values this class can express

    def mismatches(self, config: ModelConfig) -> list[str]:
        return [f"{name}={getattr(config, name)!r} ({self.model_class} needs "
                f"{' or '.join(repr(v) for v in values)})"
                for name, values in self.needs.items() if getattr(config, name) not in values]


EVERY_TARGET = {"output_bias": (False,), "token_shift": (False,)}
STABLELM = Target("StableLmForCausalLM", {**EVERY_TARGET, "positions": ("rotary",),
                                          "mlp": ("swiglu",), "norm": ("layer",),
                                          "bias": (False,), "qk_norm": (False, True)})
LLAMA = Target("LlamaForCausalLM", {**EVERY_TARGET, "positions": ("rotary",),
                                    "mlp": ("swiglu",), "norm": ("rms",), "qk_norm": (False,)})
GPT2 = Target("GPT2LMHeadModel", {**EVERY_TARGET, "positions": ("learned",),
                                  "mlp": ("gelu",), "norm": ("layer",), "qk_norm": (False,)})
RETRAIN_FLAGS = {"output_bias": "--no-output-bias", "token_shift": "--no-token-shift"}
TARGETS = (STABLELM, LLAMA, GPT2)


def export_target(config: ModelConfig) -> Target:
    """The architecture that hosts ``config`` exactly; ValueError naming the options otherwise."""
    for target in TARGETS:
        if not target.mismatches(config):
            return target
    closest = min(TARGETS, key=lambda target: len(target.mismatches(config)))
    flags = [flag for name, flag in RETRAIN_FLAGS.items() if getattr(config, name)]
    hint = (f" — train with {' '.join(flags)} (g2c pretrain {' '.join(flags)})"
            if flags else "")
    raise ValueError(f"no stock transformers architecture computes this model: "
                     f"{'; '.join(closest.mismatches(config))}{hint}")


def export_artifact(artifact: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the artifact directory ``artifact`` as a Hugging Face model folder ``out`` (new or
    empty; it appears whole or not at all). Needs ``pip install 'g2c[hf]'``."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty directory; "
                              f"export into a new directory")
    target = export_target(read_model_config(artifact))
    model, tokenizer, _ = load_artifact(artifact)
    try:
        import transformers
    except ImportError:
        raise ValueError("g2c export needs the optional 'transformers' package "
                         "(pip install 'g2c[hf]')") from None
    hf_config = _hf_config(target, model, tokenizer.eot_id)
    hf_model = getattr(transformers, target.model_class)(hf_config)
    hf_model.load_state_dict(_hf_weights(target, model), strict=True)
    hf_model.eval()
    hf_model.generation_config = transformers.GenerationConfig(
        bos_token_id=tokenizer.eot_id, eos_token_id=tokenizer.eot_id,
        pad_token_id=tokenizer.eot_id)
    _check_logits(model, hf_model)
    hf_tokenizer = transformers_tokenizer(tokenizer, model_max_length=model.max_seq_len)

    def save(folder: Path) -> None:
        hf_model.save_pretrained(folder)
        hf_tokenizer.save_pretrained(folder)

    return write_new_directory(out, save)


def _hf_config(target: Target, model: TransformerLM, eot_id: int):
    import transformers

    block = model.blocks[0]
    width, heads = model.token_embedding.embedding_dim, block.attn.num_heads
    shared = dict(vocab_size=model.vocab_size, tie_word_embeddings=True, bos_token_id=eot_id,
                  eos_token_id=eot_id)
    if target is GPT2:
        return transformers.GPT2Config(
            n_positions=model.max_seq_len, n_embd=width, n_layer=len(model.blocks),
            n_head=heads, n_inner=block.mlp.down.in_features,
            activation_function="gelu_pytorch_tanh",  # F.gelu(approximate="tanh"), as g2c
            layer_norm_epsilon=block.attn_norm.eps, resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0, **shared)
    llama_like = dict(hidden_size=width, intermediate_size=block.mlp.down.in_features,
                      num_hidden_layers=len(model.blocks), num_attention_heads=heads,
                      num_key_value_heads=heads, hidden_act="silu",
                      max_position_embeddings=model.max_seq_len, rope_theta=ROPE_THETA,
                      **shared)
    if target is STABLELM:
        return transformers.StableLmConfig(layer_norm_eps=block.attn_norm.eps,
                                           partial_rotary_factor=1.0, use_qkv_bias=False,
                                           qk_layernorm=block.attn.q_norm is not None,
                                           use_parallel_residual=False,
                                           **llama_like)
    bias = block.attn.qkv.bias is not None
    eps = block.attn_norm.eps if block.attn_norm.eps is not None \
        else torch.finfo(torch.float32).eps
    return transformers.LlamaConfig(rms_norm_eps=eps, attention_bias=bias, mlp_bias=bias,
                                    **llama_like)


# g2c parameter name -> transformers names; several names split the tensor along rows.
# The tied unembedding (lm_head.weight) is the embedding again.
_LLAMA_NAMES = (
    (r"token_embedding\.weight", ("model.embed_tokens.weight",)),
    (r"blocks\.(\d+)\.attn_norm\.(\w+)", ("model.layers.{0}.input_layernorm.{1}",)),
    (r"blocks\.(\d+)\.attn\.qkv\.(\w+)", ("model.layers.{0}.self_attn.q_proj.{1}",
                                          "model.layers.{0}.self_attn.k_proj.{1}",
                                          "model.layers.{0}.self_attn.v_proj.{1}")),
    (r"blocks\.(\d+)\.attn\.proj\.(\w+)", ("model.layers.{0}.self_attn.o_proj.{1}",)),
    # StableLM's per-head LayerNorms: one (head_dim,) gain per head, g2c's (heads·d,) in rows
    (r"blocks\.(\d+)\.attn\.([qk])_norm\.weight",
     ("model.layers.{0}.self_attn.{1}_layernorm.norms.{head}.weight",)),
    (r"blocks\.(\d+)\.mlp_norm\.(\w+)", ("model.layers.{0}.post_attention_layernorm.{1}",)),
    (r"blocks\.(\d+)\.mlp\.up\.(\w+)", ("model.layers.{0}.mlp.gate_proj.{1}",
                                        "model.layers.{0}.mlp.up_proj.{1}")),
    (r"blocks\.(\d+)\.mlp\.down\.(\w+)", ("model.layers.{0}.mlp.down_proj.{1}",)),
    (r"final_norm\.(\w+)", ("model.norm.{0}",)),
)
_GPT2_NAMES = (
    (r"token_embedding\.weight", ("transformer.wte.weight",)),
    (r"position_embedding\.weight", ("transformer.wpe.weight",)),
    (r"blocks\.(\d+)\.attn_norm\.(\w+)", ("transformer.h.{0}.ln_1.{1}",)),
    (r"blocks\.(\d+)\.attn\.qkv\.(\w+)", ("transformer.h.{0}.attn.c_attn.{1}",)),
    (r"blocks\.(\d+)\.attn\.proj\.(\w+)", ("transformer.h.{0}.attn.c_proj.{1}",)),
    (r"blocks\.(\d+)\.mlp_norm\.(\w+)", ("transformer.h.{0}.ln_2.{1}",)),
    (r"blocks\.(\d+)\.mlp\.up\.(\w+)", ("transformer.h.{0}.mlp.c_fc.{1}",)),
    (r"blocks\.(\d+)\.mlp\.down\.(\w+)", ("transformer.h.{0}.mlp.c_proj.{1}",)),
    (r"final_norm\.(\w+)", ("transformer.ln_f.{0}",)),
)
_CONV1D_WEIGHT = re.compile(r".*\.(c_attn|c_proj|c_fc)\.weight")  # GPT-2 stores (in, out)


def _hf_weights(target: Target, model: TransformerLM) -> dict[str, torch.Tensor]:
    """``model``'s parameters under ``target``'s names and layouts (see the module doc)."""
    state = {name: tensor.detach() for name, tensor in model.state_dict().items()}
    heads = model.blocks[0].attn.num_heads
    if target is GPT2:
        for name, module in model.named_modules():  # GPT-2's linears always have a bias
            if isinstance(module, torch.nn.Linear) and module.bias is None:
                state[f"{name}.bias"] = torch.zeros(module.out_features)
    weights = {}
    for name, tensor in state.items():
        groups, names = next((match.groups(), names)
                             for pattern, names in (_GPT2_NAMES if target is GPT2 else _LLAMA_NAMES)
                             if (match := re.fullmatch(pattern, name)))
        if "{head}" in names[0]:
            names = [names[0].replace("{head}", str(head)) for head in range(heads)]
        for hf_name, piece in zip(names, tensor.chunk(len(names), dim=0)):
            hf_name = hf_name.format(*groups)
            weights[hf_name] = (piece.t() if _CONV1D_WEIGHT.fullmatch(hf_name) else piece)\
                .contiguous()
    embedding = "transformer.wte.weight" if target is GPT2 else "model.embed_tokens.weight"
    weights["lm_head.weight"] = weights[embedding]
    return weights


@torch.no_grad()
def _check_logits(model: TransformerLM, hf_model) -> None:
    """Refuse an export whose logits differ from g2c's (a transformers version that changed)."""
    length = min(PROBE_TOKENS, model.max_seq_len)
    probe = torch.randint(0, model.vocab_size, (2, length),
                          generator=torch.Generator().manual_seed(0))
    expected = model.float()(probe)
    got = hf_model.float()(probe).logits
    difference = (got - expected).abs().max().item()
    if difference > LOGITS_TOLERANCE:
        raise ValueError(f"the exported {type(hf_model).__name__} computes logits that differ "
                         f"from g2c's by up to {difference:.2e} (> {LOGITS_TOLERANCE:g}) on a "
                         f"probe batch; this transformers version does not host the model "
                         f"exactly")
