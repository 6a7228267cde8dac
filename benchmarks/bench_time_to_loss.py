"""Time to loss: ShakespeareLM's own recipe under 15 s and 76 s budgets vs nanoGPT's baby GPT.

    python benchmarks/bench_time_to_loss.py                       # baseline + both budgets
    python benchmarks/bench_time_to_loss.py --budgets 15 --no-baseline

Data: ../shared/data/tinyshakespeare.txt, char level, contiguous 90/10 split,
prepared by the same pipeline ``g2c pretrain`` uses.

1. **Baseline, in this process**: nanoGPT's "baby GPT on CPU" recipe through
   our Trainer — 4 layers, 4 heads, C=128, T=64, B=12, learned positions,
   GELU, LayerNorm, fp32, AdamW lr 1e-3 -> 1e-4 cosine, 100 warm-up steps,
   betas (0.9, 0.99), weight decay 0.1, clip 1.0, 2000 steps. Its final loss
   and time are the reference (nanoGPT itself: val 1.886 in 75.8 s here).
2. **The product**: exactly the user's command, in a fresh process each,
   ``g2c pretrain --track ShakespeareLM --corpus ... --max-time SECONDS``,
   and its ``manifest.json`` read back.

For each run: final validation loss on the fixed validation set (every
non-overlapping T-token window of the 111,540-token split), tokens/s,
achieved FLOP/s with the PaLM/nanoGPT count — ``6·N`` per token for the
weight matmuls (N = every weight matrix that multiplies activations, the tied
unembedding included) plus ``12·L·T·C`` for attention's two T×T products —
and the share of step time outside forward/backward/optimizer. The load
average is printed before each run: on a shared machine, numbers taken under
load are lower bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from g2c.training import Trainer, TrainingConfig  # noqa: E402
from g2c.app.pretrain import prepare_track_corpus  # noqa: E402
from g2c.app.tracks import get_track  # noqa: E402
from g2c.transformer import ModelConfig, TransformerLM  # noqa: E402

NANOGPT = dict(val_loss=1.886, seconds=75.8)


def flops_per_token(model: torch.nn.Module, num_layers: int, context: int, width: int) -> int:
    """6·N (weight matmuls, tied unembedding included) + 12·L·T·C (attention scores and mixing)."""
    matmul_parameters = sum(p.numel() for name, p in model.named_parameters()
                            if p.ndim == 2 and "position_embedding" not in name)
    return 6 * matmul_parameters + 12 * num_layers * context * width


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_baseline(prepared) -> dict:
    torch.manual_seed(0)
    model = TransformerLM(prepared.vocab_size, 128, 4, 4, 64)
    config = TrainingConfig(batch_size=12, context_length=64, learning_rate=1e-3,
                            min_lr_ratio=0.1, warmup_steps=100, weight_decay=0.1, beta1=0.9,
                            beta2=0.99, grad_clip=1.0, max_steps=2000, eval_interval=10**9,
                            precision="fp32", device="cpu")
    result = Trainer(model, prepared.train, prepared.val, config, quiet=True).fit()
    return dict(name="baseline (nanoGPT baby GPT recipe)", val=result.final_val_loss,
                train=result.final_train_loss, seconds=result.elapsed, steps=result.steps,
                tokens=result.tokens_seen, timing=result.timing,
                flops_per_token=flops_per_token(model, 4, 64, 128),
                val_tokens=result.val_tokens)


def run_product(corpus: str, budget: float, data_dir: Path, out: Path) -> dict:
    command = [sys.executable, "-m", "g2c", "pretrain", "--track", "ShakespeareLM",
               "--corpus", corpus, "--max-time", f"{budget:g}", "--out", str(out),
               "--data-dir", str(data_dir), "--overwrite", "--quiet"]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr}")
    manifest = json.loads((out / "manifest.json").read_text())
    model_config = manifest["model"]
    model = ModelConfig.from_dict(model_config).build()
    return dict(name=f"g2c pretrain --max-time {budget:g}", val=manifest["final_val_loss"],
                train=manifest["final_train_loss"], seconds=manifest["training_seconds"],
                steps=manifest["steps"], tokens=manifest["tokens_seen"],
                timing=manifest["timing"], command_seconds=wall, val_tokens=manifest["val_tokens"],
                flops_per_token=flops_per_token(model, model_config["num_layers"],
                                                manifest["training"]["context_length"],
                                                model_config["embedding_dim"]))


def report(run: dict) -> None:
    timing = run["timing"]
    tokens_per_second = run["tokens"] / run["seconds"]
    print(f"\n{run['name']}")
    print(f"  final val loss {run['val']:.4f} (train {run['train']:.4f}; {run['val_tokens']:,} "
          f"fixed validation tokens)")
    print(f"  {run['steps']} steps, {run['tokens']:,} tokens in {run['seconds']:.1f} s of training"
          + (f" ({run['command_seconds']:.1f} s for the whole command)"
             if "command_seconds" in run else ""))
    print(f"  {tokens_per_second:,.0f} tokens/s, {tokens_per_second * run['flops_per_token'] / 1e9:.1f}"
          f" GFLOP/s achieved ({run['flops_per_token'] / 1e6:.2f} MFLOP per token)")
    print(f"  step time outside forward/backward/optimizer: {100 * timing['overhead_fraction']:.2f}%"
          f" (evaluation {timing['evaluation']:.2f} s, checkpoints {timing['checkpoint']:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/data/tinyshakespeare.txt")
    parser.add_argument("--budgets", type=float, nargs="+", default=[15.0, 76.0])
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    corpus = str((ROOT / args.corpus).resolve()) if not Path(args.corpus).is_absolute() \
        else args.corpus
    if not Path(corpus).is_file():
        print(f"corpus {corpus} not found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="g2c-time-to-loss-") as scratch:
        scratch = Path(scratch)
        track = replace(get_track("ShakespeareLM"), corpus=corpus)
        prepared = prepare_track_corpus(track, scratch / "data", quiet=True)
        print(f"corpus {corpus}: {len(prepared.train):,} train / {len(prepared.val):,} val "
              f"tokens, V={prepared.vocab_size}; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads")
        runs = []
        if not args.no_baseline:
            print(f"load average before the baseline: {load()}", flush=True)
            runs.append(run_baseline(prepared))
            report(runs[-1])
        for budget in args.budgets:
            print(f"\nload average before the {budget:g} s run: {load()}", flush=True)
            runs.append(run_product(corpus, budget, scratch / "data", scratch / f"run-{budget:g}"))
            report(runs[-1])
        print(f"\nload average at the end: {load()}")
        if not args.no_baseline:
            base = runs[0]
            base_rate = base["tokens"] / base["seconds"]
            print(f"\nvs the baseline measured above (val {base['val']:.4f} in "
                  f"{base['seconds']:.1f} s; nanoGPT's published run here: "
                  f"{NANOGPT['val_loss']} in {NANOGPT['seconds']} s):")
            for run in runs[1:]:
                print(f"  {run['name']}: {run['seconds'] / base['seconds']:.2f}x the baseline's "
                      f"time, val {run['val']:.4f} ({run['val'] - base['val']:+.4f}), "
                      f"{run['tokens'] / run['seconds'] / base_rate:.2f}x its tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
