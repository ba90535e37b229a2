"""Activation benchmark: how close does ``activate_all()`` get to the dependency critical path?

Builds 100 plugins in a random DAG of 5 layers x 20 (each plugin of layer k>0 depends on 1-3
plugins of layer k-1); each plugin's ``initialize`` sleeps 20 ms plus a fixed per-plugin
jitter in [0, 10 ms]. Measures, in the same process and on the same graph:

* ``host``           wall time of ``PluginManager.activate_all()``;
* ``critical path``  the exact longest path through the DAG (sum of sleeps), the lower bound;
* ``level-by-level`` a plain loop running each layer in a task group, layer after layer;
* ``one-by-one``     a plain loop awaiting every ``initialize`` in topological order.

Usage: ``python benchmarks/bench_activation.py [--backend asyncio|trio] [--repeat N] [--seed S]``

Exits non-zero if a plugin does not end ACTIVE, if the host starts a plugin before its
dependencies finished, or if ``deactivate_all()`` leaves a plugin not INACTIVE.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import anyio
from _common import machine, metric, print_result

from jaf_plugins import Plugin, PluginManager, PluginStatus

LAYERS = 5
WIDTH = 20
BASE_SLEEP = 0.020
MAX_JITTER = 0.010
TARGET = 1.05


@dataclass(frozen=True)
class Spec:
    name: str
    layer: int
    duration: float
    dependencies: tuple[str, ...]


def build_graph(seed: int) -> list[Spec]:
    """5 layers of 20 plugins, listed layer by layer (hence in topological order)."""
    rng = random.Random(seed)
    specs: list[Spec] = []
    previous: list[str] = []
    for layer in range(LAYERS):
        current: list[str] = []
        for index in range(WIDTH):
            name = f"l{layer}_p{index:02d}"
            deps = tuple(sorted(rng.sample(previous, rng.randint(1, 3)))) if previous else ()
            duration = BASE_SLEEP + rng.uniform(0.0, MAX_JITTER)
            specs.append(Spec(name, layer, duration, deps))
            current.append(name)
        previous = current
    return specs


def critical_path(specs: list[Spec]) -> float:
    """Longest sum of sleep durations over any dependency path (specs are topological)."""
    finish: dict[str, float] = {}
    for spec in specs:
        finish[spec.name] = spec.duration + max((finish[d] for d in spec.dependencies), default=0)
    return max(finish.values())


def level_bound(specs: list[Spec]) -> float:
    """What a layer-at-a-time host needs at best: the sum of each layer's slowest sleep."""
    return sum(max(s.duration for s in specs if s.layer == k) for k in range(LAYERS))


class BenchPlugin(Plugin):
    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self.metadata.dependencies = list(spec.dependencies)
        self.duration = spec.duration
        self.started: float | None = None
        self.finished: float | None = None

    async def initialize(self, context: Any) -> bool:
        self.started = time.perf_counter()
        await anyio.sleep(self.duration)
        self.finished = time.perf_counter()
        return True


def make_plugins(specs: list[Spec]) -> dict[str, BenchPlugin]:
    return {spec.name: BenchPlugin(spec) for spec in specs}


class BenchFailure(Exception):
    pass


async def run_host(specs: list[Spec]) -> tuple[float, float]:
    """Time ``activate_all()``; return (seconds, critical path of the sleeps as they ran).

    The second figure is the longest path using each plugin's measured ``initialize`` time,
    so it includes the event loop's timer overshoot, which no host can avoid.
    """
    plugins = make_plugins(specs)
    pm = PluginManager(autoload=False)
    for name, plugin in plugins.items():
        await pm.load_plugin(name, plugin)

    gc.collect()
    started = time.perf_counter()
    await pm.activate_all()
    elapsed = time.perf_counter() - started

    wrong = {
        n: str(pm.get_status(n)) for n in plugins if pm.get_status(n) is not PluginStatus.ACTIVE
    }
    if wrong:
        raise BenchFailure(f"after activate_all(), not ACTIVE: {wrong}")
    as_slept: dict[str, float] = {}
    for spec in specs:
        plugin = plugins[spec.name]
        assert plugin.started is not None
        ready = max((_finished(plugins[d]) for d in spec.dependencies), default=started)
        if plugin.started < ready:
            raise BenchFailure(f"{spec.name} started before its dependencies finished")
        as_slept[spec.name] = _finished(plugin) - plugin.started
        as_slept[spec.name] += max((as_slept[d] for d in spec.dependencies), default=0)

    await pm.deactivate_all()
    wrong = {
        n: str(pm.get_status(n)) for n in plugins if pm.get_status(n) is not PluginStatus.INACTIVE
    }
    if wrong:
        raise BenchFailure(f"after deactivate_all(), not INACTIVE: {wrong}")
    return elapsed, max(as_slept.values())


