"""The Trainer: loop, optimizer groups, schedule, validation set, step-0 check, NaN stop."""

import math

import numpy as np
import pytest
import torch

from g2c.training import InitialLossError, Trainer, TrainingConfig, TrainingDiverged
from g2c.training.evaluation import evaluate, validation_windows
from g2c.training.optimizer import parameter_groups
from g2c.training.schedule import (
    StepBudget,
    StepSizes,
    WarmupCosineSchedule,
    WarmupStableDecaySchedule,
)
from g2c.transformer import TransformerLM

VOCAB, CONTEXT = 24, 16


def learnable_stream(n=6000, seed=0):
    """A noisy repeating pattern: learnable, but not trivially (the step-0 check passes)."""
    rng = np.random.default_rng(seed)
    pattern = rng.integers(0, VOCAB, 11)
    stream = np.tile(pattern, n // 11 + 1)[:n]
    noise = rng.random(n) < 0.1
    stream[noise] = rng.integers(0, VOCAB, noise.sum())
    return stream.astype(np.uint16)


def tiny_model(seed=0, **options):
    torch.manual_seed(seed)
    return TransformerLM(VOCAB, 32, 2, 4, CONTEXT, **options)


def config(**overrides):
    values = dict(batch_size=4, context_length=CONTEXT, learning_rate=3e-3, warmup_steps=5,
                  max_steps=40, eval_interval=20, log_interval=5, device="cpu")
    values.update(overrides)
    return TrainingConfig(**values)


def fit(model=None, cfg=None, stream=None, **kwargs):
    stream = learnable_stream() if stream is None else stream
    trainer = Trainer(model or tiny_model(), stream[:5000], stream[5000:], cfg or config(),
                      quiet=True, **kwargs)
    return trainer, trainer.fit()


def test_training_drives_val_loss_well_below_log_vocab():
    trainer, result = fit(cfg=config(max_steps=80))
    assert result.stopped == "max_steps" and result.steps == 80
    assert result.initial_check["verdict"] == "ok"
    assert result.final_val_loss < 0.6 * math.log(VOCAB)
    assert result.tokens_seen == 80 * 4 * CONTEXT
    # Evaluated before the first step, every 20 steps and at the end (step 80 once, not twice).
    assert [step for step, _ in result.history["val"]] == [0, 20, 40, 60, 80]
    assert result.history["val"][0][1] == pytest.approx(math.log(VOCAB), rel=0.1)
    # A fresh model passed the check: its windows are step 0's score (no second pass).
    assert result.history["val"][0][1] == result.initial_check["loss"]


def test_validation_windows_are_fixed_non_overlapping_and_spread():
    val = np.arange(1000, dtype=np.int64)
    full = validation_windows(val, 10)
    assert full.x.shape == (99, 10)  # (1000 - 1) // 10 windows
    assert torch.equal(full.x[:, 0], torch.arange(0, 990, 10))
    assert torch.equal(full.y, full.x + 1)
    capped = validation_windows(val, 10, max_tokens=50)
    assert capped.x.shape == (5, 10)
    assert int(capped.x[0, 0]) == 0 and int(capped.x[-1, 0]) == 980  # spread over the split
    again = validation_windows(val, 10, max_tokens=50)
    assert torch.equal(capped.x, again.x)


def test_every_evaluation_scores_the_same_windows():
    model = tiny_model()
    windows = validation_windows(learnable_stream()[5000:], CONTEXT)
    first = evaluate(model, windows, batch_size=7, device=torch.device("cpu"))
    second = evaluate(model, windows, batch_size=64, device=torch.device("cpu"))
    assert first == pytest.approx(second, rel=1e-5)  # batching does not change the mean


def test_validation_split_too_small_for_one_batch_is_refused():
    stream = learnable_stream()
    with pytest.raises(ValueError, match=r"validation split has 100 tokens.*batch"):
        Trainer(tiny_model(), stream[:5000], stream[:100], config(batch_size=8), quiet=True)


def test_context_longer_than_max_seq_len_is_refused():
    stream = learnable_stream()
    with pytest.raises(ValueError, match=r"context_length=32 .*max_seq_len=16"):
        Trainer(tiny_model(), stream[:5000], stream[5000:], config(context_length=32), quiet=True)


def test_weight_decay_only_on_matrices():
    model = tiny_model()
    decayed, undecayed = parameter_groups(model.parameters(), 0.1)
    assert decayed["weight_decay"] == 0.1 and undecayed["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decayed["params"])
    names = {id(p): name for name, p in model.named_parameters()}
    skipped = {names[id(p)] for p in undecayed["params"]}
    assert "output_bias" in skipped
    assert any("norm" in name for name in skipped) and any(n.endswith(".bias") for n in skipped)
    assert len(decayed["params"]) + len(undecayed["params"]) == len(list(model.parameters()))


def test_decoupled_decay_shrinks_matrices_but_not_vectors_without_gradient():
    model = tiny_model()
    trainer = Trainer(model, learnable_stream()[:5000], learnable_stream()[5000:],
                      config(weight_decay=0.5), quiet=True)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only the decay can move a weight
    for group in trainer.optimizer.param_groups:
        group["lr"] = 0.1
    trainer.optimizer.step()
    weight = "blocks.0.attn.qkv.weight"
    torch.testing.assert_close(model.get_parameter(weight), before[weight] * (1 - 0.1 * 0.5))
    assert torch.equal(model.get_parameter("blocks.0.attn_norm.weight"),
                       before["blocks.0.attn_norm.weight"])


def test_schedule_warms_up_then_decays_over_the_total_steps():
    schedule = WarmupCosineSchedule(1e-3, 0.1, warmup_steps=10)
    assert schedule.learning_rate(0, 100) == pytest.approx(1e-4)
    assert schedule.learning_rate(9, 100) == pytest.approx(1e-3)
    assert schedule.learning_rate(50, 100) == pytest.approx(0.55e-3)
    assert schedule.learning_rate(100, 100) == pytest.approx(1e-4)
    rates = [schedule.learning_rate(s, 100) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert schedule.learning_rate(30, None) == 1e-3  # total not known yet: no decay


def test_wsd_holds_the_peak_then_decays_linearly_over_the_last_fraction():
    wsd = WarmupStableDecaySchedule(1e-3, 0.1, warmup_steps=100, decay_fraction=0.5)
    assert wsd.learning_rate(49, 1000) == pytest.approx(5e-4)  # half-way up the warm-up
    assert wsd.learning_rate(499, 1000) == 1e-3  # held until the decay starts at step 500
    assert wsd.learning_rate(750, 1000) == pytest.approx(5.5e-4)  # half-way down
    assert wsd.learning_rate(1000, 1000) == pytest.approx(1e-4)
    assert wsd.learning_rate(900, None) == 1e-3  # total not known yet: the peak
    assert wsd.decay_start(1000) == 500 and wsd.decay_start(150) == 100  # never in the warm-up
    # Re-aimed at step 700 (rate 6.4e-4) to end at 900 instead: straight down from there.
    assert wsd.learning_rate(700, 900, reaimed=(700, 6.4e-4)) == pytest.approx(6.4e-4)
    assert wsd.learning_rate(800, 900, reaimed=(700, 6.4e-4)) == pytest.approx(3.7e-4)
    assert wsd.learning_rate(900, 900, reaimed=(700, 6.4e-4)) == pytest.approx(1e-4)


def budget(max_time, schedule, max_steps=None, sizes=None):
    return StepBudget(max_steps, max_time, schedule, sizes or StepSizes(full=100))


def record_windows(budget, seconds_per_step, until, every=10):
    """Feed ``budget`` the trainer's log steps (every ``every`` steps); return the step at
    which it fixed the total. ``seconds_per_step(step)``: how long that step took."""
    elapsed, tokens = 0.0, 0
    for step in range(1, until + 1):
        elapsed += seconds_per_step(step)
        tokens += budget.sizes.at(tokens)
        if step % every == 0:
            budget.record(step=step, elapsed=elapsed, tokens=tokens)
            if budget.total is not None:
                return step


def test_a_time_budget_is_fixed_when_the_schedule_first_needs_the_total():
    # 0.125 s per step and 12.5 s: 100 steps fit. The first window (kernel warm-up, the
    # step-0 evaluation) is not timed; cosine needs the total after its warm-up (20 steps).
    cosine = budget(12.5, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=20))
    assert record_windows(cosine, lambda step: 0.125, until=200) == 40  # 3 timed windows
    assert cosine.total == 100
    # wsd needs it only when its decay starts, at half the run: measured over 50 steps.
    wsd = budget(12.5, WarmupStableDecaySchedule(1e-3, 0.1, 20, decay_fraction=0.5))
    assert record_windows(wsd, lambda step: 0.125, until=200) == 50
    assert wsd.total == 100
    # The machine halves its speed after step 30: cosine fixed the total too early, wsd
    # sees the slower steps (the median of the recent windows) and fits the time.
    def slowing(step):
        return 0.0625 if step <= 30 else 0.125

    early = budget(10.0, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=0))
    record_windows(early, slowing, until=200)
    late = budget(10.0, WarmupStableDecaySchedule(1e-3, 0.1, 0, decay_fraction=0.4))
    record_windows(late, slowing, until=200)
    # 10 s: 30 steps at 0.0625 s (1.875 s) + 65 at 0.125 s = 95 steps fit.
    # Cosine is fixed at step 40, on the median of windows 11-20, 21-30 (fast), 31-40 (slow).
    assert early.total == 40 + int(6.875 / 0.0625) == 150  # it would take 16.9 s
    assert abs(late.total - 95) <= 2


def test_the_budget_speed_ignores_a_stalled_window_and_respects_its_limits():
    def stall(step):  # another program held the machine for 5 s during step 30
        return 5.125 if step == 30 else 0.125

    stalled = budget(20.0, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=40))
    record_windows(stalled, stall, until=100)
    # Fixed at step 40 after 10 s: 10 s left at the median 0.125 s/step is 80 more steps
    # (the mean of the timed windows, 0.29 s/step, would give 34).
    assert stalled.total == 40 + 80
    capped = budget(10.0, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=0), max_steps=20)
    record_windows(capped, lambda step: 0.01, until=20, every=5)
    assert capped.total == 20 and not capped.reached(19) and capped.reached(20)
    short = budget(0.3, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=0))
    record_windows(short, lambda step: 0.015, until=100, every=10)
    assert short.total == 20  # the budget ran out while measuring (0.3 s after 20 steps)
    overhead = budget(12.5, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=0))
    overhead.record(step=10, elapsed=1.25, tokens=1000)
    overhead.record(step=20, elapsed=2.5, tokens=2000)
    overhead.record(step=30, elapsed=3.75, tokens=3000)
    overhead.record(step=40, elapsed=5.0, tokens=4000, overhead_per_step=0.125)  # evaluation
    assert overhead.total == 40 + int(7.5 / 0.25)


