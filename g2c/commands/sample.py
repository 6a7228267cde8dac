"""``g2c sample ARTIFACT [--prompt TEXT]``: generate text from a trained model, up to
<|endoftext|> or --max-new-tokens."""

from __future__ import annotations

from g2c.commands.arguments import ARTIFACTS_ROOT, add_artifact_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sample", help="generate text from a trained model artifact")
    add_artifact_argument(parser)
    parser.add_argument("--prompt", default="",
                        help="text to continue (default: start a new document)")
    parser.add_argument("--max-new-tokens", type=int, default=500)
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="< 1 sharper, > 1 more random, 0 always the likeliest token")
    parser.add_argument("--top-k", type=int, default=None,
                        help="sample only among the k likeliest tokens")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same text")
    parser.add_argument("--num-samples", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")


def run(args) -> int:
    import torch

    from g2c.app.artifact import load_artifact, resolve_artifact
    from g2c.training.device import select_device
    from g2c.training.threads import single_thread
    from g2c.transformer import generate
    from g2c.validation import require_positive_int

    require_positive_int("--num-samples", args.num_samples)
    model, tokenizer, _ = load_artifact(resolve_artifact(args.artifact, ARTIFACTS_ROOT))
    model.to(select_device(args.device))
    # An empty prompt starts a fresh document: the model saw <|endoftext|> before each one.
    prompt = tokenizer.encode(args.prompt) if args.prompt else [tokenizer.eot_id]
    generator = torch.Generator().manual_seed(args.seed)
    for number in range(args.num_samples):
        with single_thread():  # one sequence: every op is tiny (see threads.py)
            ids = generate(model, prompt, args.max_new_tokens, temperature=args.temperature,
                           top_k=args.top_k, stop_id=tokenizer.eot_id, generator=generator)
        if args.num_samples > 1:
            print(f"--- sample {number + 1} ---")
        print(args.prompt + tokenizer.decode(ids), flush=True)
    return 0
