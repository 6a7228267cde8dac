"""Sampling text from a TransformerLM, one token at a time, with a KV cache.

    ids = [prompt ids]
    repeat: logits = model(ids[-T:])[last position]      (V,) scores for the next token
            logits /= temperature                        < 1 sharpens, > 1 flattens
            keep only the top_k largest (optional)       cuts the long tail of unlikely tokens
            next = sample from softmax(logits)           (temperature 0: the argmax)
            stop at <|endoftext|>, else append and go on

Read literally, every step runs the model over the whole context again. The
**KV cache** (``kv_cache.py``) reads the prompt once and then costs one
position per token — exact, not an approximation — while the context only
grows. Once it is ``max_seq_len`` long the window slides, its oldest token
drops out and every stored key changes, so from then on each token recomputes
the window (a longer prompt is cropped to its last ``max_seq_len`` tokens).

Sampling happens on the model's device: the top-k cut, the softmax and the
draw, ``argmax(p / E)`` with E ~ Exponential(1) per token, which picks token i
with probability p_i. That is how ``torch.multinomial`` draws one sample, and
E comes from ``generator`` (on the CPU by default) exactly as it would there,
so a seed gives the same text as ``torch.multinomial`` on the CPU, on any
device up to float rounding. The chosen id is read back to the host once per
token, to check the stop id and return it.
"""

from __future__ import annotations

import torch

from g2c.transformer.kv_cache import KVCache
from g2c.validation import require_positive_int


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    prompt_ids: list[int],
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    stop_id: int | None = None,
    generator: torch.Generator | None = None,
) -> list[int]:
    """Return the ids sampled after ``prompt_ids`` (at most ``max_new_tokens``, no stop id).

    ``model`` maps (1, T) ids to (1, T, V) logits and takes a ``kv_cache``
    (:class:`~g2c.transformer.TransformerLM`). ``generator`` (a CPU
    ``torch.Generator`` unless you pass one on the model's device) makes the
    draw reproducible.
    """
    max_new_tokens = require_positive_int("max_new_tokens", max_new_tokens)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not temperature >= 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = always the most likely "
                         f"token); got {temperature!r}")
    if top_k is not None:
        top_k = require_positive_int("top_k", top_k)
    if not prompt_ids:
        raise ValueError("prompt_ids is empty: give at least one id (e.g. <|endoftext|>)")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    window = model.max_seq_len
    ids = list(prompt_ids)
    new_ids: list[int] = []
    cache = KVCache(window)
    feed = torch.tensor([ids[-window:]], dtype=torch.long, device=device)
    try:
        for _ in range(max_new_tokens):
            logits = model(feed, kv_cache=cache)[0, -1].float()  # (V,)
            next_token = _pick(logits, temperature, top_k, generator)
            next_id = int(next_token)  # the one host read per token
            if next_id == stop_id:
                break
            new_ids.append(next_id)
            ids.append(next_id)
            if cache.length < window:
                feed = next_token.view(1, 1)
            else:  # the window slides: positions move, so recompute it (module docstring)
                cache = KVCache(window)
                feed = torch.tensor([ids[-window:]], dtype=torch.long, device=device)
    finally:
        model.train(was_training)
    return new_ids


def _pick(logits: torch.Tensor, temperature: float, top_k: int | None,
          generator: torch.Generator | None) -> torch.Tensor:
    """The next token id as a 0-d tensor on the logits' device (no host read)."""
    if temperature == 0:
        return logits.argmax()
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        threshold = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    noise_device = "cpu" if generator is None else generator.device
    noise = torch.empty(probs.shape, device=noise_device).exponential_(generator=generator)
    # E = 0 would make p / E infinite (or NaN for p = 0); the clamp keeps it finite.
    noise = noise.clamp_(min=torch.finfo(noise.dtype).tiny).to(probs.device)
    return (probs / noise).argmax()