def _finished(plugin: BenchPlugin) -> float:
    assert plugin.finished is not None
    return plugin.finished


async def run_level_by_level(specs: list[Spec]) -> float:
    plugins = make_plugins(specs)
    gc.collect()
    started = time.perf_counter()
    for layer in range(LAYERS):
        async with anyio.create_task_group() as tg:
            for spec in specs:
                if spec.layer == layer:
                    tg.start_soon(plugins[spec.name].initialize, None)
    return time.perf_counter() - started


async def run_one_by_one(specs: list[Spec]) -> float:
    plugins = make_plugins(specs)
    gc.collect()
    started = time.perf_counter()
    for spec in specs:
        await plugins[spec.name].initialize(None)
    return time.perf_counter() - started


@dataclass
class Results:
    host: list[float]
    as_slept: list[float]
    level: list[float]
    serial: list[float]


async def bench(specs: list[Spec], repeat: int) -> Results:
    results = Results([], [], [], [])
    for _ in range(repeat):
        host, as_slept = await run_host(specs)
        results.host.append(host)
        results.as_slept.append(as_slept)
        results.level.append(await run_level_by_level(specs))
        results.serial.append(await run_one_by_one(specs))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--seed", type=int, default=20261125, help="graph and jitter seed")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    specs = build_graph(args.seed)
    path = critical_path(specs)
    edges = sum(len(s.dependencies) for s in specs)
    total = sum(s.duration for s in specs)
    print(machine(args.backend))
    print(
        f"{len(specs)} plugins, {LAYERS} layers x {WIDTH}, {edges} edges, seed {args.seed}, "
        f"sleep {BASE_SLEEP * 1e3:.0f}+[0,{MAX_JITTER * 1e3:.0f}] ms, "
        f"sum of sleeps {total:.3f} s, median of {args.repeat}"
    )

    try:
        res = anyio.run(bench, specs, args.repeat, backend=args.backend)
    except BenchFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1

    host = statistics.median(res.host)
    slept = statistics.median(res.as_slept)
    level = statistics.median(res.level)
    serial = statistics.median(res.serial)
    rows = [
        ("host activate_all()", host, ""),
        (
            "critical path (bound)",
            path,
            f"host/critical   {host / path:6.3f}x  (target <= {TARGET})",
        ),
        ("critical path, as slept", slept, f"host/as-slept   {host / slept:6.3f}x  (info)"),
        ("level-by-level", level, f"host/level      {host / level:6.3f}x"),
        ("one-by-one", serial, f"host/one-by-one {host / serial:6.3f}x"),
    ]
    print()
    print(f"{'measurement (median)':<25}{'seconds':>8}  ratio")
    for label, seconds, ratio in rows:
        print(f"{label:<25}{seconds:>8.4f}  {ratio}")
    print()
    print(f"host runs: {', '.join(f'{s:.4f}' for s in res.host)}")
    print(
        f"ideal level-by-level (sum of layer maxima) {level_bound(specs):.4f} s; "
        f"timer overshoot per sleep {(serial - total) / len(specs) * 1e3:.2f} ms (one-by-one)"
    )
    met = "met" if host / path <= TARGET else "MISSED"
    print(f"target host/critical <= {TARGET:.2f}x: {met}")
    print("all 100 plugins ACTIVE after activate_all(), INACTIVE after deactivate_all(): ok")
    metrics = [
        metric("host / critical path", host / path, "x", f"<= {TARGET}x", host / path <= TARGET),
        metric("host / as slept", host / slept, "x"),
        metric("host / level-by-level", host / level, "x"),
        metric("host activate_all()", host * 1e3, "ms"),
    ]
    print_result("activation", args.backend, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