def test_a_batch_ramp_is_measured_afresh_and_planned_into_the_budget():
    # 50 steps of 128 tokens, then 256 tokens per step; the bigger batch costs less per
    # token (0.125 s per 128 tokens, then 0.1875 s per 256), so its speed is measured anew.
    sizes = StepSizes(full=256, start=128, ramp_tokens=50 * 128)
    ramped = budget(25.0, WarmupStableDecaySchedule(1e-3, 0.1, 0, decay_fraction=0.5),
                    sizes=sizes)
    record_windows(ramped, lambda step: 0.125 if step <= 50 else 0.1875, until=500)
    # 6.25 s for the first 50 steps, then 18.75 s at 0.1875 s per step: 100 more.
    assert ramped.total == 150
    # Fixed before the ramp ends, the budget plans the bigger steps at the speed per
    # token it measured: 21.25 s left at step 30 = 20 small steps (2.5 s) + 18.75 s at 0.25 s.
    early = budget(25.0, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=30), sizes=sizes)
    record_windows(early, lambda step: 0.125, until=500)
    assert early.total == 30 + 20 + 75


def test_wsd_waits_to_time_the_bigger_steps_a_ramp_brings():
    # 17 s: 50 small steps (6.25 s), then 10.75 s of big ones at 0.1875 s: 57 more fit.
    # The decay would start at step 53, before the big steps are timed; priced at the
    # small steps' speed per token (0.25 s each), only 43 would be planned: 14.3 s of 17.
    sizes = StepSizes(full=256, start=128, ramp_tokens=50 * 128)
    wsd = budget(17.0, WarmupStableDecaySchedule(1e-3, 0.1, 0, decay_fraction=0.5),
                 sizes=sizes)
    # Fixed after three timed windows of big steps (51-60, 61-70, 71-80), 5.625 s later.
    assert record_windows(wsd, lambda step: 0.125 if step <= 50 else 0.1875, until=500) == 80
    assert wsd.total == 80 + int((17.0 - 6.25 - 5.625) / 0.1875) == 107


