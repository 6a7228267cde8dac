"""The Trainer: the loop that turns a token stream into a trained TransformerLM.

One optimizer step, the whole of what the course's loop does:

    for each of grad_accum_steps micro-batches:
        x, y = get_lm_batch(train_ids, B, T)        (B, T) windows, y shifted by one (or
                                                    batches.py's document windows, packed rows)
        loss = lm_cross_entropy(model(x), y)        forward (autocast if bf16); by default
                                                    as model(x, targets=y), the same loss
                                                    with the head and loss fused
        (loss / grad_accum_steps).backward()        gradients add up across micro-batches
    clip the global gradient norm, set the scheduled learning rate, AdamW (or Muon) step

The same loop runs one process or N (torchrun): parallelism is data. The
``DistributedContext`` says which rank this is (a single process is rank 0 of
1, whose collectives return their input); model → wrap (nothing, DDP or
FSDP2) → optimizer → ``torch.compile`` are built once, in ``__init__``.

Around the step sit the checks that make a run trustworthy: the step-0 loss is
compared with log(V) before any update (and is step 0's validation score), a
non-finite loss or gradient stops the run *before* the optimizer touches the
weights, evaluation always scores the same validation windows, and a checkpoint
holds every random stream so ``resume`` continues bit-exactly. Ctrl-C stops at
the next check, saves, returns. The loss stays on the device between log steps:
a step's one host read is the all-ranks "finite? stop? clock" agreement.

    trainer = Trainer(model, train_ids, val_ids, TrainingConfig(max_steps=2000),
                      checkpoint_path="run/checkpoint.pt")
    result = trainer.fit()          # TrainingResult: losses, history, timing
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch

from g2c.pretraining import InitialLossReport, initial_loss_check
from g2c.training.batches import TrainingBatches, check_training_data
from g2c.training.checkpoint import (
    capture_rng_state,
    check_resumable,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from g2c.training.config import TrainingConfig, run_identity
from g2c.training.cpu_tuning import CpuTuning
from g2c.training.cuda_math import configure_math
from g2c.training.device import select_device
from g2c.training.distributed import DistributedContext
from g2c.training.evaluation import ValidationSet, evaluate, evaluation_sets
from g2c.training.history import TrainingLog
from g2c.training.interrupt import stop_on_ctrl_c
from g2c.training.optimizer import build_optimizer
from g2c.training.parallel import (
    full_state_dicts,
    gradient_sync,
    load_full_state_dicts,
    unwrap_model,
    wrap_model,
)
from g2c.training.precision import TrainingPrecision
from g2c.training.progress import ProgressReporter
from g2c.training.schedule import StepBudget, StepSizes, make_schedule
from g2c.training.step_guard import StepGuard
from g2c.training.timing import LoopTiming


class InitialLossError(ValueError):
    """The step-0 loss is far from log(V): training on it would hide a bug."""


@dataclass
class TrainingResult:
    """What a finished (or interrupted) ``fit`` reports; all losses in nats per token."""

    steps: int
    tokens_seen: int
    elapsed: float  # seconds inside the training loop (the part max_time limits)
    stopped: str  # "max_steps", "max_time" or "interrupted"
    initial_check: dict
    final_train_loss: float | None
    final_val_loss: float | None
    final_val_bpb: float | None  # bits per byte of the validation text (needs token_bytes)
    val_tokens: int
    skipped_steps: int  # steps left out: a non-finite loss or gradient, an fp16 overflow
    history: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)


class Trainer:
    """Train ``model`` on ``train_ids``, measuring on fixed windows of ``val_ids``.

    Args:
        model: a module mapping (B, T) ids to (B, T, V) logits (TransformerLM).
        train_ids, val_ids: 1-D token streams (tensor, numpy array or memmap).
        config: a :class:`TrainingConfig`.
        context: this process's place in a torchrun job (``init_distributed``);
            None: one process on ``config.device``.
        fsdp: shard the model with FSDP2 instead of replicating it with DDP.
        train_documents, eot_id: the split's document offsets and the
            ``<|endoftext|>`` id, for the "documents" and "packed" batch modes.
        token_bytes: (V,) UTF-8 bytes per token id (``tokenizer.token_byte_lengths()``):
            evaluations then also report bits per byte.
        on_log: called with one dict per log step on rank 0 (step, tokens, seconds,
            train_loss, lr, grad_norm, tokens_per_second; val_loss and val_bpb when
            evaluated), e.g. to write metrics.jsonl.
        checkpoint_path: where checkpoints go (None: never written).
        metadata: JSON-able description of the model and data; stored in
            checkpoints, and a resume whose metadata differs is refused.
        quiet: log lines instead of a progress bar.
    """

    def __init__(self, model, train_ids, val_ids, config: TrainingConfig, *,
                 context: DistributedContext | None = None, fsdp: bool = False,
                 train_documents=None, eot_id: int | None = None, token_bytes=None,
                 checkpoint_path: str | os.PathLike | None = None, metadata: dict | None = None,
                 on_log=None, quiet: bool = False) -> None:
        if not isinstance(config, TrainingConfig):
            raise TypeError(f"config must be a TrainingConfig; got {type(config).__name__}")
        check_training_data(model, train_ids, val_ids, config.context_length)
        self.config, self.quiet = config, quiet
        self.context = context or DistributedContext(device=select_device(config.device))
        self.device = self.context.device
        # TF32 on CUDA, deterministic kernels if asked: before the first CUDA matmul.
        self.math = configure_math(self.device, deterministic=config.deterministic)
        self.metadata, self.checkpoint_path = dict(metadata or {}), checkpoint_path
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.cpu_tuning = CpuTuning(config.cpu_tuning, self.device)
        self.precision = TrainingPrecision(config.precision, self.device,
                                           native_cpu_bf16=self.cpu_tuning.native_bf16)
        self.cpu_tuning.prepare(model, self.precision.precision)
        if hasattr(model, "check_inputs"):
            model.check_inputs = False  # our batches are valid by construction
        # Built once, in this order: FSDP2 turns parameters into sharded DTensors, so the optimizer
        # must see the wrapped model; compile traces it, a graph per batch size (benchmarks.md).
        self.model = wrap_model(model, self.context, fsdp=fsdp, precision=self.precision.precision)
        self.optimizer = build_optimizer(self.model, config, self.device)
        self.forward_model = (torch.compile(self.model, dynamic=False) if config.compile
                              else self.model)
        # Evaluation runs the module itself: no DDP gradient hooks, no recompiles for
        # other batch shapes (FSDP2 shards in place, so its model is the module).
        self.eval_model = unwrap_model(self.model)
        self.batches = TrainingBatches(train_ids, config, train_documents=train_documents,
                                       eot_id=eot_id)
        self.generator = self.context.batch_generator(config.seed)
        self.tokens_per_window = (config.context_length * config.grad_accum_steps
                                  * self.context.world_size)  # over all ranks
        start = min(config.start_batch_size or config.batch_size, config.batch_size)
        self.step_sizes = StepSizes(config.batch_size * self.tokens_per_window,  # the ramp
                                    start * self.tokens_per_window, config.batch_ramp_tokens)
        self.validation, self.train_probe = evaluation_sets(
            train_ids, val_ids, config, world_size=self.context.world_size,
            token_bytes=token_bytes)
        self.budget = StepBudget(config.max_steps, config.max_time, make_schedule(config),
                                 self.step_sizes)
        self._eval_overhead = 0.0  # evaluation seconds per step, for fixing a time budget
        self.step, self.elapsed, self.tokens_seen = 0, 0.0, 0
        self.initial_check: dict | None = None
        self.log = TrainingLog(self.device, on_log=on_log if self.context.is_main else None)
        self._last_lr = config.learning_rate
        self._stop_requested = False  # this rank's wish (Ctrl-C)
        self._stopping = False  # what all ranks agreed at the last check
        self.guard, self._clock_start = StepGuard(self.device), 0.0
        self._last_checkpoint_step: int | None = None

    # ---- checkpoints: gathered to rank 0, restored on every rank -------------------------

    def state_dict(self) -> dict:
        """Everything ``resume`` needs (a collective under torchrun: every rank calls it)."""
        model_state, optimizer_state = full_state_dicts(self.model, self.optimizer)
        return {
            "model": model_state, "optimizer": optimizer_state,
            "precision": self.precision.state_dict(), "world_size": self.context.world_size,
            "rng": self.context.gather_objects(capture_rng_state(self.generator)),
            "step": self.step, "elapsed": self.elapsed, "tokens_seen": self.tokens_seen,
            "budget": self.budget.state_dict(), "skipped": self.guard.skipped,
            "config": self.config.to_dict(), "metadata": self.metadata,
            "initial_check": self.initial_check, "log": self.log.state_dict(),
            "last_lr": self._last_lr,
        }

    def model_state_dict(self) -> dict:
        """The whole model's weights, keyed as in the plain model (a collective under torchrun:
        FSDP2 gathers the shards), for writing an artifact."""
        return full_state_dicts(self.model, self.optimizer)[0]

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        state = self.state_dict()
        if self.context.is_main:
            save_checkpoint(self.checkpoint_path, state, previous_step=self._last_checkpoint_step)
        self._last_checkpoint_step = self.step
        self.context.barrier()

    def resume(self, path: str | os.PathLike) -> None:
        """Load a checkpoint of *this* run (same config, metadata and world size) and continue.

        Every rank reads the file, keeps its shard and its own random streams.
        """
        state = load_checkpoint(path)
        check_resumable(state, path, world_size=self.context.world_size,
                        identity=run_identity(self.config.to_dict(), self.metadata))
        load_full_state_dicts(self.model, self.optimizer, state["model"], state["optimizer"])
        self.precision.load_state_dict(state["precision"])
        restore_rng_state(state["rng"][self.context.rank], self.generator)
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.budget.load_state_dict(state["budget"])
        self.guard.skipped, self.guard.checked_step = state["skipped"], self.step
        self.tokens_seen = state["tokens_seen"]
        self.initial_check, self._last_lr = state["initial_check"], state["last_lr"]
        self.log.load_state_dict(state["log"])
        self._last_checkpoint_step = self.step

    def check_initial_loss(self) -> InitialLossReport:
        """Step-0 check on the first validation windows; raise if the loss is far from log(V)."""
        x = self.validation.x[: self.config.batch_size].to(self.device)
        y = self.validation.y[: self.config.batch_size].to(self.device)
        report = initial_loss_check(self.eval_model, x, y)
        self.initial_check = {"loss": report.loss, "log_vocab": report.log_vocab,
                              "verdict": report.verdict}
        if report.verdict != "ok" and not self.config.ignore_initial_loss_check:
            raise InitialLossError(
                report.explain() + "\nTraining stopped before the first update (a model that "
                "starts far from log(V) hides a bug: tied weights, a scaled init, leaked "
                "targets). If it is meant to start there (fine-tuning), pass "
                "--ignore-initial-loss-check.")
        return report

    def fit(self) -> TrainingResult:
        """Train until max_steps, max_time or Ctrl-C; evaluate at the end; return the result."""
        config = self.config
        progress = ProgressReporter(max_steps=config.max_steps, max_time=config.max_time,
                                    quiet=self.quiet, start_step=self.step,
                                    start_elapsed=self.elapsed, enabled=self.context.is_main)
        try:
            with stop_on_ctrl_c(self.request_stop), self.cpu_tuning.running(
                    max_time=config.max_time, threads=config.threads, compiled=config.compile):
                return self._fit(progress)
        finally:
            progress.close()

    def request_stop(self) -> None:
        """Stop at the next check (step_guard.py), with a checkpoint, as Ctrl-C does."""
        self._stop_requested = True

    def _fit(self, progress: ProgressReporter) -> TrainingResult:
        config = self.config
        self._clock_start = time.perf_counter() - self.elapsed  # a resumed run keeps its clock
        if self.initial_check is None:
            started = time.perf_counter()
            report = self.check_initial_loss()
            progress.message(report.explain())
            self.log.emit({"step": 0, "tokens": 0, "seconds": 0.0,
                           **self._validate_step_zero(report, time.perf_counter() - started)})
        else:
            progress.message(f"resuming at step {self.step} ({self.tokens_seen:,} tokens seen)")
        self._timing = LoopTiming()
        loop_start, start_step, start_tokens = time.perf_counter(), self.step, self.tokens_seen
        last_val = self.log.history["val"][-1][1]
        while (stopped := self._stop_reason()) is None:
            learning_rate = self.budget.learning_rate(self.step)
            for group in self.optimizer.param_groups:  # Muon's matrices: their own peak
                group["lr"] = learning_rate * group.get("lr_scale", 1.0)
            compute_start = time.perf_counter()
            step_tokens = self.step_sizes.at(self.tokens_seen)  # B·T·accum·ranks: the ramp's
            self._train_step(step_tokens // self.tokens_per_window)  # B windows per micro-batch
            step_seconds = time.perf_counter() - compute_start
            self._timing.add("compute", step_seconds)
            self.cpu_tuning.record_step(step_seconds)
            self.step += 1
            self.tokens_seen += step_tokens
            self.elapsed = time.perf_counter() - self._clock_start
            evaluate_now = self.step % config.eval_interval == 0
            checkpoint_now = self.step % (config.checkpoint_interval or self.step + 1) == 0
            if (self.step % config.log_interval == 0 or evaluate_now or checkpoint_now
                    or self.budget.reached(self.step)):
                self._check(progress)  # the one host read and collective, not every step
                self.budget.record(step=self.step, elapsed=self.elapsed, tokens=self.tokens_seen,
                                   overhead_per_step=self._eval_overhead)
            self._last_lr = learning_rate
            rate = (self.tokens_seen - start_tokens) / max(time.perf_counter() - loop_start, 1e-9)
            evaluate_now = evaluate_now and not self.budget.reached(self.step)  # else: after
            record = None
            if self.step % config.log_interval == 0 or evaluate_now:
                record = self._close_window(tokens_per_second=rate)
                if evaluate_now:
                    record.update(self._timing.timed("evaluation", self._evaluate_val))
                    last_val = record["val_loss"]
                    progress.evaluation(record)
                self.log.emit(record)
            progress.update(step=self.step, elapsed=time.perf_counter() - self._clock_start,
                            tokens_per_second=rate, val_loss=last_val,
                            train_loss=None if record is None else record["train_loss"])
            if checkpoint_now:
                self._timing.timed("checkpoint", self.save_checkpoint)
        timing = self._timing.summary(time.perf_counter() - loop_start, self.step - start_step,
                                      self.tokens_seen - start_tokens)
        progress.close()  # the bar ends with the training loop; final evaluation follows
        if self.cpu_tuning.thread_guard is not None:
            timing["thread_switches"] = self.cpu_tuning.thread_guard.switches
        if stopped == "interrupted":
            self.save_checkpoint()
            progress.message(f"interrupted at step {self.step}; " + (
                f"checkpoint saved to {self.checkpoint_path}" if self.checkpoint_path else
                "no checkpoint_path was set, so nothing was saved"))
            return self._result(stopped, None, timing)
        if self.log.window_steps:  # the last, shorter window of a run that ended between logs
            self.log.emit(self._close_window(tokens_per_second=timing["tokens_per_second"]))
        # The final train loss is scored like validation (fixed windows), not a running mean.
        final = {"step": self.step, "tokens": self.tokens_seen, "seconds": self.elapsed,
                 "final_train_loss": self._score(self.train_probe), **self._evaluate_val(),
                 "tokens_per_second": timing["tokens_per_second"]}
        progress.evaluation({**final, "train_loss": final["final_train_loss"]})
        self.log.emit(final)
        self.save_checkpoint()
        return self._result(stopped, final, timing)

    def _train_step(self, batch_size: int) -> None:
        """One optimizer step (all micro-batches); a non-finite loss or gradient skips it."""
        config = self.config
        loss_sum = torch.zeros((), device=self.device)
        for i in range(config.grad_accum_steps):
            x, y, inputs = self._timing.timed(
                "sampling", lambda: self.batches.draw(self.generator, self.device, batch_size))
            # Under DDP/FSDP gradients are averaged across ranks on the last micro-step only.
            with gradient_sync(self.model, enabled=i == config.grad_accum_steps - 1):
                loss = self.precision.loss(self.forward_model, x, y, fused=config.fused_loss,
                                           z_loss=config.z_loss, **inputs)
                self.precision.backward(loss / config.grad_accum_steps)
            loss_sum += loss.detach()
        norm = self.precision.unscale_and_clip(self.optimizer, max_grad_norm=config.grad_clip)
        mean_loss = loss_sum / config.grad_accum_steps
        # fp16's scaler skips overflowed steps itself; any other inf/NaN skips the step on
        # the device (step_guard.py) and is counted: nothing is read back here.
        broken = ~torch.isfinite(mean_loss)
        if self.precision.scaler is None:
            broken |= ~torch.isfinite(norm)
        self.precision.step(self.optimizer, skip=broken)
        self.optimizer.zero_grad(set_to_none=True)
        self.guard.note(self.step + 1, broken, mean_loss, norm)
        kept = ~broken
        self.log.add_step(torch.where(kept, mean_loss, 0.0), torch.where(kept, norm, 0.0), kept)

    def _check(self, progress: ProgressReporter) -> None:
        """Agree with every rank on divergence, Ctrl-C and the clock (see step_guard.py)."""
        self._stopping, self.elapsed, skipped = self.guard.check(
            self.context, step=self.step, stop_requested=self._stop_requested,
            elapsed=self.elapsed, checkpoint=(self._last_checkpoint_step, self.checkpoint_path))
        if skipped:
            progress.message(f"skipped {skipped} step(s) with a non-finite loss or gradient "
                             f"before step {self.step}; the weights never saw them")

    def _close_window(self, *, tokens_per_second: float) -> dict:
        return self.log.close_window(step=self.step, tokens=self.tokens_seen,
                                     seconds=self.elapsed, lr=self._last_lr,
                                     tokens_per_second=tokens_per_second)

    def _score(self, windows: ValidationSet) -> float:
        """Mean loss on fixed windows: each rank scores its equal share, the means are averaged.

        Under FSDP2 every rank must run the same number of forwards (each is a
        collective), which the equal shares guarantee.
        """
        share = list(self.context.share_of(len(windows.x)))
        local = evaluate(self.eval_model, windows.subset(share),
                         batch_size=self.config.eval_batch_size, device=self.device,
                         autocast=self.precision.autocast, fused=self.config.fused_loss)
        return self.context.mean_across_ranks(local)

    def _validate_step_zero(self, report: InitialLossReport, check_seconds: float) -> dict:
        """Step 0's validation score, and what evaluating costs a time budget per step.

        A fresh model that passed the check is near-uniform on every token, so the check's
        first B windows measure its loss (within 0.005 of all 512 of ShakespeareLM's, 4
        seeds, which take ~0.9 s: 4% of a 21 s budget); any other model is scored on all."""
        if report.verdict != "ok":
            started = time.perf_counter()
            scored, seconds = self._evaluate_val(), time.perf_counter() - started
        else:
            scored = self.log.add_validation(0, report.loss,
                                             self.validation.bits_per_byte(report.loss))
            checked = min(self.config.batch_size, len(self.validation.x))
            seconds = check_seconds * len(self.validation.x) / self.context.world_size / checked
        self._eval_overhead = self.context.mean_across_ranks(seconds) / self.config.eval_interval
        return scored

    def _evaluate_val(self) -> dict:
        """Score the validation windows: ``{"val_loss": nats/token, "val_bpb": bits/byte}``."""
        loss = self._score(self.validation)
        return self.log.add_validation(self.step, loss, self.validation.bits_per_byte(loss))

    def _stop_reason(self) -> str | None:
        """Why the run ends now, from values every rank agreed on (so all stop together)."""
        if self._stopping:
            return "interrupted"
        if not self.budget.reached(self.step):
            return None
        by_time = self.config.max_time is not None and self.step != self.config.max_steps
        return "max_time" if by_time else "max_steps"

    def _result(self, stopped: str, final: dict | None, timing: dict) -> TrainingResult:
        final = final or {}
        return TrainingResult(
            steps=self.step, tokens_seen=self.tokens_seen, elapsed=self.elapsed, stopped=stopped,
            initial_check=dict(self.initial_check or {}),
            final_train_loss=final.get("final_train_loss"), final_val_loss=final.get("val_loss"),
            final_val_bpb=final.get("val_bpb"), val_tokens=self.validation.num_tokens,
            skipped_steps=self.precision.skipped_steps + self.guard.skipped,
            history=self.log.history, timing=timing,
        )
