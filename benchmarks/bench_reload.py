"""Hot-reload benchmark: how long from saving a plugin file to the new version answering?

Writes a directory plugin ``echo.py`` whose tool ``echo`` returns the module's ``VERSION``,
then rewrites the file N times (``--edits``, default 30), each time with a new ``VERSION``, in
one ``write_text``. For every edit, ``t0 = time.perf_counter()`` is taken right before the
write; the latency ends when the new version first answers. Measured in the same process:

* ``host, file watcher``  ``PluginManager(enable_hot_reload=True)`` with
  ``start_file_watcher(folder)``; after the write, ``pm.get_tool("echo")`` is called every
  1 ms until it answers the new version (end to end: detection, re-import, swap);
* ``direct reload``       the same edit followed by ``await pm.reload_plugin("echo")`` and one
  call, with no watcher: what the reload alone costs (re-import, initialize, swap, retire);
* ``bare watchfiles``     a plain ``awatch`` loop, without the host, on a folder holding the
  same file, using the host's settings (``PythonFilter()``, ``step=30``, ``debounce=1000``):
  the time from the write to ``awatch`` yielding the change (detection alone).

Before each edit: ``gc.collect()``, then a pause of 150 ms + [0, 30 ms] (random, ``--seed``),
so no two edits land in one watcher batch and writes fall at random points of the watcher's
30 ms step. ``--repeat R`` runs R rounds of N edits, each round with a fresh folder and
manager; the figures cover all R x N edits.

Usage: ``python benchmarks/bench_reload.py [--backend asyncio|trio] [--repeat R] [--edits N]
[--seed S]``

Exits non-zero if an edit is not answered by its new version within 5 s, if a call raises or
answers anything but the previous or the new version, if ``get_tool("echo")`` is ever
``None``, if a reload fails, or if a bare ``awatch`` batch does not name the edited file.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from _common import installed_version, metric, print_result
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from jaf_plugins import Plugin, PluginEvent, PluginManager

TARGET_MS = 200.0
GAP = 0.15  # seconds between an edit being answered and the next write, at least
POLL = 0.001  # seconds between two calls while waiting for the new version
TIMEOUT = 5.0  # seconds an edit may take before the run fails
WATCHER_START = 0.3  # seconds to let a watcher set up inotify before the first edit
# What the host's watcher uses (``Reloader._watch`` in jaf_plugins/_reload.py).
STEP_MS = 30
DEBOUNCE_MS = 1000


async def settle(rng: random.Random) -> None:
    """Collect garbage, then wait ``GAP`` plus up to one watcher step, drawn at random.

    watchfiles' thread checks for changes every ``step`` ms and needs the GIL to do so, so
    its grid of checks restarts whenever the GIL was held for long (a ``gc.collect()`` takes
    about 20 ms here) and whenever ``awatch`` resumes. Writing right after either would land
    every edit at the same point of that grid, so all edits would see the same detection
    delay; the pause and its jitter spread the writes over the step as real edits are.
    """
    gc.collect()
    await anyio.sleep(GAP + rng.uniform(0.0, STEP_MS / 1e3))


ECHO = """\
from jaf_plugins import Plugin, Tool

VERSION = {version!r}


class EchoPlugin(Plugin):
    def __init__(self):
        super().__init__()
        self.metadata.name = "echo"

    def get_tools(self):
        @Tool(name="echo", description="Which version of the file answers")
        async def echo() -> str:
            return VERSION

        return [echo]
"""


class BenchFailure(Exception):
    pass


def write_echo(folder: Path, version_: str) -> None:
    (folder / "echo.py").write_text(ECHO.format(version=version_))


@contextmanager
def plugin_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench_reload_") as tmp:
        folder = Path(tmp) / "plugins"
        folder.mkdir()
        yield folder


class ReloadCounter(Plugin):
    """Counts the host's ``plugin.reloaded`` / ``plugin.reload_failed`` announcements."""

    def __init__(self) -> None:
        super().__init__()
        self.reloaded = 0
        self.failed: list[str] = []

    async def activate(self) -> bool:
        self.register_event_handler("plugin.reloaded", self._reloaded)
        self.register_event_handler("plugin.reload_failed", self._failed)
        return True

    async def _reloaded(self, event: PluginEvent) -> None:
        if event.data.get("plugin") == "echo":
            self.reloaded += 1

    async def _failed(self, event: PluginEvent) -> None:
        self.failed.append(str(event.data.get("reason")))


async def call_echo(pm: PluginManager, edit: str) -> str:
    """One ``get_tool`` + call; any exception or a missing tool is a failure."""
    try:
        tool = pm.get_tool("echo")
    except Exception as exc:
        raise BenchFailure(f"edit {edit}: get_tool('echo') raised {exc!r}") from exc
    if tool is None:
        raise BenchFailure(f"edit {edit}: get_tool('echo') returned None (no echo tool)")
    try:
        return str(await tool())
    except Exception as exc:
        raise BenchFailure(f"edit {edit}: calling echo raised {exc!r}") from exc


