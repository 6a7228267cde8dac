"""Run by torchrun from tests/test_distributed_pretrain.py (not collected by pytest).

Every rank trains a tiny model three ways with the Trainer:
  A  6 steps without a break
  B  the same run, stopped after step 3 because rank 1 alone asked to stop
     (as after Ctrl-C): every rank must stop there and a checkpoint is written
  C  a fresh model resumed from B's checkpoint, trained to step 6
Rank 0 writes A's and C's final weights and losses to OUT for the test to compare.
"""

import sys
from pathlib import Path

import numpy as np
import torch

from g2c.training import Trainer, TrainingConfig
from g2c.training.distributed import destroy_distributed, init_distributed

VOCAB, CONTEXT = 24, 16


def stream(n=4000):
    rng = np.random.default_rng(0)
    return np.tile(rng.integers(0, VOCAB, 11), n // 11 + 1)[:n].astype(np.uint16)


def trainer(context, checkpoint, fsdp):
    from g2c.transformer import TransformerLM

    torch.manual_seed(0)
    model = TransformerLM(VOCAB, 32, 2, 4, CONTEXT)
    config = TrainingConfig(batch_size=2, context_length=CONTEXT, learning_rate=3e-3,
                            warmup_steps=2, max_steps=6, eval_interval=3, log_interval=1,
                            grad_accum_steps=2, device="cpu", precision="fp32")
    ids = stream()
    return Trainer(model, ids[:3500], ids[3500:], config, context=context, fsdp=fsdp,
                   checkpoint_path=checkpoint, quiet=True)


def main(out: Path, fsdp: bool) -> None:
    context = init_distributed(device="cpu", timeout_seconds=60)
    try:
        a = trainer(context, out / "a.pt", fsdp)
        result_a = a.fit()
        b = trainer(context, out / "b.pt", fsdp)
        train_step = b._train_step

        def stop_during_step_3_on_rank_1(batch_size):
            if b.step == 2 and context.rank == 1:  # b.step counts completed steps
                b.request_stop()  # what Ctrl-C does
            train_step(batch_size)

        b._train_step = stop_during_step_3_on_rank_1
        result_b = b.fit()
        assert result_b.stopped == "interrupted" and result_b.steps == 3, result_b
        c = trainer(context, out / "b.pt", fsdp)
        c.resume(out / "b.pt")
        result_c = c.fit()
        states = [t.model_state_dict() for t in (a, c)]
        if context.is_main:
            torch.save({"a": states[0], "c": states[1], "val": [result_a.final_val_loss,
                        result_c.final_val_loss], "tokens": [result_a.tokens_seen,
                        result_c.tokens_seen]}, out / "result.pt")
    finally:
        destroy_distributed()


if __name__ == "__main__":
    main(Path(sys.argv[1]), fsdp="--fsdp" in sys.argv)
