"""The Trainer: the loop that turns a token stream into a trained TransformerLM.

One optimizer step, the whole of what the course's loop does:

    for each of grad_accum_steps micro-batches:
        x, y = get_lm_batch(train_ids, B, T)        (B, T) windows, y shifted by one
                                                    (batch_mode="packed": get_packed_batch,
                                                    rows of whole documents: batches.py)
        loss = lm_cross_entropy(model(x), y)        forward (autocast if bf16); by default
                                                    as model(x, targets=y), the same loss
                                                    with the head and loss fused
        (loss / grad_accum_steps).backward()        gradients add up across micro-batches
    clip the global gradient norm, set the scheduled learning rate, AdamW step

Around it sit the checks that make a run trustworthy: the step-0 loss is
compared with log(V) before any update (see ``g2c.pretraining.initial_check``),
a NaN/inf loss stops the run *before* it can reach the weights, evaluation
always scores the same validation windows, and a checkpoint holds every
random stream so ``resume`` continues bit-exactly. Ctrl-C finishes the
current step, saves a checkpoint and returns.

    trainer = Trainer(model, train_ids, val_ids, TrainingConfig(max_steps=2000),
                      checkpoint_path="run/checkpoint.pt")
    result = trainer.fit()          # TrainingResult: losses, history, timing
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import torch

from g2c.pretraining import InitialLossReport, initial_loss_check
from g2c.pretraining.token_stream import check_token_stream
from g2c.training.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from g2c.training.batches import TrainingBatches
from g2c.training.config import TrainingConfig, describe_differences, run_identity
from g2c.training.denormals import flush_denormals
from g2c.training.device import select_device
from g2c.training.distributed import gradient_sync
from g2c.training.evaluation import evaluate, validation_windows
from g2c.training.optimizer import build_adamw
from g2c.training.precision import TrainingPrecision
from g2c.training.progress import ProgressReporter
from g2c.training.schedule import WarmupCosineSchedule
from g2c.training.threads import ThreadGuard


class InitialLossError(ValueError):
    """The step-0 loss is far below log(V): training on it would hide a bug."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the weights were not updated with it."""


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
    val_tokens: int
    history: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)


