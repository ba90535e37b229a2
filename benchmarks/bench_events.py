"""Event benchmark: what does ``emit_event()`` cost per emit, next to a plain loop and pluggy?

For K in {1, 10, 100}, subscribes K trivial ``async def`` handlers to the event ``"bench"``,
one per plugin: K ``Plugin`` subclasses loaded with ``load_plugin`` and started with
``activate_all()``, each registering its handler in ``activate``. Each handler increments its
plugin's counter and never sleeps. Measures, in the same process, the time of one emit:

* ``host``        ``await pm.emit_event("bench", data)`` on a ``jaf_plugins.PluginManager``;
* ``plain loop``  ``for h in handlers: await h(event)`` over the same handler method, bound to
  K other instances of the same plugin class (so each set-up keeps its own counters);
* ``pluggy``      a raw ``pluggy.PluginManager`` with K plugins implementing
  ``async def on_event(self, event)``: ``for coro in pm.hook.on_event(event=e): await coro``.

The plain loop and pluggy build one ``PluginEvent`` per emit, as the host does. Each time is
the median over ``--repeat`` runs of the mean time per emit over a run of about ``--seconds``.
Each repeat times the three back to back, and each ratio is the median of the per-repeat
ratios, so that a slow spell of the machine affects the three alike.

Usage: ``python benchmarks/bench_events.py [--backend asyncio|trio] [--repeat N] [--seconds S]``

Exits non-zero if a handler did not run exactly once per emit, if an ``EventOutcome`` does not
hold K ok results (one per plugin, in load order), or if a handler raised or timed out.
"""

from __future__ import annotations

import functools
import gc
import logging
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import pluggy
from _common import (
    machine,
    metric,
    parse_timed_runs,
    print_result,
    timed_runs_parser,
    versions,
)

from jaf_plugins import EventOutcome, Plugin, PluginEvent, PluginManager, PluginStatus

SIZES = (1, 10, 100)
EVENT = "bench"
DATA = {"payload": 42}
TARGET_PLAIN = 2.0  # host / plain loop
TARGET_PLUGGY = 1.0  # host / pluggy (strictly below)
CALIBRATION_EMITS = 50

hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


class BenchFailure(Exception):
    pass


class ErrorCounter(logging.Handler):
    """Counts the host's "handler failed / timed out" log records, which every emit would show.

    Only the last ``EventOutcome`` of each run is inspected (keeping them all would skew the
    timing), so a failure in the middle of a run is caught here instead.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# -- the three set-ups ---------------------------------------------------------------------


class HandlerPlugin(Plugin):
    """One host plugin with one ``"bench"`` handler, registered when it activates."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def activate(self) -> bool:
        self.register_event_handler(EVENT, self.handle)
        return True

    async def handle(self, event: PluginEvent) -> None:
        self.calls += 1


class Spec:
    @hookspec
    def on_event(self, event: PluginEvent) -> None:
        """An event was emitted."""


class PluggyPlugin:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    async def on_event(self, event: PluginEvent) -> None:
        self.calls += 1


Emit = Callable[[], Awaitable[Any]]


@dataclass
class Setup:
    """One way of delivering an event to K handlers, and the counters it must drive."""

    label: str
    emit: Emit
    counters: Callable[[], list[int]]
    check: Callable[[Any], None] = lambda result: None
    emits: int = 0
    times: list[float] = field(default_factory=list)


