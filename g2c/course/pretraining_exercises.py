"""The seven exercises of module 09B — Pretraining, and how each is checked (the constants are
the numbers the notebook's questions quote)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from g2c.course.grading import Exercise
from g2c.course.key_ideas import KeyIdea, check_prose
from g2c.pretraining.initial_check import SUSPECTS_TOO_HIGH, SUSPECTS_TOO_LOW

# Exercise 1: the window of T tokens starting at position START of the toy stream.
TOY_STREAM = (12, 7, 3, 19, 7, 0, 4, 15, 9)
TOY_CONTEXT_LENGTH = 4
TOY_START = 3

# Exercises 5 and 6: a GPT-2-sized batch.
BATCH_SIZE, CONTEXT_LENGTH, GPT2_VOCAB_SIZE = 12, 256, 50_257

# Exercise 7: the step-0 loss must sit within this fraction of log(V).
INITIAL_LOSS_TOLERANCE = 0.1
MIN_TRAINING_STEPS = 20


def _as_int_list(value) -> list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    return [int(v) for v in value]


def check_shift(answer, namespace: Mapping[str, Any]) -> tuple[bool, str]:
    """Exercise 1: ``answer_1 = (x, y)`` for the toy stream."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return False, "answer_1 must be a pair (x, y) of token lists."
    x, y = _as_int_list(answer[0]), _as_int_list(answer[1])
    s, t = TOY_START, TOY_CONTEXT_LENGTH
    want_x, want_y = list(TOY_STREAM[s : s + t]), list(TOY_STREAM[s + 1 : s + t + 1])
    if len(x) != t or len(y) != t:
        return False, f"x and y must each hold T = {t} tokens; got {len(x)} and {len(y)}."
    if x != want_x:
        return False, f"x should be the {t} tokens that start at position {s} of toy_stream."
    if y == x:
        return False, "y equals x: the targets must be the inputs shifted one step to the right."
    if y == list(TOY_STREAM[s - 1 : s + t - 1]):
        return False, "y is shifted the wrong way: y[t] is the token that comes AFTER x[t]."
    if y != want_y:
        return False, "x is right, but y should be the same window moved one token to the right."
    return True, "x and y are right: y[t] is the token that follows x[t]."


CAUSAL_MASK_IDEAS = (
    KeyIdea(
        "the causal mask hides the future tokens (a position cannot attend to later ones)",
        (
            r"\b(future|later|upcoming|subsequent|following)\b.{0,80}"
            r"\b(mask|hid|block|invisible|not visible|cannot|can't|can ?not|zero|-?inf)",
            r"\b(mask|hid|hides|block|cannot see|can't see|can ?not see|never see|not see)"
            r"\w*\b.{0,80}\b(future|later|upcoming|subsequent|ahead|tokens? after)",
            r"\b(no|not|never|cannot|can't|can ?not)\b.{0,40}\b(attend|look|see|peek)\w*.{0,40}"
            r"\b(after|later|ahead|future)",
            r"\bno peeking\b|\bpeek\w* ahead\b",
        ),
    ),
    KeyIdea(
        "each position sees only its prefix (the tokens up to and including itself)",
        (
            r"\bprefix",
            r"\b(only|just)\b.{0,50}\b(earlier|previous|preceding|prior|past|before|left)\b",
            r"\b(earlier|previous|preceding|prior|past) (tokens|positions|context|ones)\b",
            r"\bup to (and including )?(itself|it|position|t\b|its own|the current)",
            r"\b(positions?|tokens?) ?(≤|<=|at or before|before or at)",
        ),
    ),
    KeyIdea(
        "so all T positions are trained at once, in one forward pass",
        (
            r"\b(one|single|same|a) (forward )?pass\b",
            r"\bat once\b|\bin parallel\b|\bsimultaneous|\btogether\b",
            r"\bb ?[·*x×] ?t\b",
            r"\b(all|every|each of the) (t|the t)? ?(positions|predictions|targets)\b.{0,80}"
            r"\b(train|loss|learn|count|legal|valid|honest)",
        ),
    ),
)


def check_causal_mask(answer, namespace: Mapping[str, Any]) -> tuple[bool, str]:
    """Exercise 2: prose on why the causal mask makes B·T predictions legal."""
    return check_prose(answer, CAUSAL_MASK_IDEAS)