class Trainer:
    """Train ``model`` on ``train_ids``, measuring on fixed windows of ``val_ids``.

    Args:
        model: a module mapping (B, T) ids to (B, T, V) logits (TransformerLM).
        train_ids, val_ids: 1-D token streams (tensor, numpy array or memmap).
        config: a :class:`TrainingConfig`.
        train_documents, eot_id: the split's document offsets and the
            ``<|endoftext|>`` id, for ``config.batch_mode == "packed"``
            (see :class:`~g2c.training.batches.TrainingBatches`).
        checkpoint_path: where checkpoints go (None: never written).
        metadata: JSON-able description of the model and data; stored in
            checkpoints, and a resume whose metadata differs is refused.
        quiet: log lines instead of a progress bar.
    """

    def __init__(self, model, train_ids, val_ids, config: TrainingConfig, *,
                 train_documents=None, eot_id: int | None = None,
                 checkpoint_path: str | os.PathLike | None = None, metadata: dict | None = None,
                 quiet: bool = False) -> None:
        if not isinstance(config, TrainingConfig):
            raise TypeError(f"config must be a TrainingConfig; got {type(config).__name__}")
        check_token_stream("train_ids", train_ids)
        max_len = getattr(model, "max_seq_len", None)
        if max_len is not None and config.context_length > max_len:
            raise ValueError(
                f"context_length={config.context_length} is longer than the model's "
                f"max_seq_len={max_len}; use --context-length {max_len} or less, or a longer model"
            )
        if len(train_ids) < config.context_length + 1:
            raise ValueError(f"the training split has {len(train_ids):,} tokens; context_length="
                             f"{config.context_length} needs at least {config.context_length + 1}")
        self.config = config
        self.metadata = dict(metadata or {})
        self.checkpoint_path = checkpoint_path
        self.quiet = quiet
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.device = select_device(config.device)
        self.model = model.to(self.device)
        self.batches = TrainingBatches(train_ids, config, train_documents=train_documents,
                                       eot_id=eot_id)
        self.validation = validation_windows(val_ids, config.context_length,
                                             min_windows=config.batch_size,
                                             max_tokens=config.val_tokens)
        # The final train loss is scored like the validation loss: fixed windows, same count.
        self.train_probe = validation_windows(train_ids, config.context_length,
                                              max_tokens=self.validation.num_tokens)
        self.precision = TrainingPrecision(config.precision, self.device)
        self.optimizer = build_adamw(model, learning_rate=config.learning_rate,
                                     weight_decay=config.weight_decay,
                                     betas=(config.beta1, config.beta2), device=self.device)
        self.schedule = WarmupCosineSchedule(config.learning_rate, config.min_lr_ratio,
                                             config.warmup_steps, config.max_steps, config.max_time)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.tokens_per_step = config.tokens_per_step  # all ranks together (distributed_run.py)
        # torch.compile traces the model on its first call; evaluation keeps the
        # plain module (other batch shapes would trigger recompiles).
        self.forward_model = torch.compile(model) if config.compile else model
        # Only wall-clock-budgeted CPU runs adapt their thread count (see threads.py).
        adapt = (self.device.type == "cpu" and config.max_time is not None
                 and config.threads is None and torch.get_num_threads() > 1)
        self.thread_guard = ThreadGuard(torch.get_num_threads()) if adapt else None
        self.step = 0
        self.elapsed = 0.0
        self.tokens_seen = 0
        self.initial_check: dict | None = None
        self.history = {"train": [], "val": [], "lr": []}
        # Sum and count of training losses since the last history record; part
        # of the checkpoint, so a resumed run's records match an unbroken run's.
        self._window = [0.0, 0]
        self._last_lr = config.learning_rate
        self._stop_requested = False
        self._last_checkpoint_step: int | None = None

    # ---- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "precision": self.precision.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "tokens_seen": self.tokens_seen,
            "rng": capture_rng_state(self.generator),
            "config": self.config.to_dict(),
            "metadata": self.metadata,
            "initial_check": self.initial_check,
            "history": self.history,
            "loss_window": list(self._window),
            "last_lr": self._last_lr,
        }

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is not None:
            save_checkpoint(self.checkpoint_path, self.state_dict())
            self._last_checkpoint_step = self.step

    def resume(self, path: str | os.PathLike) -> None:
        """Load a checkpoint of *this* run (same config and metadata) and continue from it."""
        state = load_checkpoint(path)
        differences = describe_differences(run_identity(state["config"], state["metadata"]),
                                           run_identity(self.config.to_dict(), self.metadata))
        if differences:
            raise ValueError(f"cannot resume from {path}: it belongs to a different run ("
                             + "; ".join(differences) + ")")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.precision.load_state_dict(state["precision"])
        restore_rng_state(state["rng"], self.generator)
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.tokens_seen = state["tokens_seen"]
        self.initial_check, self.history = state["initial_check"], state["history"]
        self._window, self._last_lr = list(state["loss_window"]), state["last_lr"]
        self._last_checkpoint_step = self.step

    # ---- the loop ----------------------------------------------------------------------

    def check_initial_loss(self) -> InitialLossReport:
        """Step-0 check on the first validation windows; raise if the loss is far below log(V)."""
        x = self.validation.x[: self.config.batch_size].to(self.device)
        y = self.validation.y[: self.config.batch_size].to(self.device)
        report = initial_loss_check(self.model, x, y)
        self.initial_check = {"loss": report.loss, "log_vocab": report.log_vocab,
                              "verdict": report.verdict}
        if report.verdict == "too_low" and not self.config.ignore_initial_loss_check:
            raise InitialLossError(
                report.explain() + "\nTraining stopped before the first update. If the model is "
                "meant to start trained (fine-tuning), pass --ignore-initial-loss-check."
            )
        return report

    def fit(self) -> TrainingResult:
        """Train until max_steps, max_time or Ctrl-C; evaluate at the end; return the result."""
        progress = self._progress_reporter()
        previous_handler = self._install_interrupt_handler()
        try:
            with flush_denormals(self.device.type == "cpu"):
                return self._fit(progress)
        finally:
            progress.close()
            if self.thread_guard is not None:
                self.thread_guard.restore()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)

    def _progress_reporter(self) -> ProgressReporter:
        return ProgressReporter(max_steps=self.config.max_steps, max_time=self.config.max_time,
                                quiet=self.quiet, start_step=self.step, start_elapsed=self.elapsed)

    def _any_rank(self, flag: bool) -> bool:
        """``flag`` here; True on every rank if true on any in a distributed run."""
        return flag

    def _fit(self, progress: ProgressReporter) -> TrainingResult:
        config = self.config
        clock_start = time.perf_counter() - self.elapsed  # a resumed run keeps its clock
        if self.initial_check is None:
            progress.message(self.check_initial_loss().explain())
        else:
            progress.message(f"resuming at step {self.step} ({self.tokens_seen:,} tokens seen)")
        self._timing = {"compute": 0.0, "sampling": 0.0, "evaluation": 0.0, "checkpoint": 0.0}
        loop_start, start_step = time.perf_counter(), self.step
        last_val = None
        while True:
            self.elapsed = time.perf_counter() - clock_start
            stopped = self._stop_reason()
            if stopped is not None:
                break
            learning_rate = self.schedule.learning_rate(self.step, self.elapsed)
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
            compute_start = time.perf_counter()
            loss = self._train_step()
            step_seconds = time.perf_counter() - compute_start
            self._timing["compute"] += step_seconds
            if self.thread_guard is not None:
                self.thread_guard.record(step_seconds)
            self.step += 1
            self.tokens_seen += self.tokens_per_step
            self._window[0] += loss
            self._window[1] += 1
            self._last_lr = learning_rate
            rate = (self.step - start_step) * self.tokens_per_step / max(
                time.perf_counter() - loop_start, 1e-9)
            if self.step % config.log_interval == 0:
                self._log_window()
            progress.update(step=self.step, elapsed=time.perf_counter() - clock_start,
                            train_loss=loss, val_loss=last_val, tokens_per_second=rate)
            if self.step % config.eval_interval == 0 and self._stop_reason() is None:
                last_val = self._timed("evaluation", self._evaluate_val)
                progress.evaluation(step=self.step, elapsed=self.elapsed, train_loss=loss,
                                    val_loss=last_val, tokens_per_second=rate)
            if config.checkpoint_interval and self.step % config.checkpoint_interval == 0:
                self._timed("checkpoint", self.save_checkpoint)
        timing = self._timing_summary(time.perf_counter() - loop_start, self.step - start_step)
        progress.close()  # the bar ends with the training loop; final evaluation follows
        if self.thread_guard is not None:  # the final evaluations keep the faster count
            timing["thread_switches"] = self.thread_guard.switches
        if stopped == "interrupted":
            self.save_checkpoint()
            progress.message(f"interrupted at step {self.step}; " + (
                f"checkpoint saved to {self.checkpoint_path}" if self.checkpoint_path else
                "no checkpoint_path was set, so nothing was saved"))
            return self._result(stopped, None, None, timing)
        if self._window[1]:
            self._log_window()  # the last, shorter window of a run that ended between logs
        final_val = self._evaluate_val()
        final_train = self._score(self.model, self.train_probe)
        progress.evaluation(step=self.step, elapsed=self.elapsed, train_loss=final_train,
                            val_loss=final_val, tokens_per_second=timing["tokens_per_second"])
        self.save_checkpoint()
        return self._result(stopped, final_train, final_val, timing)

    def _log_window(self) -> None:
        """Record the mean training loss since the last record (and the learning rate)."""
        self.history["train"].append((self.step, self._window[0] / self._window[1]))
        self.history["lr"].append((self.step, self._last_lr))
        self._window = [0.0, 0]

    def _timed(self, name: str, action):
        started = time.perf_counter()
        try:
            return action()
        finally:
            self._timing[name] += time.perf_counter() - started

    def _train_step(self) -> float:
        """One optimizer step (all micro-batches); returns the mean loss. Refuses NaN/inf."""
        config = self.config
        total = 0.0
        for i in range(config.grad_accum_steps):
            x, y, packed = self._timed(
                "sampling", lambda: self.batches.draw(self.generator, self.device))
            # Under DDP/FSDP gradients are averaged across ranks on the last micro-step only.
            with gradient_sync(self.model, enabled=i == config.grad_accum_steps - 1):
                loss = self.precision.loss(self.forward_model, x, y, fused=config.fused_loss,
                                           **packed)
                self.precision.backward(loss / config.grad_accum_steps)
            total += float(loss.detach())
        mean = total / config.grad_accum_steps
        if self._any_rank(not math.isfinite(mean)):  # every rank stops, or none
            self.optimizer.zero_grad(set_to_none=True)
            kept = (f"the last good checkpoint (step {self._last_checkpoint_step}) is kept at "
                    f"{self.checkpoint_path}" if self._last_checkpoint_step is not None else
                    "no checkpoint had been written yet")
            raise TrainingDiverged(
                f"the training loss became {mean} at step {self.step + 1}; stopped before it "
                f"could change the weights, and {kept}. Try a lower learning_rate or grad_clip."
            )
        self.precision.step(self.optimizer, max_grad_norm=config.grad_clip)
        self.optimizer.zero_grad(set_to_none=True)
        return mean

    def _score(self, model: torch.nn.Module, windows) -> float:
        """Mean loss of ``model`` on fixed windows, computed the way this run computes its loss."""
        return evaluate(model, windows, batch_size=self.config.eval_batch_size, device=self.device,
                        autocast=self.precision.autocast, fused=self.config.fused_loss)

    def _evaluate_val(self) -> float:
        loss = self._score(self.model, self.validation)
        self.history["val"].append((self.step, loss))
        return loss

    def _stop_reason(self) -> str | None:
        if self._stop_requested:
            return "interrupted"
        if self.config.max_steps is not None and self.step >= self.config.max_steps:
            return "max_steps"
        if self.config.max_time is not None and self.elapsed >= self.config.max_time:
            return "max_time"
        return None

    def _timing_summary(self, loop_seconds: float, steps_run: int) -> dict:
        """Throughput, and the share of step time spent outside forward/backward/optimizer.

        "Compute" is forward + backward + clipping + the AdamW step; everything
        else in a step — drawing the batch, the schedule, logging, bookkeeping —
        is overhead. Evaluation and checkpoint time are reported on their own.
        """
        timing = dict(self._timing)
        compute = timing["compute"] - timing["sampling"]
        step_seconds = loop_seconds - timing["evaluation"] - timing["checkpoint"]
        timing.update(
            loop=loop_seconds,
            steps=steps_run,
            tokens_per_second=steps_run * self.tokens_per_step / max(loop_seconds, 1e-9),
            overhead_fraction=max(step_seconds - compute, 0.0) / max(step_seconds, 1e-9),
        )
        return timing

    def _result(self, stopped, final_train, final_val, timing) -> TrainingResult:
        return TrainingResult(
            steps=self.step, tokens_seen=self.tokens_seen, elapsed=self.elapsed, stopped=stopped,
            initial_check=dict(self.initial_check or {}), final_train_loss=final_train,
            final_val_loss=final_val, val_tokens=self.validation.num_tokens,
            history=self.history, timing=timing,
        )

    def _install_interrupt_handler(self):
        """Ctrl-C asks the loop to stop after the current step; a second Ctrl-C aborts."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def request_stop(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True

        return signal.signal(signal.SIGINT, request_stop)
