"""SQS long polls (ReceiveMessage with WaitTimeSeconds) as awaitables on the queue's wake-ups.

A poll tries a non-waiting receive; while it gets nothing it waits on a future that the queue's
watch() hook resolves, or a timer at the deadline or the queue's next due transition (a delayed
or in-flight message turning visible). Idle polls cost a future and a timer each, no thread.

Waiters on one queue are woken one at a time, oldest first: a wake-up resolves one future, and a
poll that leaves after being woken (with messages, or because the queue went away) hands the
wake-up on to the next one, so a send wakes one poll and not every idle one.
"""
from __future__ import annotations

import asyncio
import threading


class _Waiters:
    """The polls waiting on one queue, oldest first; the queue calls wake() from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue):
        self.loop = loop
        self.thread = threading.get_ident()
        self.futures: dict[asyncio.Future, None] = {}
        self.polls = 0
        self.unwatch = queue.watch(self.wake)

    def wake(self) -> None:
        if threading.get_ident() == self.thread:
            self.wake_one()
        else:
            self.loop.call_soon_threadsafe(self.wake_one)

    def wake_one(self) -> None:
        while self.futures:
            future = next(iter(self.futures))
            del self.futures[future]
            if not future.done():
                future.set_result(True)
                return

    def wake_all(self) -> None:
        futures, self.futures = self.futures, {}
        for future in futures:
            if not future.done():
                future.set_result(True)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(False)


class LongPolls:
    """Every long poll of one event loop, keyed by queue."""

    def __init__(self):
        self._waiters: dict[object, _Waiters] = {}
        self.closing = False

    async def receive(self, queue, clock, wait_seconds: float, attempt, hung_up: asyncio.Future | None = None):
        """attempt() is a non-waiting receive returning the response dict; it is retried until
        it has messages, the queue goes away, the server closes, or wait_seconds pass. Once
        `hung_up` is done (the client went away) it takes nothing more and returns None, so no
        message goes in flight for nobody."""
        loop = asyncio.get_running_loop()
        waiters = self._waiters.get(queue)
        if waiters is None:
            waiters = self._waiters[queue] = _Waiters(loop, queue)
        waiters.polls += 1   # (watching before the first try: a send after it wakes us)
        deadline = clock.now() + wait_seconds
        woken = False
        try:
            result = attempt()
            while True:
                now = clock.now()
                if result.get("Messages") or now >= deadline or self.closing or queue.deleted:
                    return result
                due = queue.next_transition()
                wake_at = deadline if due is None else min(deadline, due)
                future = loop.create_future()
                waiters.futures[future] = None
                timer = loop.call_later(max(0.0, wake_at - now), _expire, future)
                if hung_up is not None:
                    hung_up.add_done_callback(lambda _, future=future: _expire(future))
                try:
                    woken = await future
                finally:
                    timer.cancel()
                    waiters.futures.pop(future, None)
                if hung_up is not None and hung_up.done():
                    return None
                if self.closing or queue.deleted:
                    return result   # (the last, empty answer: the queue or its engine is gone)
                result = attempt()
        finally:
            waiters.polls -= 1
            if woken:
                waiters.wake_one()  # (the wake-up may have been for more than this poll took)
            if not waiters.polls:
                del self._waiters[queue]
                waiters.unwatch()

    def close(self) -> None:
        """The server is stopping: every poll answers now with what it has."""
        self.closing = True
        for waiters in list(self._waiters.values()):
            waiters.wake_all()
