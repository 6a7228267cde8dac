"""Which recipe choices learn more per step and per second: ShakespeareLM side by side.

    python benchmarks/bench_recipe_choices.py                  # 3 seeds, 300 steps and 30 s
    python benchmarks/bench_recipe_choices.py --rounds 1 --variants muon+qk preset
    python benchmarks/bench_recipe_choices.py --variants --timed-variants adamw preset

Each variant changes the ShakespeareLM track's model and training in one
way (below) and trains on TinyShakespeare twice per round: for a fixed number
of steps (learning per step) and for a fixed time budget (learning per
second, what a user gets). Rounds are interleaved — round r runs every
variant with seed r — so the machine's drift hits all variants alike. Each
reports the validation loss (nats per character) on the first half of the
validation split — the half presets are chosen on; ``bench_vs_nanogpt.py``
reports the untouched second half — as median (min-max) over rounds, and
its tokens per second as a ratio to the first variant's in the same round.

ReLU² is written here, not in g2c: it did not win, so the library does not
carry it. "whole" orthogonalises attention's stacked q, k, v (and SwiGLU's
gate and value) as one matrix, as g2c's Muon did before it learned to take
them one map at a time. ``compile`` is ``torch.compile`` (inductor's C++
backend on a CPU); its compile time counts against the budget, as it does
for a user.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import types
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch
from torch.nn import functional as F

from g2c.app.pretrain import prepare_track_corpus
from g2c.app.tracks import get_track
from g2c.training import Trainer

ADAMW = {"optimizer": "adamw"}


def relu_squared(mlp, h):
    """The modded-nanoGPT MLP: down(relu(up(h))²), one (C, 4C) matrix, no gate."""
    return mlp.down(F.relu(mlp.up(h)).square())


# name -> changes to the ShakespeareLM preset: (model, training, extras). In order, the
# preset's history: AdamW with cosine; Muon; QK-norm (the preset of 2026-11-30 morning);
# warmup-stable-decay; Muon's stacked maps one at a time; Muon's rate retuned; the batch
# ramp (it starts after 366 steps, so only a long run sees it); the token shift (the preset).
NO_RAMP = {"batch_size": 16, "start_batch_size": None}
OLD = {"lr_schedule": "cosine", "muon_learning_rate": 0.05, **NO_RAMP}
NO_SHIFT = {"token_shift": False}
VARIANTS = {
    "adamw": ({**NO_SHIFT, "qk_norm": False}, {**ADAMW, **OLD}, ()),
    "adamw+qk": (NO_SHIFT, {**ADAMW, **OLD}, ()),
    "muon": ({**NO_SHIFT, "qk_norm": False}, OLD, ("whole",)),
    "muon+qk": (NO_SHIFT, OLD, ("whole",)),
    "muon+qk+wsd": (NO_SHIFT, {"muon_learning_rate": 0.05, **NO_RAMP}, ("whole",)),
    "muon+qk+wsd+maps": (NO_SHIFT, {"muon_learning_rate": 0.05, **NO_RAMP}, ()),
    "preset-no-ramp": (NO_SHIFT, NO_RAMP, ()),
    "preset-no-shift": (NO_SHIFT, {}, ()),
    "preset": ({}, {}, ()),
    "preset+relu2": ({"mlp": "gelu", "hidden_dim": 512}, {}, ("relu2",)),
    "preset+compile": ({}, {"compile": True}, ()),
}


def train(prepared, val, variant: str, seed: int, **limits) -> dict:
    model_changes, training_changes, extras = VARIANTS[variant]
    track = get_track("ShakespeareLM")
    config = replace(track.training, **training_changes, **limits, seed=seed,
                     eval_interval=10**9, val_tokens=None)
    torch.manual_seed(seed)
    model = replace(track.model, vocab_size=prepared.vocab_size, **model_changes).build()
    if "relu2" in extras:
        for block in model.blocks:
            block.mlp.forward = types.MethodType(relu_squared, block.mlp)
    if "whole" in extras:
        for module in model.modules():
            if hasattr(module, "stacked_maps"):
                module.stacked_maps = 1
    if config.compile:  # compile afresh, as a new process would (inductor's disk cache stays)
        torch.compiler.reset()
    trainer = Trainer(model, prepared.train, val, config, quiet=True)
    result = trainer.fit()
    return {"val": result.final_val_loss, "steps": result.steps,
            "tokens_per_second": result.timing["tokens_per_second"]}


def speed_ratios(runs: dict, mode: str, variant: str, baseline: str) -> list[float] | None:
    """Tokens per second over the baseline's, round by round (the budgeted runs include
    compile time, as a user's run does)."""
    mine, base = runs.get((mode, variant)), runs.get((mode, baseline))
    if not (mine and base):
        return None
    return [a["tokens_per_second"] / b["tokens_per_second"] for a, b in zip(mine, base)]


def summary(values: list[float], digits: int = 4) -> str:
    return (f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/data/tinyshakespeare.txt"))
    parser.add_argument("--rounds", type=int, default=3, help="seeds, interleaved (default 3)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS)[:-1],
                        choices=list(VARIANTS), help="the variants run for --steps steps")
    parser.add_argument("--timed-variants", nargs="*",
                        default=["adamw", "muon+qk", "preset", "preset+compile"],
                        choices=list(VARIANTS), help="the variants also run on the time budget")
    args = parser.parse_args()
    if not Path(args.corpus).is_file():
        print(f"corpus {args.corpus} not found", file=sys.stderr)
        return 2
    runs: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="g2c-recipe-") as scratch:
        prepared = prepare_track_corpus(replace(get_track("ShakespeareLM"), corpus=args.corpus),
                                        scratch, quiet=True)
        val = prepared.val[: len(prepared.val) // 2]
        for seed in range(args.rounds):
            for mode, limits, names in (
                    ("steps", {"max_steps": args.steps, "max_time": None}, args.variants),
                    ("time", {"max_steps": None, "max_time": args.seconds},
                     args.timed_variants)):
                for variant in names:
                    run = train(prepared, val, variant, seed, **limits)
                    runs.setdefault((mode, variant), []).append(run)
                    print(f"seed {seed} {mode:5s} {variant:14s} val {run['val']:.4f} "
                          f"({run['steps']} steps, {run['tokens_per_second']:,.0f} tok/s)",
                          flush=True)
    baseline = (args.variants or args.timed_variants)[0]
    print(f"\nmedian (min-max) over {args.rounds} seed(s); val loss in nats per character")
    print(f"{'variant':16s} {f'val at {args.steps} steps':>24s} "
          f"{f'val at {args.seconds:g} s':>24s} {'steps in the budget':>20s} "
          f"{'tokens/s vs ' + baseline:>20s}")
    for variant in dict.fromkeys(args.variants + args.timed_variants):
        fixed, timed = runs.get(("steps", variant)), runs.get(("time", variant))
        speed = speed_ratios(runs, "time", variant, baseline) or \
            speed_ratios(runs, "steps", variant, baseline)
        print(f"{variant:16s} {summary([r['val'] for r in fixed]) if fixed else '—':>24s} "
              f"{summary([r['val'] for r in timed]) if timed else '—':>24s} "
              f"{summary([r['steps'] for r in timed], 0) if timed else '—':>20s} "
              f"{summary(speed, 2) if speed else '—':>20s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