def run_to_the_end(budget, seconds_per_step, every=10):
    """Train on a fake clock until ``budget`` says stop: (steps, seconds, every step's rate)."""
    elapsed, tokens, step, rates = 0.0, 0, 0, []
    while not budget.reached(step):
        rates.append(budget.learning_rate(step))
        step, elapsed, tokens = step + 1, elapsed + seconds_per_step(step + 1), tokens + 100
        if step % every == 0:
            budget.record(step=step, elapsed=elapsed, tokens=tokens)
    return step, elapsed, rates


def test_wsd_re_aims_its_decay_so_the_run_ends_on_time_when_the_machine_drifts():
    def wsd():  # 0.125 s per step and 12.5 s: fixed at step 50 to 100 steps, decay from 50
        return budget(12.5, WarmupStableDecaySchedule(1e-3, 0.1, 0, decay_fraction=0.5))

    # After step 60 the machine is 28% slower: a fixed total (100 steps) would take 13.9 s.
    slower = wsd()
    steps, seconds, rates = run_to_the_end(slower, lambda step: 0.125 if step <= 60 else 0.16)
    assert steps == 91 and 12.5 - 0.16 < seconds <= 12.5
    assert rates[-1] < 1.4e-4  # near the floor (1e-4): the decay bent, it was not cut off
    assert max(abs(a - b) for a, b in zip(rates, rates[1:])) < 4e-5  # no jump (a plain step: 1.8e-5)
    # Faster after step 60: the run takes the extra steps, all of it still decayed.
    faster = wsd()
    steps, seconds, rates = run_to_the_end(faster, lambda step: 0.125 if step <= 60 else 0.0625)
    assert steps == 140 and seconds == 12.5 and rates[-1] < 1.1e-4
    # The docstring's example: twice as slow after step 60. At step 70 (10 s gone, 6.4e-4)
    # the last three windows' median still says 0.125 s: 20 steps left, so the end is 90
    # ... and at step 80 the time is up: the run stops on time, undecayed (3.97e-4).
    halved = wsd()
    steps, seconds, rates = run_to_the_end(halved, lambda step: 0.125 if step <= 60 else 0.25)
    assert halved.reaimed == (70, pytest.approx(6.4e-4)) and steps == 80 and seconds == 12.5
    assert rates[79] == pytest.approx(6.4e-4 - 5.4e-4 * 9 / 20)
    # The plan is checkpointed: a restored budget gives the same rates.
    restored = wsd()
    restored.load_state_dict(slower.state_dict())
    assert [restored.learning_rate(s) for s in range(91)] == [slower.learning_rate(s)
                                                              for s in range(91)]
    # Cosine cannot bend: it keeps the total it fixed.
    cosine = budget(12.5, WarmupCosineSchedule(1e-3, 0.1, warmup_steps=20))
    steps, _, _ = run_to_the_end(cosine, lambda step: 0.125 if step <= 60 else 0.16)
    assert steps == 100 and cosine.reaimed is None