def _shift_check_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, bool]]:
    """Batches with a known answer: one honest (x, y) and three broken ones."""
    stream = torch.randperm(1000, generator=torch.Generator().manual_seed(0))  # no repeats
    starts = torch.tensor([0, 100, 250, 600])
    windows = torch.stack([stream[s : s + 10] for s in starts])  # T + 2 = 10 tokens per row
    x, y = windows[:, :8], windows[:, 1:9]
    return [
        ("a correct batch", x, y, True),
        ("a batch with y = x", x, x.clone(), False),
        ("a batch with y shifted by two", x, windows[:, 2:10], False),
        ("a batch whose y rows belong to other windows", x, y.roll(1, dims=0), False),
    ]


def check_shift_checker(answer, namespace: Mapping[str, Any]) -> tuple[bool, str]:
    """Exercise 3: ``answer_3`` is a function (x, y) -> bool that spots a broken shift."""
    if not callable(answer):
        return False, "answer_3 must be your function itself (answer_3 = is_shifted_by_one)."
    for description, x, y, expected in _shift_check_cases():
        said = answer(x, y)
        if isinstance(said, torch.Tensor):
            said = said.item()
        if bool(said) != expected:
            return False, f"your function returned {said!r} for {description}; expected {expected}."
    return True, "your check accepts an honest batch and rejects three broken ones."


def check_loss(answer, namespace: Mapping[str, Any]) -> tuple[bool, str]:
    """Exercise 4: ``answer_4 = lm_cross_entropy`` matches PyTorch on random logits."""
    if not callable(answer):
        return False, "answer_4 must be the function: answer_4 = lm_cross_entropy."
    generator = torch.Generator().manual_seed(0)
    batch, time, vocab = 3, 5, 11
    logits = torch.randn(batch, time, vocab, generator=generator, requires_grad=True)
    targets = torch.randint(0, vocab, (batch, time), generator=generator)
    loss = answer(logits, targets)
    if not isinstance(loss, torch.Tensor) or loss.shape != ():
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        return False, f"the loss must be a scalar tensor (shape ()); got {shape}."
    flat_logits, flat_targets = logits.reshape(-1, vocab), targets.reshape(-1)
    expected = torch.nn.functional.cross_entropy(flat_logits, flat_targets)
    total = torch.nn.functional.cross_entropy(flat_logits, flat_targets, reduction="sum")
    if torch.allclose(loss, total, rtol=1e-4):
        return False, "you return the SUM over positions; the loss is the MEAN over all B·T."
    if not torch.allclose(loss, expected, rtol=1e-4, atol=1e-5):
        return False, (
            f"loss {float(loss):.4f} on a random batch, expected {float(expected):.4f}: check "
            "that logits become (B·T, V) and targets (B·T,) in the same order."
        )
    loss.backward()
    if logits.grad is None or not bool((logits.grad.abs().sum(dim=-1) > 0).all()):
        return False, "the value is right but gradients do not reach every position."
    return True, "matches PyTorch's cross-entropy on a random (B, T, V) batch, gradients included."


def check_example_count(answer, namespace: Mapping[str, Any]) -> tuple[bool, str]:
    """Exercise 5: a (B, T, V) batch holds B·T classification examples."""
    b, t, v = BATCH_SIZE, CONTEXT_LENGTH, GPT2_VOCAB_SIZE
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or answer != int(answer):
        return False, f"answer_5 must be a whole number; got {answer!r}."
    mistakes = {
        b * t * v: "V is the number of classes each example chooses from, not more examples.",
        b: "each window is not one example: every one of its T positions predicts a token.",
        t: "that is one window; the batch has B of them.",
        b * (t - 1): "every one of the T positions has a target (y is shifted, not shorter).",
    }
    if int(answer) == b * t:
        return True, f"B·T = {b} × {t} = {b * t} next-token predictions."
    return False, mistakes.get(int(answer), "count one example per (window, position) pair.")


