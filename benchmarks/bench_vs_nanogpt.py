"""Time to loss, side by side with nanoGPT's baby GPT: one script, one machine, one split.

    python benchmarks/bench_vs_nanogpt.py                 # 5 rounds (median and spread)
    python benchmarks/bench_vs_nanogpt.py --rounds 1 --fractions 0.2
    python benchmarks/bench_vs_nanogpt.py --also "--optimizer adamw --no-qk-norm"

Every round, one after the other on the same machine:

1. **nanoGPT's recipe**, re-implemented through g2c's own model and Trainer:
   ``config/train_shakespeare_char.py`` with ``--device=cpu --compile=False
   --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
   --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0``: fp32, learned
   positions, GELU, LayerNorm, no biases, AdamW (0.9, 0.99), weight decay 0.1,
   lr 1e-3 with 100 warm-up steps and cosine to 1e-4, clip 1.0, B=12, T=64,
   2,000 steps. Its training wall time is T_nano.
2. **g2c pretrain** — exactly the user's command, in a fresh process —
   ``--track ShakespeareLM --corpus tinyshakespeare.txt --max-time f·T_nano`` for
   each fraction f (default 0.2 and 1.0).
3. With ``--also FLAGS`` (repeatable): the same ``g2c pretrain`` runs with FLAGS
   added, in the same round — e.g. the previous preset, to see what a change
   bought at equal wall time.

With ``--nanogpt-dir DIR`` the baseline of step 1 is **nanoGPT's own
train.py** instead, from a checkout in DIR (its code is not part of g2c): run
there with exactly the flags above plus ``--eval_iters=20 --log_interval=1``,
timed as the sum of the iteration times it prints (its training loop,
evaluations included), and its last checkpoint scored through its own
``model.py``. Prepare its data first, offline: copy tinyshakespeare.txt to
``DIR/data/shakespeare_char/input.txt`` and run ``prepare.py`` there; the
script checks that its splits are this corpus's (g2c's char ids are nanoGPT's
plus one: id 0 is ``<|endoftext|>``).

Scoring is the same for every model: the prepared corpus's validation split
(the last 10% of the token stream) is cut in two. Its first half is
**val** — what presets are chosen on — and its second half, the last 5% of
the stream, is **test**, never used for any choice, so a reader can see the
preset was not fitted to the reported number. Each half is scored as every
non-overlapping window of T tokens, mean next-token loss over all of them, at
T=64 (the baseline's context) and at T=128 (the preset's; the baseline's
learned positions stop at 64, so it has no T=128 score).

The median over rounds is reported with the spread (min-max): these VMs drift
1.5x in speed from hour to hour, so every budget is a fraction of T_nano
measured in the same round, never an absolute time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np
import torch
from torch.nn import functional as F

from g2c.app.artifact import load_artifact
from g2c.app.pretrain import prepare_track_corpus
from g2c.app.tracks import get_track
from g2c.training import Trainer, TrainingConfig
from g2c.training.evaluation import evaluate, validation_windows
from g2c.transformer import ModelConfig

NANOGPT_MODEL = {"embedding_dim": 128, "num_layers": 4, "num_heads": 4, "max_seq_len": 64,
                 "positions": "learned", "mlp": "gelu", "norm": "layer", "bias": False}
NANOGPT_TRAINING = TrainingConfig(
    batch_size=12, context_length=64, learning_rate=1e-3, min_lr_ratio=0.1, warmup_steps=100,
    weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, max_steps=2000,
    eval_interval=10**9, precision="fp32", device="cpu", cpu_tuning=False, fused_loss=False)
NANOGPT_FLAGS = shlex.split(  # nanoGPT's own train.py: the recipe above, as its flags
    "--device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64 "
    "--batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 "
    "--lr_decay_iters=2000 --dropout=0.0")
CONTEXTS = (64, 128)


def score(model, stream, context: int) -> float | None:
    """Mean loss over every non-overlapping ``context``-token window of ``stream``."""
    if context > model.max_seq_len:
        return None
    windows = validation_windows(stream, context)
    return evaluate(model, windows, batch_size=64, device=torch.device("cpu"))


def scores(model, prepared) -> dict:
    half = len(prepared.val) // 2
    parts = {"val": prepared.val[:half], "test": prepared.val[half:]}
    return {f"{name}@{context}": score(model, stream, context)
            for name, stream in parts.items() for context in CONTEXTS}


def run_nanogpt_recipe(prepared) -> dict:
    torch.manual_seed(0)
    model = ModelConfig(prepared.vocab_size, **NANOGPT_MODEL).build()
    trainer = Trainer(model, prepared.train, prepared.val, NANOGPT_TRAINING, quiet=True)
    started = time.perf_counter()
    result = trainer.fit()
    return {"seconds": time.perf_counter() - started, "steps": result.steps,
            **scores(model.eval(), prepared)}


class NanoGPTOnG2cIds(torch.nn.Module):
    """nanoGPT's own GPT, scored on g2c's ids: (B, T) g2c ids -> (B, T, V+1) logits.

    g2c's char tokenizer keeps id 0 for ``<|endoftext|>``, so a g2c id is the
    nanoGPT id plus one; the ``<|endoftext|>`` column gets -inf (probability 0,
    as in nanoGPT, which has no such token).
    """

    def __init__(self, gpt: torch.nn.Module) -> None:
        super().__init__()
        self.gpt, self.max_seq_len = gpt, gpt.config.block_size

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        nanogpt_ids = token_ids - 1
        logits, _ = self.gpt(nanogpt_ids, nanogpt_ids)  # with targets: every position's logits
        return F.pad(logits, (1, 0), value=float("-inf"))


def run_nanogpt_itself(directory: Path, prepared, scratch: Path) -> dict:
    data = directory / "data" / "shakespeare_char"
    for split, stream in (("train", prepared.train), ("val", prepared.val)):
        path = data / f"{split}.bin"
        if not path.is_file() or not np.array_equal(
                np.fromfile(path, dtype=np.uint16).astype(np.int64) + 1, np.asarray(stream)):
            raise SystemExit(f"{path} is missing or is not this corpus's {split} split: copy the "
                             f"corpus to {data / 'input.txt'} and run prepare.py there")
    out = scratch / "nanogpt-out"
    command = [sys.executable, "train.py", "config/train_shakespeare_char.py", *NANOGPT_FLAGS,
               f"--out_dir={out}", "--always_save_checkpoint=True"]
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} (in {directory}) failed:\n{done.stderr[-3000:]}")
    seconds = sum(float(ms) for ms in re.findall(r"time ([0-9.]+)ms", done.stdout)) / 1000
    spec = importlib.util.spec_from_file_location("nanogpt_model", directory / "model.py")
    nanogpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nanogpt)
    checkpoint = torch.load(out / "ckpt.pt", map_location="cpu")
    gpt = nanogpt.GPT(nanogpt.GPTConfig(**checkpoint["model_args"]))
    gpt.load_state_dict(checkpoint["model"])
    return {"seconds": seconds, "steps": checkpoint["iter_num"],
            **scores(NanoGPTOnG2cIds(gpt).eval(), prepared)}


def run_g2c(corpus: str, budget: float, scratch: Path, prepared, flags: str = "") -> dict:
    out = scratch / f"run-{budget:.1f}"
    command = [sys.executable, "-m", "g2c", "pretrain", "--track", "ShakespeareLM",
               "--corpus", corpus, "--max-time", f"{budget:.2f}", "--out", str(out),
               "--data-dir", str(scratch / "data"), "--overwrite", "--quiet",
               "--no-tensorboard", *shlex.split(flags)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    model, _, _ = load_artifact(out)
    return {"seconds": manifest["training_seconds"], "steps": manifest["steps"],
            **scores(model, prepared)}


def summary(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    return f"{statistics.median(values):.4f} ({min(values):.4f}-{max(values):.4f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/data/tinyshakespeare.txt"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.2, 1.0])
    parser.add_argument("--also", action="append", default=[], metavar="FLAGS",
                        help="also run g2c pretrain with these extra flags at every fraction")
    parser.add_argument("--nanogpt-dir", type=Path, metavar="DIR",
                        help="baseline: nanoGPT's own train.py from a checkout in DIR")
    args = parser.parse_args()
    if not Path(args.corpus).is_file():
        print(f"corpus {args.corpus} not found", file=sys.stderr)
        return 2
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="g2c-vs-nanogpt-") as scratch:
        scratch = Path(scratch)
        track = replace(get_track("ShakespeareLM"), corpus=args.corpus)
        prepared = prepare_track_corpus(track, scratch / "data", quiet=True)
        print(f"{args.corpus}: {len(prepared.train):,} train / {len(prepared.val):,} val+test "
              f"tokens, V={prepared.vocab_size}; {torch.get_num_threads()} threads; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        for round_number in range(1, args.rounds + 1):
            if args.nanogpt_dir:
                baseline = "nanoGPT's own train.py (2000 steps)"
                nano = run_nanogpt_itself(args.nanogpt_dir.resolve(), prepared, scratch)
            else:
                baseline = "nanoGPT recipe (2000 steps)"
                nano = run_nanogpt_recipe(prepared)
            rows.setdefault(baseline, []).append(nano)
            print(f"round {round_number}: {baseline} {nano['seconds']:.1f} s, val@64 "
                  f"{nano['val@64']:.4f}", flush=True)
            for fraction in args.fractions:
                for flags in ["", *args.also]:
                    run = run_g2c(args.corpus, fraction * nano["seconds"], scratch, prepared,
                                  flags)
                    name = f"g2c ShakespeareLM {flags} at {fraction:g}x".replace("  ", " ")
                    rows.setdefault(name, []).append(run)
                    print(f"  {name} ({run['seconds']:.1f} s, {run['steps']} steps): val@64 "
                          f"{run['val@64']:.4f}, val@128 {run['val@128']:.4f}", flush=True)
    keys = [f"{part}@{context}" for part in ("val", "test") for context in CONTEXTS]
    print(f"\nmedian (min-max) over {args.rounds} round(s); loss in nats per character")
    print(f"{'run':60s} {'seconds':>16s} " + " ".join(f"{k:>24s}" for k in keys))
    for name, runs in rows.items():
        print(f"{name:60s} {summary([r['seconds'] for r in runs]):>16s} "
              + " ".join(f"{summary([r[k] for r in runs]):>24s}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
