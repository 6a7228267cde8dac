"""Sampling text from a TransformerLM, one token at a time.

    ids = [prompt ids]
    repeat: logits = model(ids[-T:])[last position]      (V,) scores for the next token
            logits /= temperature                        < 1 sharpens, > 1 flattens
            keep only the top_k largest (optional)       cuts the long tail of unlikely tokens
            next = sample from softmax(logits)           (temperature 0: the argmax)
            stop at <|endoftext|>, else append and go on

Each step re-reads the whole (cropped) context: simple and exact. A KV cache
would reuse the keys and values of earlier positions instead — faster, but a
different lesson.
"""

from __future__ import annotations

import torch

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

    ``generator`` (a CPU ``torch.Generator``) makes the draw reproducible.
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
    context = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    new_ids: list[int] = []
    try:
        for _ in range(max_new_tokens):
            logits = model(context[:, -model.max_seq_len:])[0, -1].float()  # (V,)
            if temperature == 0:
                next_id = int(logits.argmax())
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.numel():
                    threshold = torch.topk(logits, top_k).values[-1]
                    logits = logits.masked_fill(logits < threshold, float("-inf"))
                probs = torch.softmax(logits, dim=-1).cpu()
                next_id = int(torch.multinomial(probs, 1, generator=generator))
            if next_id == stop_id:
                break
            new_ids.append(next_id)
            context = torch.cat([context, context.new_tensor([[next_id]])], dim=1)
    finally:
        model.train(was_training)
    return new_ids