def check_log_vocab(answer, namespace: Mapping[str, Any]) -> tuple[bool, str]:
    """Exercise 6: log(V) for V = 50,257, the step-0 loss of a GPT-2-sized model."""
    value = float(answer)
    v = GPT2_VOCAB_SIZE
    if math.isclose(value, math.log(v), abs_tol=1e-2):
        return True, f"log({v:,}) ≈ {math.log(v):.3f} nats."
    mistakes = (
        (math.log2(v), "that is log base 2 (bits); the loss uses the natural log."),
        (math.log10(v), "that is log base 10; the loss uses the natural log."),
        (1 / v, "that is the probability 1/V; the loss is -log of it."),
        (-math.log(v), "the loss is -log(1/V), which is positive."),
    )
    for wrong, feedback in mistakes:
        if math.isclose(value, wrong, rel_tol=1e-3):
            return False, feedback
    return False, "a model that knows nothing gives each token probability 1/V; take -log."


def check_initial_loss(answer, namespace: Mapping[str, Any]) -> tuple[bool, str]:
    """Exercise 7: ``answer_7`` is the training-loss curve, step 0 first."""
    if "vocab_size" not in namespace:
        return False, "vocab_size is not defined: run the notebook's set-up cells first."
    if isinstance(answer, torch.Tensor):
        answer = answer.tolist()
    losses = [float(loss) for loss in answer]
    if len(losses) < MIN_TRAINING_STEPS:
        return False, f"record at least {MIN_TRAINING_STEPS} losses; got {len(losses)}."
    if not all(math.isfinite(loss) for loss in losses):
        return False, "some losses are not finite: lower the learning rate."
    log_vocab = math.log(namespace["vocab_size"])
    ratio = losses[0] / log_vocab
    if ratio < 1 - INITIAL_LOSS_TOLERANCE:
        return False, (
            f"step-0 loss {losses[0]:.3f} is well below log(V) = {log_vocab:.3f}. "
            f"Suspect: {'; '.join(SUSPECTS_TOO_LOW)}."
        )
    if ratio > 1 + INITIAL_LOSS_TOLERANCE:
        return False, (
            f"step-0 loss {losses[0]:.3f} is well above log(V) = {log_vocab:.3f}. "
            f"Suspect: {'; '.join(SUSPECTS_TOO_HIGH)}."
        )
    late = sum(losses[-5:]) / 5
    if late > losses[0] - 0.1:
        return False, (
            f"step-0 loss {losses[0]:.3f} ≈ log(V) = {log_vocab:.3f} is right, but the curve "
            f"does not go down (last steps average {late:.3f}): check zero_grad/backward/step "
            "and the learning rate."
        )
    return True, (
        f"step 0: {losses[0]:.3f} vs log(V) = {log_vocab:.3f} (ratio {ratio:.2f}); "
        f"after {len(losses)} steps: {late:.3f}."
    )


EXERCISES = (
    Exercise(
        1, "shift a toy stream", check_shift,
        "x is the T tokens starting at position s: toy_stream[s : s + T]. y is the same "
        "window slid one token to the right.",
    ),
    Exercise(
        2, "why B·T predictions are legal", check_causal_mask,
        "Say what the causal mask lets position t look at and what it hides from it; then say "
        "why that makes it fair to train every position of the window in the same pass.",
    ),
    Exercise(
        3, "inspect get_lm_batch", check_shift_checker,
        "Every token of x except the first reappears in y one column to the left: compare "
        "y[:, :-1] with x[:, 1:] (torch.equal gives one True/False).",
    ),
    Exercise(
        4, "implement lm_cross_entropy", check_loss,
        "Flatten batch and time together: logits.reshape(B * T, V) and targets.reshape(B * T), "
        "then hand both to the Module-03 loss (_loss_fn), which already takes the mean.",
    ),
    Exercise(
        5, "count classification examples", check_example_count,
        "One classification example per (window, position) pair; V is how many classes each "
        "example chooses from.",
    ),
    Exercise(
        6, "the step-0 baseline log(V)", check_log_vocab,
        "Knowing nothing means probability 1/V for every token; the loss is -log(probability "
        "of the right token), with the natural log (math.log).",
    ),
    Exercise(
        7, "random-model check and curve", check_initial_loss,
        "Append loss.item() BEFORE the first optimizer.step(), so losses[0] is the fresh "
        "model's loss; compare it with math.log(vocab_size). Plot with ax.plot(losses) and "
        "ax.axhline(math.log(vocab_size)).",
    ),
)
