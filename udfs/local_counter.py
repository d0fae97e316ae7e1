"""Metric counters that count in Python and hand Flink their sums: a call into Java per flush, not per event.

In thread mode a Flink ``Counter.inc()`` is a call from Python into Java (pemja), and every such call is a point
where the job's thread-mode steps hand the one interpreter to each other (docs/benchmarks.md, "What the entity
streams cost the job"). :class:`LocalCounters` wraps a step's metric group; its :meth:`~LocalCounters.counter`
gives a :class:`LocalCounter` under the same name, which adds in Python. The contract:

- Nothing is passed on per count. A count waits in Python until its group flushes; a flush passes each counter's
  waiting sum to the Flink counter in one ``inc(n)`` (a counter with nothing waiting makes no call).
- A group flushes all its counters together, so counters that count the same events move together (``events_in``
  is ``events_valid`` plus the dead letters at every flush): when ``every`` counts have waited, when a count comes
  ``seconds`` or more after the last flush (monotonic clock), when the processing-time timer that
  :meth:`~LocalCounters.flush_within` sets fires (the keyed step's ``on_timer`` calls
  :meth:`~LocalCounters.on_timer`), and on :meth:`~LocalCounters.flush` (the step's ``close``).
- So nothing counted is lost, and a count reaches Flink within about ``seconds``, also when no event follows it: a
  job that goes quiet, a test that reads the metrics after its last record. A bounded job's last counts are passed
  on in ``close``.

Outside Flink (a unit test, the hot-path bench) the step gets no context: there is no timer, and counts are passed
on by number, by time at the next count, and on ``flush``.

Example
-------
>>> class Flink:  # a Flink counter: every call is a crossing into Java
...     def __init__(self):
...         self.calls = []
...     def inc(self, n=1):
...         self.calls.append(n)
>>> class Group:
...     def __init__(self):
...         self.made = {}
...     def counter(self, name):
...         return self.made.setdefault(name, Flink())
>>> now = [0.0]
>>> group = Group()
>>> counts = LocalCounters(group, every=1000, seconds=1.0, clock=lambda: now[0])
>>> events = counts.counter("events_in")
>>> for _ in range(3):
...     events.inc()
>>> group.made["events_in"].calls  # nothing passed on per event
[]
>>> now[0] = 1.5
>>> events.inc()  # a second and a half since the last flush: the four counts go as one
>>> group.made["events_in"].calls
[4]
>>> events.inc(2)
>>> counts.flush()  # close
>>> group.made["events_in"].calls
[4, 2]
"""

from __future__ import annotations

import time
from collections.abc import Callable

FLUSH_EVERY = 1000
"""Counts (over a group's counters) that may wait before the group passes them on."""

FLUSH_SECONDS = 1.0
"""The longest a count waits before it reaches Flink."""


class LocalCounter:
    """One counter of a :class:`LocalCounters` group: ``inc(n)`` adds in Python; the group passes the sum on."""

    __slots__ = ("counter", "group", "waiting")

    def __init__(self, counter, group: LocalCounters):
        self.counter = counter  # the Flink counter
        self.group = group
        self.waiting = 0

    def inc(self, n: int = 1) -> None:
        self.waiting += n
        self.group.counted(n)

    def pass_on(self) -> None:
        """Hand the waiting sum to the Flink counter (one call), if there is one."""
        if self.waiting:
            waiting, self.waiting = self.waiting, 0
            self.counter.inc(waiting)


class LocalMeasure(LocalCounter):
    """A counter of a quantity (nanoseconds, bytes) instead of events: ``inc(n)`` adds ``n`` without counting toward
    the group's ``every``, since a quantity would flush the group at every event; it is passed on at the group's
    flushes, with the counters of the events it was measured on."""

    __slots__ = ()

    def inc(self, n: int = 1) -> None:
        self.waiting += n