def test_time_budget_stops_the_run_fully_decayed():
    trainer, result = fit(cfg=config(max_steps=None, max_time=3.0, warmup_steps=2))
    assert result.stopped == "max_time" and result.steps == trainer.budget.total > 6
    last_lr = result.history["lr"][-1][1]
    assert last_lr < 0.2 * 3e-3  # near the floor (min_lr_ratio 0.1): the run decayed fully
    # How many steps fit is StepBudget's arithmetic (tested above with a fake clock); the
    # wall time itself is not asserted: a loaded machine slows steps after the probe.


def test_a_time_budgeted_run_resumes_bit_exactly(tmp_path, interrupt_after, monkeypatch):
    """The step budget is fixed after the probe and checkpointed; the schedule never reads
    the clock. (A 60 s budget capped at 40 steps: both runs get the same budget, 40.)"""
    def trainer(path):
        torch.manual_seed(0)
        return Trainer(tiny_model(), learnable_stream()[:5000], learnable_stream()[5000:],
                       config(max_steps=40, max_time=60.0, eval_interval=10, threads=1),
                       checkpoint_path=path, quiet=True)

    from g2c.training import schedule

    monkeypatch.setattr(schedule, "PROBE_FRACTION", 0.0)  # fix it at step 20, however fast
    first = trainer(tmp_path / "a.pt")
    interrupt_after(first, 20)  # the budget is fixed at this check (3 timed windows)
    assert first.fit().stopped == "interrupted"
    saved = torch.load(tmp_path / "a.pt", weights_only=True)["budget"]
    assert saved == {"total": 40, "reaimed": None}
    resumed = trainer(tmp_path / "a.pt")
    resumed.resume(tmp_path / "a.pt")
    assert resumed.budget.total == 40  # restored, not probed again
    result = resumed.fit()
    whole = trainer(tmp_path / "b.pt").fit()
    assert result.steps == whole.steps == 40
    assert result.history["train"] == whole.history["train"]
    assert result.history["lr"] == whole.history["lr"]
    assert result.final_val_loss == whole.final_val_loss


