"""``g2c check``: the step-0 log(V) check on a fresh tiny model."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "check", help="measure a fresh model's loss against log(V), the uniform baseline"
    )
    parser.add_argument("--vocab-size", type=int, default=65, help="V (default 65, char level)")
    parser.add_argument("--context-length", type=int, default=64, help="T (default 64)")
    parser.add_argument("--batch-size", type=int, default=16, help="B (default 16)")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    import torch

    from g2c.pretraining import get_lm_batch, initial_loss_check
    from g2c.transformer import TransformerLM

    torch.manual_seed(args.seed)
    model = TransformerLM(args.vocab_size, 64, 2, 4, args.context_length)
    stream = torch.randint(0, args.vocab_size, (args.batch_size * args.context_length * 4,))
    x, y = get_lm_batch(
        stream, args.batch_size, args.context_length,
        generator=torch.Generator().manual_seed(args.seed),
    )
    report = initial_loss_check(model, x, y)
    print(f"B={args.batch_size} T={args.context_length} V={args.vocab_size}: "
          f"{args.batch_size * args.context_length} predictions")
    print(report.explain())
    return 0 if report.ok else 1
