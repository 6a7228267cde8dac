"""The progress bar shows where the run is now, not where it was."""

from g2c.training.progress import ProgressReporter


def test_the_bar_shows_the_last_log_windows_loss():
    reporter = ProgressReporter(max_steps=None, max_time=20.0, quiet=False)
    # Log windows whose mean loss falls fast, as at the start of every run.
    for step, loss in ((10, 4.2), (20, 3.5), (30, 2.9), (40, 2.4), (50, 2.0)):
        reporter.update(step=step, elapsed=step / 10, tokens_per_second=1000.0, train_loss=loss)
        reporter.update(step=step + 1, elapsed=step / 10 + 0.1, tokens_per_second=1000.0)
    bar = reporter.bar
    reporter.close()  # draws the final state
    assert "loss=2.000" in bar.postfix and "step=51" in bar.postfix