def test_gradient_accumulation_matches_one_big_batch():
    stream = learnable_stream()
    big = config(batch_size=8, grad_accum_steps=1, max_steps=3, eval_interval=100)
    small = config(batch_size=4, grad_accum_steps=2, max_steps=3, eval_interval=100)
    a, b = tiny_model(), tiny_model()
    ta = Trainer(a, stream[:5000], stream[5000:], big, quiet=True)
    tb = Trainer(b, stream[:5000], stream[5000:], small, quiet=True)
    # Same windows: draw the 8 of one batch as 4 + 4 from identically seeded generators.
    ta.fit(), tb.fit()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, atol=2e-5, rtol=1e-4)


def test_initial_loss_far_below_log_vocab_stops_before_training():
    trained, _ = fit(cfg=config(max_steps=150))  # an already-trained model: far below log(V)
    stream = learnable_stream()
    with pytest.raises(InitialLossError, match="ignore-initial-loss-check"):
        Trainer(trained.model, stream[:5000], stream[5000:], config(), quiet=True).fit()
    override = config(max_steps=2, ignore_initial_loss_check=True)
    trainer = Trainer(trained.model, stream[:5000], stream[5000:], override, quiet=True)
    every_window = evaluate(trained.model, trainer.validation, batch_size=8, device="cpu")
    result = trainer.fit()
    assert result.initial_check["verdict"] == "too_low" and result.steps == 2
    # A model that starts away from uniform is scored on every window at step 0.
    assert result.history["val"][0][1] == pytest.approx(every_window)
    assert result.history["val"][0][1] != pytest.approx(result.initial_check["loss"])


