"""Ctrl-C as a request, not a crash: the loop finishes its step, saves, and returns.

A step interrupted halfway would leave gradients half-added, so the first
Ctrl-C only sets a flag the loop reads between steps. Off the main thread
(a notebook's worker) this does nothing: only it may set signal handlers.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def stop_on_ctrl_c(request_stop):
    """Inside the block, the first SIGINT calls ``request_stop()``, a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        request_stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