async def wait_forinstalled_version(pm: PluginManager, old: str, new: str, t0: float) -> float:
    """Call echo every ``POLL`` s until it answers ``new``; return the moment it did."""
    while True:
        answer = await call_echo(pm, new)
        now = time.perf_counter()
        if answer == new:
            return now
        if answer != old:
            raise BenchFailure(f"edit {new}: echo answered {answer!r}, not {old!r} or {new!r}")
        if now - t0 > TIMEOUT:
            raise BenchFailure(f"edit {new}: the new version did not answer within {TIMEOUT} s")
        await anyio.sleep(POLL)


async def run_watcher(edits: int, tag: str, rng: random.Random) -> tuple[list[float], int]:
    """Host end to end: edit, let the file watcher reload, poll until the new version answers."""
    latencies: list[float] = []
    with plugin_folder() as folder:
        current = f"{tag}-start"
        write_echo(folder, current)
        counter = ReloadCounter()
        pm = PluginManager(enable_hot_reload=True, autoload=False)
        await pm.load_plugin("reload_counter", counter)
        await pm.load_plugins_from_directory(folder)
        async with pm:
            if await call_echo(pm, current) != current:
                raise BenchFailure("the first version does not answer")
            pm.start_file_watcher(folder)
            await anyio.sleep(WATCHER_START)
            for i in range(edits):
                new = f"{tag}-{i:04d}"
                await settle(rng)
                if await call_echo(pm, current) != current:  # still the last version
                    raise BenchFailure(f"edit {current}: a later call no longer answers it")
                t0 = time.perf_counter()
                write_echo(folder, new)
                answered = await wait_forinstalled_version(pm, current, new, t0)
                latencies.append(answered - t0)
                current = new
            await anyio.sleep(GAP)
            if await call_echo(pm, current) != current:
                raise BenchFailure(f"edit {current}: a later call no longer answers it")
        if counter.failed:
            raise BenchFailure(f"a reload failed: {counter.failed[0]}")
    return latencies, counter.reloaded


async def run_direct(edits: int, tag: str, rng: random.Random) -> tuple[list[float], list[float]]:
    """The same edits applied by ``await pm.reload_plugin("echo")``, no watcher.

    Returns (write to new version answering, ``reload_plugin`` call alone), in seconds.
    """
    latencies: list[float] = []
    reloads: list[float] = []
    with plugin_folder() as folder:
        write_echo(folder, f"{tag}-start")
        pm = PluginManager(enable_hot_reload=True, autoload=False)
        await pm.load_plugins_from_directory(folder)
        async with pm:
            for i in range(edits):
                new = f"{tag}-{i:04d}"
                await settle(rng)
                t0 = time.perf_counter()
                write_echo(folder, new)
                started = time.perf_counter()
                try:
                    await pm.reload_plugin("echo")
                except Exception as exc:
                    raise BenchFailure(f"edit {new}: reload_plugin raised {exc!r}") from exc
                reloaded = time.perf_counter()
                answer = await call_echo(pm, new)
                answered = time.perf_counter()
                if answer != new:
                    raise BenchFailure(f"edit {new}: after reload_plugin, echo answered {answer!r}")
                latencies.append(answered - t0)
                reloads.append(reloaded - started)
    return latencies, reloads


async def run_bare(edits: int, tag: str, rng: random.Random) -> list[float]:
    """watchfiles alone: the time from the write to ``awatch`` yielding the change."""
    from watchfiles import PythonFilter, awatch

    latencies: list[float] = []
    send: MemoryObjectSendStream[tuple[float, set[tuple[Any, str]]]]
    receive: MemoryObjectReceiveStream[tuple[float, set[tuple[Any, str]]]]
    send, receive = anyio.create_memory_object_stream(100)
    stop = anyio.Event()

    async def watch(folder: Path) -> None:
        async with send:
            async for changes in awatch(
                folder,
                watch_filter=PythonFilter(),
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=stop,
            ):
                await send.send((time.perf_counter(), changes))

    failure: BenchFailure | None = None
    with plugin_folder() as folder:
        write_echo(folder, f"{tag}-start")
        target = str((folder / "echo.py").resolve())
        async with anyio.create_task_group() as tg, receive:
            tg.start_soon(watch, folder.resolve())
            await anyio.sleep(WATCHER_START)
            for i in range(edits):
                new = f"{tag}-{i:04d}"
                while True:  # nothing should be pending; drop it if something is
                    try:
                        receive.receive_nowait()
                    except anyio.WouldBlock:
                        break
                await settle(rng)
                t0 = time.perf_counter()
                write_echo(folder, new)
                with anyio.move_on_after(TIMEOUT) as scope:
                    seen, changes = await receive.receive()
                if scope.cancelled_caught:
                    failure = BenchFailure(f"edit {new}: awatch yielded nothing within {TIMEOUT} s")
                elif target not in {path for _, path in changes}:
                    failure = BenchFailure(f"edit {new}: awatch yielded {changes}, not echo.py")
                if failure is not None:  # raised below: a task group would wrap it
                    break
                latencies.append(seen - t0)
            stop.set()
    if failure is not None:
        raise failure
    return latencies