def nan_loss_from_call(trainer, first_bad, last_bad=10**9):
    """Make micro-batch losses ``first_bad`` … ``last_bad`` (1-based calls) NaN."""
    real_loss, calls = trainer.precision.loss, {"n": 0}

    def loss(model, x, y, **options):
        calls["n"] += 1
        value = real_loss(model, x, y, **options)
        return value * float("nan") if first_bad <= calls["n"] <= last_bad else value

    trainer.precision.loss = loss


def test_a_step_with_a_nan_loss_is_skipped_and_counted(capsys):
    trainer = Trainer(tiny_model(), learnable_stream()[:5000], learnable_stream()[5000:],
                      config(max_steps=20), quiet=True)
    nan_loss_from_call(trainer, 8, 8)
    result = trainer.fit()
    assert result.steps == 20 and result.skipped_steps == 1
    assert "skipped 1 step(s) with a non-finite loss or gradient before step 10" in \
        capsys.readouterr().err
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    state = trainer.optimizer.state[trainer.model.output_bias]
    assert int(state["step"]) == 19  # the skipped step never reached AdamW


def test_a_diverged_run_stops_at_the_next_check_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    trainer = Trainer(tiny_model(), learnable_stream()[:5000], learnable_stream()[5000:],
                      config(max_steps=40, checkpoint_interval=5), checkpoint_path=path,
                      quiet=True)
    nan_loss_from_call(trainer, 8)  # every step from step 8 on
    with pytest.raises(TrainingDiverged, match=r"every step since step 10 .*first at step 11: "
                                               r"the training loss became nan.*step 10\) is kept"):
        trainer.fit()
    assert torch.load(path, weights_only=True)["step"] == 10  # written at the check, step 10
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_finite_loss_with_infinite_gradients_is_skipped_before_the_weights_change():
    trainer = Trainer(tiny_model(), learnable_stream()[:5000], learnable_stream()[5000:],
                      config(max_steps=6), quiet=True)
    backward_calls = {"n": 0}

    def poison_on_step_4(grad):
        backward_calls["n"] += 1
        return grad * float("inf") if backward_calls["n"] == 4 else grad

    trainer.model.output_bias.register_hook(poison_on_step_4)
    result = trainer.fit()
    assert result.skipped_steps == 1 and result.steps == 6
    assert int(trainer.optimizer.state[trainer.model.output_bias]["step"]) == 5
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_token_ids_beyond_the_vocabulary_are_refused_before_training():
    stream = learnable_stream()
    stream[4321] = VOCAB + 5  # one corrupt token
    with pytest.raises(ValueError, match=r"train_ids holds token id 29.*24 ids"):
        Trainer(tiny_model(), stream[:5000], stream[5000:], config(), quiet=True)


def test_bad_config_values_name_the_argument():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingConfig(learning_rate=0.0)
    with pytest.raises(TypeError, match="batch_size"):
        TrainingConfig(batch_size=2.5)
    with pytest.raises(ValueError, match="max_steps, max_time"):
        TrainingConfig(max_steps=None, max_time=None)
    with pytest.raises(ValueError, match="device"):
        TrainingConfig(device="tpu")
    with pytest.raises(TypeError, match="config"):
        Trainer(tiny_model(), learnable_stream(), learnable_stream(), {"max_steps": 3})


def test_config_round_trips_through_a_dict():
    cfg = config(max_time=12.5, compile=True)
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainingConfig.from_dict({**cfg.to_dict(), "lr": 1})


def test_the_scheduled_learning_rate_reaches_the_optimizer():
    # Warm-up step 0 runs at peak / 10. AdamW's first update moves every parameter with
    # a gradient by about lr (the update is lr · g / |g|), so the step shows the rate used.
    trainer = Trainer(tiny_model(), learnable_stream()[:5000], learnable_stream()[5000:],
                      config(learning_rate=1e-2, warmup_steps=10, max_steps=1), quiet=True)
    before = trainer.model.output_bias.detach().clone()  # no weight decay on vectors
    trainer.fit()
    moved = (trainer.model.output_bias - before).abs().max().item()
    assert 0.5e-3 < moved < 1.5e-3  # 1e-3 = the warm-up rate, not the 1e-2 peak