async def host_setup(k: int) -> tuple[Setup, PluginManager]:
    pm = PluginManager(autoload=False)
    plugins = [HandlerPlugin() for _ in range(k)]
    for index, plugin in enumerate(plugins):
        await pm.load_plugin(f"handler_{index:03d}", plugin)
    await pm.activate_all()
    wrong = {
        f"handler_{i:03d}": str(p.status)
        for i, p in enumerate(plugins)
        if p.status is not PluginStatus.ACTIVE
    }
    if wrong:
        raise BenchFailure(f"K={k}: after activate_all(), not ACTIVE: {wrong}")

    names = [f"handler_{index:03d}" for index in range(k)]

    def check(outcome: EventOutcome) -> None:
        if not isinstance(outcome, EventOutcome):
            raise BenchFailure(f"K={k}: emit_event returned {outcome!r}, not an EventOutcome")
        if len(outcome.results) != k or not outcome.ok:
            raise BenchFailure(
                f"K={k}: EventOutcome has {len(outcome.results)} results, "
                f"failed: {[(r.plugin, r.error) for r in outcome.failed]}"
            )
        if [r.plugin for r in outcome.results] != names:
            raise BenchFailure(f"K={k}: EventOutcome results not one per plugin in load order")

    # No wrapper coroutine: calling ``emit()`` returns ``pm.emit_event``'s own coroutine.
    emit = functools.partial(pm.emit_event, EVENT, DATA)
    setup = Setup("host emit_event()", emit, lambda: [p.calls for p in plugins], check)
    return setup, pm


def plain_setup(k: int) -> Setup:
    """K more ``HandlerPlugin`` instances (own counters), their ``handle`` awaited in a loop."""
    plugins = [HandlerPlugin() for _ in range(k)]
    handlers = [p.handle for p in plugins]

    async def emit() -> None:
        event = PluginEvent(EVENT, DATA)
        for handler in handlers:
            await handler(event)

    return Setup("plain loop", emit, lambda: [p.calls for p in plugins])


def pluggy_setup(k: int) -> Setup:
    pm = pluggy.PluginManager("bench")
    pm.add_hookspecs(Spec)
    plugins = [PluggyPlugin() for _ in range(k)]
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"handler_{index:03d}")
    hook = pm.hook.on_event

    async def emit() -> None:
        event = PluginEvent(EVENT, DATA)
        for coro in hook(event=event):
            await coro

    return Setup("pluggy hook + await", emit, lambda: [p.calls for p in plugins])


# -- timing --------------------------------------------------------------------------------


async def run_once(setup: Setup, iterations: int) -> float:
    """Mean seconds per emit over ``iterations`` emits; the last result is checked."""
    emit = setup.emit
    # Let the event loop run once: on asyncio, it drops the timer handles that the host's
    # per-handler timeouts cancelled (they stay queued while the emitting task never yields).
    await anyio.lowlevel.checkpoint()
    gc.collect()
    started = time.perf_counter()
    for _ in range(iterations - 1):
        await emit()
    result = await emit()
    elapsed = time.perf_counter() - started
    setup.emits += iterations
    setup.check(result)
    return elapsed / iterations


async def calibrate(setup: Setup, seconds: float) -> int:
    """Emits needed for one run of about ``seconds`` (this also warms up)."""
    per_emit = await run_once(setup, CALIBRATION_EMITS)
    per_emit = min(per_emit, await run_once(setup, CALIBRATION_EMITS))
    return max(CALIBRATION_EMITS, round(seconds / per_emit))


def verify(k: int, setup: Setup) -> None:
    counts = setup.counters()
    if len(counts) != k or any(c != setup.emits for c in counts):
        wrong = sorted(set(counts))
        raise BenchFailure(
            f"K={k}, {setup.label}: {setup.emits} emits, but handlers ran {wrong} times "
            f"({len(counts)} handlers)"
        )


@dataclass
class Row:
    k: int
    iterations: dict[str, int]
    host: list[float]
    plain: list[float]
    pluggy: list[float]


async def bench_size(k: int, repeat: int, seconds: float) -> Row:
    host, pm = await host_setup(k)
    setups = {"host": host, "plain": plain_setup(k), "pluggy": pluggy_setup(k)}
    iterations = {key: await calibrate(setup, seconds) for key, setup in setups.items()}
    for _ in range(repeat):
        for key, setup in setups.items():
            setup.times.append(await run_once(setup, iterations[key]))
    for setup in setups.values():
        verify(k, setup)
    await pm.deactivate_all()
    return Row(k, iterations, host.times, setups["plain"].times, setups["pluggy"].times)


