"""The engine's only source of time.

Every timed rule (retention, iterator expiry, visibility timeouts, buffer intervals) reads
`clock.now()` and schedules through `clock.call_at()`, so tests swap in a ManualClock and
advance it by hand instead of sleeping.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
import weakref
from typing import Callable


class _Timer:
    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], None]):
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Base: a heap of timers plus a way to wait on a condition until a deadline."""

    def __init__(self) -> None:
        self._timers: list = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def call_at(self, when: float, fn: Callable[[], None]) -> _Timer:
        timer = _Timer(when, fn)
        with self._lock:
            heapq.heappush(self._timers, (when, next(self._seq), timer))
        self._timers_changed()
        return timer

    def call_later(self, delay: float, fn: Callable[[], None]) -> _Timer:
        return self.call_at(self.now() + delay, fn)

    def _pop_due(self, now: float) -> list:
        due = []
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                timer = heapq.heappop(self._timers)[2]
                if not timer.cancelled:
                    due.append(timer)
        return due

    def _next_deadline(self) -> float | None:
        with self._lock:
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            return self._timers[0][0] if self._timers else None

    def _timers_changed(self) -> None:
        pass

    def wait(self, cond: threading.Condition, deadline: float) -> None:
        """Wait on `cond` (already held) until notified or the clock reaches `deadline`."""
        raise NotImplementedError  # pragma: no cover

    def close(self) -> None:
        pass


class WallClock(Clock):
    """Real time; timers run on one daemon thread, started on first use."""

    def __init__(self) -> None:
        super().__init__()
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closed = False

    def now(self) -> float:
        return time.time()

    def wait(self, cond: threading.Condition, deadline: float) -> None:
        remaining = deadline - self.now()
        if remaining > 0:
            cond.wait(remaining)

    def _timers_changed(self) -> None:
        with self._wake:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="engine-clock", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._closed:
                    return
                deadline = self._next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self.now())
                if timeout is None or timeout > 0:
                    self._wake.wait(timeout)
            for timer in self._pop_due(self.now()):
                _run_timer(timer)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()


class ManualClock(Clock):
    """Time that moves only when a test calls advance(); due timers run inside advance()."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        super().__init__()
        self._now = float(start)
        self._waiters: "weakref.WeakSet[threading.Condition]" = weakref.WeakSet()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        target = self._now + seconds
        # Step through timers in time order so each sees the clock at its own deadline.
        while True:
            deadline = self._next_deadline()
            if deadline is None or deadline > target:
                break
            self._now = max(self._now, deadline)
            for timer in self._pop_due(self._now):
                _run_timer(timer)
        self._now = target
        self._notify_waiters()
        return self._now

    def set(self, when: float) -> float:
        return self.advance(max(0.0, when - self._now))

    def wait(self, cond: threading.Condition, deadline: float) -> None:
        if self._now >= deadline:
            return
        self._waiters.add(cond)
        # A short real-time cap keeps a waiter live even if it missed a notify.
        cond.wait(0.05)

    def _notify_waiters(self) -> None:
        for cond in list(self._waiters):
            with cond:
                cond.notify_all()


def _run_timer(timer: _Timer) -> None:
    try:
        timer.fn()
    except Exception:  # a failing background task must not stop the clock
        import logging

        logging.getLogger("engine").exception("timer callback failed")
