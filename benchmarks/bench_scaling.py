"""Scaling benchmark: does the host's per-plugin cost stay flat from 100 to 10,000 plugins?

For N in {100, 1,000, 10,000}, builds N no-op plugins with a sparse random dependency graph
(30% of the plugins depend on 1-2 earlier ones, so the graph is acyclic and every dependency
exists). Each plugin is an instance of a ``Plugin`` subclass whose ``initialize``, ``activate``
and ``deactivate`` do nothing and return True (``--bare``: a subclass that overrides none of
them, which the host does not call at all). Its metadata (name, version, description,
dependencies) is set in ``__init__``. Measures, on a fresh ``PluginManager(autoload=False)``:

* ``load``        N x ``await pm.load_plugin(name, plugin)``;
* ``activate``    ``await pm.activate_all()``;
* ``deactivate``  ``await pm.deactivate_all()``;

and, as a baseline of pluggy's own scaling, ``pluggy.PluginManager.register`` of N objects
that each implement one hook (``on_start``), on a fresh ``pluggy.PluginManager``.

Each figure is the median of ``--repeat`` runs (10x as many at N=100, whose runs are short),
each on a fresh manager with the same graph; one untimed run first pays one-time costs
(imports done on first use, per-class caches).

Usage: ``python benchmarks/bench_scaling.py [--backend asyncio|trio] [--repeat N] [--sizes ...]``

Exits non-zero if a plugin is not ACTIVE after ``activate_all()``, or not INACTIVE after
``deactivate_all()``, or if the activation order puts a plugin before one of its dependencies.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import pluggy
from _common import machine, metric, print_result, versions

from jaf_plugins import Plugin, PluginManager, PluginStatus

SIZES = (100, 1_000, 10_000)
DEPENDENT_SHARE = 0.3
TARGET_RATIO = 1.5  # per-plugin activate+deactivate, largest N over smallest N
TARGET_TOTAL = 1.0  # seconds for activate+deactivate of 10,000 plugins

hookspec = pluggy.HookspecMarker("scaling")
hookimpl = pluggy.HookimplMarker("scaling")


class BenchFailure(Exception):
    pass


def build_graph(n: int, seed: int) -> list[tuple[str, tuple[str, ...]]]:
    """(name, dependencies) in creation order; 30% depend on 1-2 earlier plugins."""
    rng = random.Random(seed * 1_000_003 + n)
    names = [f"p{i:05d}" for i in range(n)]
    graph = []
    for i, name in enumerate(names):
        deps: tuple[str, ...] = ()
        if i >= 2 and rng.random() < DEPENDENT_SHARE:
            deps = tuple(sorted(rng.sample(names[:i], rng.randint(1, 2))))
        graph.append((name, deps))
    return graph


class BarePlugin(Plugin):
    """Overrides no hook: the host has nothing to call."""

    def __init__(self, name: str, dependencies: tuple[str, ...]) -> None:
        super().__init__()
        self.metadata.name = name
        self.metadata.version = "1.0.0"
        self.metadata.description = "does nothing"
        self.metadata.dependencies = list(dependencies)


class NoopPlugin(BarePlugin):
    """Overrides the lifecycle hooks with no-ops, as a real plugin overrides ``initialize``
    (the same bodies as ``Plugin``'s defaults, which the host knows it need not call)."""

    async def initialize(self, context: Any) -> bool:
        return True

    async def activate(self) -> bool:
        return True

    async def deactivate(self) -> bool:
        return True


class Spec:
    @hookspec
    def on_start(self) -> None: ...


class PluggyObject:
    @hookimpl
    def on_start(self) -> None:
        return None


@dataclass
class Row:
    n: int
    edges: int
    load: list[float] = field(default_factory=list)
    activate: list[float] = field(default_factory=list)
    deactivate: list[float] = field(default_factory=list)
    pluggy: list[float] = field(default_factory=list)

    def med(self, attr: str) -> float:
        return statistics.median(getattr(self, attr))

    @property
    def both(self) -> list[float]:
        return [a + d for a, d in zip(self.activate, self.deactivate, strict=True)]

    @property
    def total(self) -> list[float]:
        return [lo + b for lo, b in zip(self.load, self.both, strict=True)]


async def run_host(
    graph: list[tuple[str, tuple[str, ...]]],
    cls: type[Plugin],
    profile: cProfile.Profile | None,
    collect: bool = True,
) -> tuple[float, float, float]:
    plugins = [(name, cls(name, deps)) for name, deps in graph]
    pm = PluginManager(autoload=False)
    gc.collect()  # the garbage collector stays on, as in a real host, unless --no-gc
    if not collect:
        gc.disable()
    try:
        return await _phases(pm, plugins, graph, profile)
    finally:
        gc.enable()


async def _phases(
    pm: PluginManager,
    plugins: list[tuple[str, Plugin]],
    graph: list[tuple[str, tuple[str, ...]]],
    profile: cProfile.Profile | None,
) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    for name, plugin in plugins:
        await pm.load_plugin(name, plugin)
    t1 = time.perf_counter()
    if profile is not None:
        profile.enable()
    await pm.activate_all()
    t2 = time.perf_counter()
    _check(pm, graph, PluginStatus.ACTIVE, "activate_all()")
    t3 = time.perf_counter()
    await pm.deactivate_all()
    t4 = time.perf_counter()
    if profile is not None:
        profile.disable()
    _check(pm, graph, PluginStatus.INACTIVE, "deactivate_all()")
    return t1 - t0, t2 - t1, t4 - t3


def _check(
    pm: PluginManager, graph: list[tuple[str, tuple[str, ...]]], want: PluginStatus, after: str
) -> None:
    wrong = [name for name, _ in graph if pm.get_status(name) is not want]
    if wrong:
        raise BenchFailure(
            f"after {after}, {len(wrong)} plugins not {want.value}, e.g. "
            f"{wrong[0]} is {pm.get_status(wrong[0])}: {pm.get_error(wrong[0])}"
        )
    if want is PluginStatus.ACTIVE:
        position = {name: i for i, name in enumerate(pm.activation_order)}
        if len(position) != len(graph):
            raise BenchFailure(f"{len(position)} plugins in the activation order, not {len(graph)}")
        for name, deps in graph:
            if any(position[d] > position[name] for d in deps):
                raise BenchFailure(f"{name} became ACTIVE before one of its dependencies {deps}")


def run_pluggy(n: int, collect: bool = True) -> float:
    objects = [PluggyObject() for _ in range(n)]
    pm = pluggy.PluginManager("scaling")
    pm.add_hookspecs(Spec)
    gc.collect()
    if not collect:
        gc.disable()
    try:
        started = time.perf_counter()
        for i, obj in enumerate(objects):
            pm.register(obj, name=f"p{i:05d}")
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    if len(pm.hook.on_start.get_hookimpls()) != n:
        raise BenchFailure("pluggy did not register every object")
    return elapsed


async def bench(
    sizes: list[int],
    repeat: int,
    seed: int,
    cls: type[Plugin],
    profile_n: int | None,
    collect: bool,
) -> tuple[list[Row], cProfile.Profile | None]:
    rows = []
    profile = None
    # Untimed: one-time costs (imports done on first use, per-class caches) land here.
    await run_host(build_graph(sizes[0], seed + 1), cls, None, collect)
    run_pluggy(sizes[0], collect)
    for n in sizes:
        graph = build_graph(n, seed)
        row = Row(n, sum(len(d) for _, d in graph))
        runs = repeat * min(10, max(1, 1000 // n))  # small sizes: more runs of a short time
        for r in range(runs + (profile_n == n)):  # a profiled run comes first, untimed
            prof = cProfile.Profile() if profile_n == n and r == 0 else None
            load, act, deact = await run_host(graph, cls, prof, collect)
            if prof is not None:
                profile = prof
                continue
            row.load.append(load)
            row.activate.append(act)
            row.deactivate.append(deact)
            row.pluggy.append(run_pluggy(n, collect))
        rows.append(row)
    return rows, profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--repeat", type=int, default=5, help="runs per size (median)")
    parser.add_argument("--seed", type=int, default=20261125, help="dependency graph seed")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="N")
    parser.add_argument("--bare", action="store_true", help="plugins that override no hook")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="turn the garbage collector off while timing (diagnosis, not the real figure)",
    )
    parser.add_argument(
        "--profile", type=int, metavar="N", help="cProfile one extra activate+deactivate of N"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if len(args.sizes) < 2 or min(args.sizes) < 2:
        parser.error("--sizes needs at least two sizes of at least 2")
    sizes = sorted(set(args.sizes))
    if args.profile is not None and args.profile not in sizes:
        parser.error("--profile N needs N among --sizes")

    cls = BarePlugin if args.bare else NoopPlugin
    what = "no hook overridden" if args.bare else "no-op initialize/activate/deactivate"
    print(machine(args.backend))
    print(versions("jaf-plugins", "anyio", "trio", "pluggy"))
    print(
        f"plugins: {what}; {DEPENDENT_SHARE:.0%} depend on 1-2 earlier ones (seed {args.seed}); "
        f"median of {args.repeat} (x1000/N runs below N=1000, up to x10)"
        + ("; garbage collector OFF while timing" if args.no_gc else "")
    )

    try:
        rows, profile = anyio.run(
            bench,
            sizes,
            args.repeat,
            args.seed,
            cls,
            args.profile,
            not args.no_gc,
            backend=args.backend,
        )
    except BenchFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1

    print()
    print(
        f"{'N':>7} {'edges':>6}  {'load':>8} {'activate':>9} {'deactiv.':>9} {'act+deact':>10}"
        f" {'total':>8}   {'act+deact s':>11}  {'pluggy register':>15}"
    )
    print(f"{'':>15}{'(µs per plugin, median)':^56}")
    for row in rows:
        per = [
            row.med("load") / row.n,
            row.med("activate") / row.n,
            row.med("deactivate") / row.n,
            statistics.median(row.both) / row.n,
            statistics.median(row.total) / row.n,
        ]
        cells = " ".join(f"{v * 1e6:>8.1f} " for v in per)
        print(
            f"{row.n:>7} {row.edges:>6}  {cells}  {statistics.median(row.both):>9.3f} s"
            f"  {row.med('pluggy') / row.n * 1e6:>12.2f} µs"
        )
    small, big = rows[0], rows[-1]

    def scale(values: list[float], smaller: list[float]) -> float:
        return (statistics.median(values) / big.n) / (statistics.median(smaller) / small.n)

    ratio = scale(big.both, small.both)
    total = statistics.median(big.both)
    marginal = ""
    if len(rows) >= 3:
        mid = rows[-2]
        extra = (statistics.median(big.both) - statistics.median(mid.both)) / (big.n - mid.n)
        marginal = f"{extra * 1e6:.1f} µs"
    print()
    label = f"per plugin, N={big.n} / N={small.n}"
    print(f"{label}: load {scale(big.load, small.load):.2f}x, ", end="")
    print(f"activate+deactivate {ratio:.2f}x, total {scale(big.total, small.total):.2f}x, ", end="")
    print(f"pluggy register {scale(big.pluggy, small.pluggy):.2f}x")
    if marginal:
        print(f"marginal activate+deactivate per plugin from N={rows[-2].n} to {big.n}: {marginal}")
    met_ratio = ratio <= TARGET_RATIO
    print(
        f"target activate+deactivate per plugin N={big.n}/N={small.n} <= {TARGET_RATIO}x: "
        f"{'met' if met_ratio else 'MISSED'} ({ratio:.2f}x)"
    )
    metrics = [
        metric(
            f"act+deact per plugin N={big.n} / N={small.n}",
            ratio,
            "x",
            f"<= {TARGET_RATIO}x",
            met_ratio,
        ),
    ]
    if big.n == 10_000:
        met_total = total < TARGET_TOTAL
        print(
            f"target activate+deactivate of {big.n} plugins < {TARGET_TOTAL:g} s: "
            f"{'met' if met_total else 'MISSED'} ({total:.3f} s)"
        )
        metrics.append(
            metric(f"act+deact of {big.n} plugins", total, "s", f"< {TARGET_TOTAL:g}s", met_total)
        )
    metrics += [
        metric(f"load per plugin N={big.n} / N={small.n}", scale(big.load, small.load), "x"),
        metric(f"act+deact per plugin, N={big.n}", total / big.n * 1e6, "µs"),
        metric(
            f"pluggy register per plugin N={big.n} / N={small.n}",
            scale(big.pluggy, small.pluggy),
            "x",
        ),
    ]
    print(
        "all plugins ACTIVE after activate_all() (dependencies first), "
        "INACTIVE after deactivate_all(), at every N: ok"
    )
    if profile is not None:
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(order).print_stats(25)
            print(f"\ncProfile of activate_all() + deactivate_all(), N={args.profile} ({order}):")
            print(out.getvalue())
    print_result("scaling", args.backend, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