async def bench(repeat: int, seconds: float) -> list[Row]:
    return [await bench_size(k, repeat, seconds) for k in SIZES]


def main(argv: list[str] | None = None) -> int:
    parser = timed_runs_parser(__doc__.splitlines()[0] if __doc__ else None)
    args = parse_timed_runs(parser, argv)

    settings = PluginManager(autoload=False).settings
    print(machine(args.backend))
    print(versions("jaf-plugins", "anyio", "trio", "pluggy"))
    print(
        f"K async handlers on {EVENT!r}, one per plugin; event_timeout {settings.event_timeout} s, "
        f"sequential dispatch; runs of ~{args.seconds} s, median of {args.repeat}"
    )

    errors = ErrorCounter()
    logging.getLogger("jaf.plugins").addHandler(errors)
    try:
        rows = anyio.run(bench, args.repeat, args.seconds, backend=args.backend)
        if errors.messages:
            raise BenchFailure(
                f"the host logged {len(errors.messages)} errors, first: {errors.messages[0]}"
            )
    except Exception as exc:  # a handler raising in any set-up is a failure too
        print(f"FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        logging.getLogger("jaf.plugins").removeHandler(errors)

    print()
    print(
        f"{'K':>4}  {'host µs':>9}  {'plain µs':>9}  {'pluggy µs':>9}  "
        f"{'host/plain':>10}  {'host/pluggy':>11}  {'host extra/handler':>18}"
    )
    missed_plain: list[str] = []
    missed_pluggy: list[str] = []
    metrics: list[dict[str, Any]] = []
    for row in rows:
        host = statistics.median(row.host) * 1e6
        plain = statistics.median(row.plain) * 1e6
        pluggy_ = statistics.median(row.pluggy) * 1e6
        vs_plain = statistics.median(h / p for h, p in zip(row.host, row.plain, strict=True))
        vs_pluggy = statistics.median(h / p for h, p in zip(row.host, row.pluggy, strict=True))
        if vs_plain > TARGET_PLAIN:
            missed_plain.append(f"K={row.k} ({vs_plain:.2f}x)")
        if vs_pluggy >= TARGET_PLUGGY:
            missed_pluggy.append(f"K={row.k} ({vs_pluggy:.2f}x)")
        metrics += [
            metric(
                f"K={row.k} host / plain loop",
                vs_plain,
                "x",
                f"<= {TARGET_PLAIN:g}x",
                vs_plain <= TARGET_PLAIN,
            ),
            metric(
                f"K={row.k} host / pluggy",
                vs_pluggy,
                "x",
                f"< {TARGET_PLUGGY:g}x",
                vs_pluggy < TARGET_PLUGGY,
            ),
        ]
        print(
            f"{row.k:>4}  {host:>9.2f}  {plain:>9.2f}  {pluggy_:>9.2f}  "
            f"{vs_plain:>9.2f}x  {vs_pluggy:>10.2f}x  {(host - plain) / row.k:>15.2f} µs"
        )
    print()
    for row in rows:
        runs = ", ".join(f"{t * 1e6:.2f}" for t in row.host)
        counts = ", ".join(f"{key} {n}" for key, n in row.iterations.items())
        print(f"K={row.k:<3} host runs (µs/emit): {runs}; emits per run: {counts}")
    print()
    for target, missed in (
        (f"host/plain <= {TARGET_PLAIN:.0f}x", missed_plain),
        (f"host/pluggy < {TARGET_PLUGGY:.0f}x", missed_pluggy),
    ):
        print(f"target {target}: " + (f"MISSED at {', '.join(missed)}" if missed else "met"))
    print(
        "every handler ran once per emit, no handler error was logged, and every checked "
        "EventOutcome held K ok results: ok"
    )
    print_result("events", args.backend, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
