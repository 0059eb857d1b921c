"""A request's time budget: how long one request may keep a run's model busy, and its cancellation
when the client goes away.

The app runs each model call in a worker thread under a ``Budget`` (``Budget.run``); the model
side asks ``current()`` for it and calls ``check()`` before every batch (an explainer's
``attribute_ids``) and waits for a run's lock at most until the deadline (``hold``). A request
over its budget, or whose client has disconnected, stops at the next batch with a ``RequestError``
and frees the run's lock; the overshoot is at most one batch (128 sentences), or for integrated
gradients one chunk of its steps (``internal_batch_size`` interpolated inputs). Building a run's
cached filter dictionary or analysis is ``exempt``: it does not hold the model. Python callers
(``Explorer`` used directly, the warm-up) have no budget and are never stopped.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

_local = threading.local()


class Budget:
    """``seconds`` of model time for one request; ``cancel()`` (the client disconnected) stops it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise the request's refusal when the client has gone or the budget is spent."""
        from textdeconv.serve.explorer import RequestError

        if self.cancelled.is_set():
            raise RequestError("the client disconnected; the request was stopped", 499)
        if self.remaining() <= 0:
            raise RequestError(f"the request needed more than its time budget of {self.seconds:g} s "
                               "(textdeconv serve --time-budget); ask for fewer sentences or a cheaper method", 503)

    def run(self, fn, *args):
        """``fn(*args)`` with this budget as the thread's current one."""
        _local.budget = self
        try:
            return fn(*args)
        finally:
            _local.budget = None


def current() -> Budget | None:
    return getattr(_local, "budget", None)


def check() -> None:
    budget = current()
    if budget is not None:
        budget.check()


@contextmanager
def hold(lock: threading.Lock, name: str):
    """``lock`` held, waited for at most until the current budget's deadline (forever without one)."""
    from textdeconv.serve.explorer import RequestError

    budget = current()
    if budget is None:
        lock.acquire()
    else:
        budget.check()
        while not lock.acquire(timeout=min(0.25, max(budget.remaining(), 0.001))):
            if budget.cancelled.is_set() or budget.remaining() <= 0:
                if budget.cancelled.is_set():
                    budget.check()
                raise RequestError(f"run {name} stayed busy with other requests for the whole time budget of "
                                   f"{budget.seconds:g} s; try again", 503)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def exempt():
    """Time that does not count against the current budget: building a run's cached dictionary or
    analysis (once per run, half a minute or more for SST-2) must not fail the request that waited for it."""
    budget, start = current(), time.monotonic()
    try:
        yield
    finally:
        if budget is not None:
            budget.deadline += time.monotonic() - start


def checked(attribute_ids):
    """An explainer's ``attribute_ids`` that checks the current budget before each batch."""

    def attribute(*args, **kwargs):
        check()
        return attribute_ids(*args, **kwargs)

    return attribute
