"""TrainingConfig: every number that decides how a run trains, in one checked record.

The config is plain data (ints, floats, strings), so it goes into checkpoints
and ``manifest.json`` as JSON and comes back equal. Two runs with equal
configs, models and data follow the same loss curve; that is what lets
``--resume`` refuse a checkpoint whose config differs.

    TrainingConfig(batch_size=16, context_length=64, max_steps=2000)
    TrainingConfig(max_steps=None, max_time=76.0)   # a wall-clock budget
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from g2c.training.device import check_device_name
from g2c.training.schedule import LR_SCHEDULES
from g2c.validation import (
    require_bool,
    require_choice,
    require_non_negative_int,
    require_positive_int,
)

# Fields that change what a run *shows*, not what it computes: a resumed run
# may set them differently without breaking the bit-exact continuation.
PRESENTATION_FIELDS = ("log_interval", "checkpoint_interval", "device")
BATCH_MODES = ("windows", "documents", "packed")  # see TrainingConfig.batch_mode
OPTIMIZERS = ("adamw", "muon")  # see TrainingConfig.optimizer


@dataclass(frozen=True)
class TrainingConfig:
    """How to train (the model and data are given separately).

    Optimisation
        batch_size: windows per forward/backward (B).
        start_batch_size: the first ``batch_ramp_tokens`` tokens are trained in
            batches of this many windows (at most ``batch_size``), the rest in
            ``batch_size`` (None: no ramp). Early on the loss falls fast and more, noisier steps learn
            more per token; later a bigger batch averages out the gradient noise
            that limits a long run (GPT-3 ramped its batch size the same way).
        batch_ramp_tokens: tokens (counted over all ranks) trained at
            ``start_batch_size``.
        grad_accum_steps: forward/backward passes summed into one update, so
            one optimizer step sees ``batch_size · grad_accum_steps`` windows.
        context_length: tokens per window (T).
        learning_rate: peak learning rate, reached after ``warmup_steps``.
        min_lr_ratio: the decay ends at ``learning_rate · min_lr_ratio``.
        warmup_steps: linear warm-up length, in optimizer steps.
        lr_schedule: after the warm-up, "cosine" (default): half a cosine down
            to the floor over the rest of the run; or "wsd" (warmup-stable-decay):
            the peak held, then a linear decay over the last ``decay_fraction``
            of the run. With ``max_time`` the run's length in steps is fixed
            only when the decay starts (measured over half the run) and the
            decay is re-aimed as the machine's speed drifts
            (``g2c.training.schedule``).
        decay_fraction: wsd only: the share of the run spent decaying.
        weight_decay: decoupled decay on weight matrices only (both optimizers).
        beta1, beta2: AdamW's moment decay rates.
        optimizer: "adamw" (default), or "muon": Muon for the matrices inside
            the blocks (every linear layer's weight), AdamW for the embedding
            and the vectors (``g2c.training.muon``). Not with FSDP2.
        muon_learning_rate: Muon's peak learning rate; it follows the same
            warm-up and decay as ``learning_rate``.
        grad_clip: clip the global gradient norm to this (None: no clipping).
        z_loss: weight of the PaLM z-loss ``z_loss · logsumexp(logits)²`` added
            to each position's loss (0: off; 1e-4 steadies long runs). Needs
            ``fused_loss`` (``g2c.nn.linear_cross_entropy`` computes it).
    Batches
        batch_mode: how the B training rows of T tokens are drawn.
            "windows" (default): random windows of the stream
            (``get_lm_batch``); most straddle a document boundary, so the model
            also practises continuing one document from the tail of another.
            "documents": random windows that never cross a document boundary
            (``g2c.pretraining.DocumentSampler``; a document shorter than a
            window starts one, which then runs on past its end).
            "packed": rows of whole documents laid side by side
            (``g2c.pretraining.pack_documents``). "documents" and "packed" need
            the split's document offsets (``Trainer(train_documents=...)``). Attention never crosses a document
            boundary and positions restart at 0 in every document, so each
            document is learned exactly as it would be seen alone; the
            unused end of a row is padding that carries no loss (it still
            counts in the tokens seen: B · T slots per micro-batch).
            Validation always scores the same fixed windows, so curves of
            both modes stay comparable.
        eot_loss: packed mode only. True (default): the ``<|endoftext|>``
            that ends a document is a target, so the model learns to stop.
            False: leave it out of the loss.
    Length (at least one must be set; the run stops at whichever comes first)
        max_steps: optimizer steps.
        max_time: wall-clock seconds of training; the learning rate then
            decays over the time budget, so the run ends fully decayed.
    Measurement
        eval_interval: evaluate every this many steps (and always at the end).
        val_tokens: cap on validation tokens (None: the whole split); the
            same windows are used at every evaluation.
        eval_batch_size: windows per forward pass during evaluation.
        log_interval: refresh the progress display every this many steps.
        checkpoint_interval: save a checkpoint every this many steps (None:
            only at the end and on Ctrl-C).
    Machine
        device: "auto" (cuda, then mps, then cpu), "cpu", "cuda", "mps".
        precision: the compute dtype; "auto" is bf16 where the hardware
            multiplies bf16 natively (a CUDA GPU with bf16 support, or a CPU
            with AMX or AVX512-BF16 while ``cpu_tuning`` is on) and fp32
            everywhere else.
        compile: wrap the model in ``torch.compile`` (opt-in; pays off on long runs).
        threads: CPU threads for PyTorch (None: leave PyTorch's default).
        cpu_tuning: the CPU-speed policy (``g2c.training.cpu_tuning``): bf16
            for "auto" on CPUs with native bf16, the explicit bf16 attention
            kernel, flushing denormals, and moving between all threads and one
            when another program competes for the cores. False: plain PyTorch.
        fused_loss: the model returns the loss itself (``model(x, targets=y)``):
            its LM head and the cross-entropy run as one chunked function that
            never holds large (B, T, V) logits, and as the plain pair when they
            are small (``g2c.pretraining.linear_cross_entropy``). False: the
            course's ``lm_cross_entropy(model(x), y)`` with materialised logits.
        deterministic: deterministic kernels (``g2c.training.cuda_math``): on a
            GPU, what makes ``resume`` bit-exact; slower, so off by default.
    Safety
        seed: seeds the initial weights' RNG and the batch generator.
        ignore_initial_loss_check: train even when the step-0 loss is far
            below log(V) (for example when fine-tuning a trained model).
    """

    batch_size: int = 16
    start_batch_size: int | None = None
    batch_ramp_tokens: int = 0
    grad_accum_steps: int = 1
    context_length: int = 64
    learning_rate: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    lr_schedule: str = "cosine"
    decay_fraction: float = 0.5
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    optimizer: str = "adamw"
    muon_learning_rate: float = 0.05
    grad_clip: float | None = 1.0
    z_loss: float = 0.0
    batch_mode: str = "windows"
    eot_loss: bool = True
    max_steps: int | None = 2000
    max_time: float | None = None
    eval_interval: int = 250
    val_tokens: int | None = None
    eval_batch_size: int = 64
    log_interval: int = 10
    checkpoint_interval: int | None = None
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    threads: int | None = None
    cpu_tuning: bool = True
    fused_loss: bool = True
    deterministic: bool = False
    seed: int = 0
    ignore_initial_loss_check: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum_steps", "context_length", "eval_interval",
                     "eval_batch_size", "log_interval"):
            require_positive_int(name, getattr(self, name))
        for name in ("max_steps", "val_tokens", "checkpoint_interval", "threads"):
            if getattr(self, name) is not None:
                require_positive_int(name, getattr(self, name))
        require_non_negative_int("warmup_steps", self.warmup_steps)
        require_non_negative_int("batch_ramp_tokens", self.batch_ramp_tokens)
        if self.start_batch_size is not None:
            require_positive_int("start_batch_size", self.start_batch_size)
            if not self.batch_ramp_tokens:
                raise ValueError(f"start_batch_size ({self.start_batch_size}) starts a batch "
                                 f"ramp: set batch_ramp_tokens > 0 to say how long it lasts, or "
                                 f"start_batch_size to none")
        require_non_negative_int("seed", self.seed)
        _require_number("learning_rate", self.learning_rate, low=0.0, low_open=True)
        _require_number("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        require_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _require_number("decay_fraction", self.decay_fraction, low=0.0, high=1.0, low_open=True)
        _require_number("weight_decay", self.weight_decay, low=0.0)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        _require_number("muon_learning_rate", self.muon_learning_rate, low=0.0, low_open=True)
        for name in ("beta1", "beta2"):
            _require_number(name, getattr(self, name), low=0.0, high=1.0, high_open=True)
        if self.grad_clip is not None:
            _require_number("grad_clip", self.grad_clip, low=0.0, low_open=True)
        _require_number("z_loss", self.z_loss, low=0.0)
        if self.z_loss and not self.fused_loss:
            raise ValueError("z_loss needs fused_loss=True (the fused head-and-loss computes it); "
                             "drop --no-fused-loss or set z_loss to 0")
        if self.max_time is not None:
            _require_number("max_time", self.max_time, low=0.0, low_open=True)
        if self.max_steps is None and self.max_time is None:
            raise ValueError("set max_steps, max_time or both: a run needs an end")
        check_device_name(self.device)
        for name in ("compile", "cpu_tuning", "fused_loss", "deterministic", "eot_loss",
                     "ignore_initial_loss_check"):
            require_bool(name, getattr(self, name))
        require_choice("batch_mode", self.batch_mode, BATCH_MODES)
        if not self.eot_loss and self.batch_mode != "packed":
            raise ValueError("eot_loss=False only applies to batch_mode='packed' (random windows "
                             "train on every next token)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainingConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are an error."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; known: {sorted(known)}")
        return cls(**values)


def run_identity(training: dict, metadata: dict) -> dict:
    """What makes two runs "the same run": the training config (minus presentation fields)
    plus the caller's metadata (model and corpus description)."""
    return {"training": {k: v for k, v in training.items() if k not in PRESENTATION_FIELDS},
            **metadata}


def describe_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """One line per differing leaf of two nested dicts: ``"training.max_steps: 10 then, 20 now"``."""
    lines = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += describe_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {a!r} then, {b!r} now")
    return lines


def _require_number(name, value, *, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a finite number; got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        raise ValueError(f"{name} must be {' and '.join(p for p in (lo, hi) if p)}; got {value}")
