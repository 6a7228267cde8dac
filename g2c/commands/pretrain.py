"""``g2c pretrain``: a short char-level run on the built-in Shakespeare corpus.

Interim version until the trainer lands: real AdamW steps on the real data
path (split, get_lm_batch, lm_cross_entropy), with the step-0 log(V) check.
"""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("pretrain", help="train a small LM on Shakespeare")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args) -> int:
    import torch

    from g2c.corpora.shakespeare import shakespeare_documents
    from g2c.pretraining import get_lm_batch, initial_loss_check, lm_cross_entropy, split_token_stream
    from g2c.transformer import TransformerLM

    torch.manual_seed(args.seed)
    text = "\n".join(shakespeare_documents())
    alphabet = sorted(set(text))
    lookup = {ch: i for i, ch in enumerate(alphabet)}
    ids = torch.tensor([lookup[ch] for ch in text], dtype=torch.long)
    train, val = split_token_stream(ids, 0.9)
    model = TransformerLM(len(alphabet), 128, 2, 4, 64)
    generator = torch.Generator().manual_seed(args.seed)
    x, y = get_lm_batch(train, 16, 64, generator=generator)
    print(initial_loss_check(model, x, y).explain())
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for step in range(1, args.max_steps + 1):
        x, y = get_lm_batch(train, 16, 64, generator=generator)
        loss = lm_cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == args.max_steps:
            with torch.no_grad():
                vx, vy = get_lm_batch(val, 64, 64, generator=torch.Generator().manual_seed(1))
                val_loss = float(lm_cross_entropy(model(vx), vy))
            print(f"step {step:4d}  train {float(loss):.3f}  val {val_loss:.3f}")
    return 0
