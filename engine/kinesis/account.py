"""Account-level settings: the minimum throughput billing commitment.

As AWS documents it: a commitment lasts at least 24 hours; disabling it earlier schedules
the end at the earliest allowed time (status ENABLED_UNTIL_EARLIEST_ALLOWED_END), and
enabling it again before then cancels that. Warm throughput on on-demand streams needs an
active commitment."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from .. import limits

ENABLED = "ENABLED"
DISABLED = "DISABLED"
ENDING = "ENABLED_UNTIL_EARLIEST_ALLOWED_END"


@dataclass(frozen=True)
class Commitment:
    """The commitment as DescribeAccountSettings reports it (times in engine seconds)."""

    status: str
    started_at: float | None = None
    ended_at: float | None = None
    earliest_allowed_end_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status != DISABLED


class AccountSettings:
    def __init__(self, clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._state = Commitment(DISABLED)

    def commitment(self) -> Commitment:
        with self._lock:
            return self._current(self._clock.now())

    def set_commitment(self, enabled: bool) -> Commitment:
        now = self._clock.now()
        with self._lock:
            state = self._current(now)
            if enabled:
                if state.status == DISABLED:
                    state = Commitment(ENABLED, now, None, now + limits.KINESIS_BILLING_COMMITMENT_MIN_S)
                else:   # ENABLED stays; a scheduled end is cancelled
                    state = Commitment(ENABLED, state.started_at, None, state.earliest_allowed_end_at)
            elif state.status != DISABLED:
                if now >= state.earliest_allowed_end_at:
                    state = Commitment(DISABLED, state.started_at, now, state.earliest_allowed_end_at)
                else:
                    state = Commitment(ENDING, state.started_at, None, state.earliest_allowed_end_at)
            self._state = state
            return state

    def _current(self, now: float) -> Commitment:
        state = self._state
        if state.status == ENDING and now >= state.earliest_allowed_end_at:
            state = self._state = Commitment(DISABLED, state.started_at, state.earliest_allowed_end_at,
                                             state.earliest_allowed_end_at)
        return state