@dataclass
class Results:
    watcher: list[float] = field(default_factory=list)
    reloads_seen: int = 0
    direct: list[float] = field(default_factory=list)
    reload_call: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)


async def bench(repeat: int, edits: int, seed_: int) -> Results:
    res = Results()
    for round_ in range(repeat):
        seed = f"{seed_}-{round_}"  # each measurement gets the same pauses
        watcher, reloads_seen = await run_watcher(edits, f"w{round_}", random.Random(seed))
        res.watcher += watcher
        res.reloads_seen += reloads_seen
        direct, reload_call = await run_direct(edits, f"d{round_}", random.Random(seed))
        res.direct += direct
        res.reload_call += reload_call
        res.bare += await run_bare(edits, f"b{round_}", random.Random(seed))
    return res


@dataclass(frozen=True)
class Stats:
    median: float
    p95: float
    low: float
    high: float

    @classmethod
    def of(cls, seconds: list[float]) -> Stats:
        ms = sorted(s * 1e3 for s in seconds)
        p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
        return cls(statistics.median(ms), p95, ms[0], ms[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of --edits edits, each on a fresh manager"
    )
    parser.add_argument("--edits", type=int, default=30, help="edits per round (at least 20)")
    parser.add_argument("--seed", type=int, default=20261125, help="seed of the pauses")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.edits < 20:
        parser.error("--edits must be at least 20")

    polling = "polling" if os.environ.get("WATCHFILES_FORCE_POLLING") else "OS notifications"
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"backend {args.backend}, {os.cpu_count()} cores, {platform.system()}; "
        f"anyio {installed_version('anyio')}, trio {installed_version('trio')}, "
        f"watchfiles {installed_version('watchfiles')} ({polling})"
    )
    print(
        f"{args.repeat} round(s) x {args.edits} edits of one plugin file, "
        f"{GAP * 1e3:.0f}+[0,{STEP_MS}] ms apart (seed {args.seed}); polling every "
        f"{POLL * 1e3:.0f} ms; awatch(PythonFilter(), step={STEP_MS}, "
        f"debounce={DEBOUNCE_MS}) as in the host"
    )

    try:
        res = anyio.run(bench, args.repeat, args.edits, args.seed, backend=args.backend)
    except BenchFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1

    host, direct, call, bare = (
        Stats.of(res.watcher),
        Stats.of(res.direct),
        Stats.of(res.reload_call),
        Stats.of(res.bare),
    )
    rows = [
        ("host, file watcher (end to end)", host),
        ("(a) direct reload_plugin() + call", direct),
        ("    of which reload_plugin()", call),
        ("(b) bare watchfiles awatch", bare),
    ]
    print()
    print(f"{'ms per edit':<36}{'median':>8}{'p95':>8}{'min':>8}{'max':>8}")
    for label, st in rows:
        print(f"{label:<36}{st.median:>8.1f}{st.p95:>8.1f}{st.low:>8.1f}{st.high:>8.1f}")
    print()
    print(
        f"host / bare watchfiles (medians) {host.median / bare.median:.2f}x: "
        f"host - bare = {host.median - bare.median:.1f} ms, "
        f"reload alone (a) {direct.median:.1f} ms"
    )
    total = len(res.watcher)
    extra = f", {res.reloads_seen - total} extra" if res.reloads_seen != total else ""
    print(f"watcher reloads announced: {res.reloads_seen} for {total} edits{extra}")
    met = "met" if host.median < TARGET_MS else "MISSED"
    print(f"target host median < {TARGET_MS:.0f} ms: {met} ({host.median:.1f} ms)")
    print(
        f"all {total} edits answered by exactly the new version, "
        "no call raised, get_tool never None: ok"
    )
    metrics = [
        metric(
            "host end-to-end median",
            host.median,
            "ms",
            f"< {TARGET_MS:g}ms",
            host.median < TARGET_MS,
        ),
        metric("host end-to-end p95", host.p95, "ms"),
        metric("reload_plugin() + call median", direct.median, "ms"),
        metric("host / bare watchfiles", host.median / bare.median, "x"),
    ]
    print_result("reload", args.backend, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