def test_muon_trains_and_its_rate_follows_the_schedule_at_its_own_peak():
    trainer, result = fit(model=tiny_model(qk_norm=True),
                          cfg=config(optimizer="muon", muon_learning_rate=0.03))
    assert result.final_val_loss < 0.6 * np.log(VOCAB)
    muon_group = next(g for g in trainer.optimizer.param_groups if g["algorithm"] == "muon")
    adam_group = trainer.optimizer.param_groups[0]
    assert adam_group["lr"] == result.history["lr"][-1][1]  # the last step's scheduled rate
    assert muon_group["lr"] == pytest.approx(adam_group["lr"] * 0.03 / 3e-3)
    assert all(torch.count_nonzero(trainer.optimizer.state[p]["momentum_buffer"])
               for p in muon_group["params"])


def test_gradients_are_cleared_after_every_step():
    trainer, _ = fit(cfg=config(max_steps=3))
    assert all(p.grad is None for p in trainer.model.parameters())


@pytest.mark.parametrize("batch_mode", ["windows", "packed"])
def test_a_training_step_reads_nothing_back_between_checks(batch_mode):
    """Between checks the loss, gradient norm and "skip?" flag stay on the device: a step reads
    nothing back, and the one read and all-reduce happen at the checks (step_guard.py)."""
    from torch.overrides import TorchFunctionMode

    class HostReads(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.names = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in ("item", "__bool__", "__int__", "__float__", "tolist"):
                self.names.append(name)
            return func(*args, **(kwargs or {}))

    stream = learnable_stream()
    documents = np.arange(0, 5000, 37)  # the stream cut into 37-token documents
    trainer = Trainer(tiny_model(positions="rotary"), stream[:5000], stream[5000:],
                      config(max_steps=12, log_interval=5, eval_interval=100,
                             batch_mode=batch_mode, grad_accum_steps=2),
                      train_documents=documents, eot_id=None, quiet=True)
    real_step, real_check, reads, checks = trainer._train_step, trainer._check, [], []

    def counted_step(batch_size):
        with HostReads() as mode:
            real_step(batch_size)
        reads.append(mode.names)

    def recorded_check(progress):
        checks.append(trainer.step)
        real_check(progress)

    trainer._train_step, trainer._check = counted_step, recorded_check
    trainer.fit()
    assert reads == [[]] * 12
    assert checks == [5, 10, 12]  # log steps and the last one


def test_bf16_autocast_trains_on_cpu_when_asked():
    _, result = fit(cfg=config(max_steps=40, precision="bf16"))
    assert result.final_val_loss < 0.8 * math.log(VOCAB)


def _batches_drawn(ramp):
    """(the rows of every batch the trainer drew, its result) for a run of ``ramp``."""
    stream = learnable_stream()
    trainer = Trainer(tiny_model(), stream[:5000], stream[5000:], ramp, quiet=True)
    drawn, draw = [], trainer.batches.draw

    def recording_draw(generator, device, batch_size):
        x, y, inputs = draw(generator, device, batch_size)
        drawn.append(len(x))
        return x, y, inputs

    trainer.batches.draw = recording_draw
    return drawn, trainer.fit()


def test_a_batch_ramp_trains_small_batches_first_then_full_ones():
    drawn, result = _batches_drawn(config(batch_size=4, start_batch_size=2,
                                          batch_ramp_tokens=10 * 2 * CONTEXT, max_steps=20))
    assert drawn == [2] * 10 + [4] * 10
    assert result.tokens_seen == (10 * 2 + 10 * 4) * CONTEXT
    assert result.final_val_loss < math.log(VOCAB)
    # A ramp never exceeds the batch: --batch-size 4 on a track that ramps from 16 is 4.
    drawn, _ = _batches_drawn(config(batch_size=4, start_batch_size=16, batch_ramp_tokens=100,
                                     max_steps=3))
    assert drawn == [4] * 3
    with pytest.raises(ValueError, match="set batch_ramp_tokens > 0"):
        config(start_batch_size=2)