class LocalCounters:
    """The counters of one Flink metric group (``metrics_group.counter(name)``), counted locally, flushed together.

    ``every`` counts or ``seconds`` (by ``clock``, monotonic) bound how long a count waits; see the module's contract.
    """

    def __init__(
        self,
        metrics_group,
        every: int = FLUSH_EVERY,
        seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        if every < 1 or seconds <= 0:
            raise ValueError(f"every={every}, seconds={seconds}: flush after at least one count and a positive time")
        self.metrics_group = metrics_group
        self.every = every
        self.seconds = seconds
        self.clock = clock
        self.counters: list[LocalCounter] = []
        self.waiting = 0  # counts over all counters not passed on yet
        self.flushed_at = clock()
        self.timer_ms: int | None = None  # the processing-time timer set and not fired yet

    def counter(self, name: str) -> LocalCounter:
        """A local counter passing its counts to the group's Flink counter ``name``."""
        return self._kept(LocalCounter(self.metrics_group.counter(name), self))

    def measure(self, name: str) -> LocalMeasure:
        """A local counter of a quantity (:class:`LocalMeasure`) passing its sum to the Flink counter ``name``.

        >>> class Group:
        ...     def counter(self, name):
        ...         return Flink()
        >>> class Flink:
        ...     total = 0
        ...     def inc(self, n=1):
        ...         self.total += n
        >>> counts = LocalCounters(Group(), every=2)
        >>> events, cpu_ns = counts.counter("events_in"), counts.measure("cpu_ns")
        >>> cpu_ns.inc(5_000)  # no flush: a quantity is not a count of events
        >>> cpu_ns.counter.total, events.inc(), events.inc(), cpu_ns.counter.total  # the second event flushes both
        (0, None, None, 5000)
        """
        return self._kept(LocalMeasure(self.metrics_group.counter(name), self))

    def _kept(self, local: LocalCounter) -> LocalCounter:
        """``local``, now flushed with the group's other counters."""
        self.counters.append(local)
        return local

    def counted(self, n: int) -> None:
        """Note ``n`` more waiting counts (a counter's ``inc``); flush when enough wait or enough time passed."""
        self.waiting += n
        if self.waiting >= self.every or self.clock() - self.flushed_at >= self.seconds:
            self.flush()

    def flush(self) -> None:
        """Pass every counter's waiting sum on to Flink (a function's ``close`` calls this: nothing is lost)."""
        for local in self.counters:
            local.pass_on()
        self.waiting = 0
        self.flushed_at = self.clock()

    def flush_within(self, ctx) -> None:
        """Make sure the counts of the element being processed reach Flink within ``seconds`` even if no element
        follows: set a processing-time timer through the keyed function's context ``ctx``, unless one is set and
        has not fired yet (one timer per ``seconds`` at most; ``ctx`` None, outside Flink: no timer)."""
        if self.timer_ms is None and ctx is not None:
            self.timer_ms = int(time.time() * 1000 + self.seconds * 1000)
            ctx.timer_service().register_processing_time_timer(self.timer_ms)

    def on_timer(self, timestamp_ms: int) -> None:
        """A processing-time timer fired (the keyed function's ``on_timer``): flush, and let the next element set
        the next timer. A timer restored from a savepoint flushes too."""
        self.flush()
        if self.timer_ms is not None and timestamp_ms >= self.timer_ms:
            self.timer_ms = None


class CountsLocally:
    """What every keyed step with a :class:`LocalCounters` at ``self.counts`` does with it beyond counting: pass the
    last counts on in ``close`` and flush when the counters' processing-time timer fires. Put it before
    ``KeyedProcessFunction`` among the step's bases; a step with timers of its own cannot use its ``on_timer``."""

    counts: LocalCounters | None = None

    def close(self) -> None:
        if self.counts is not None:
            self.counts.flush()

    def on_timer(self, timestamp: int, ctx):
        self.counts.on_timer(timestamp)  # the counters' processing-time timer, the only one such a step sets
        return ()  # nothing to emit (an iterable: the rules' broadcast variant iterates what this returns)
