"""Tool-call benchmark: what does calling a tool through the host add to a validated call?

One ``ToolPlugin`` is loaded and activated in a ``PluginManager(autoload=False)``. It offers
two tools made with ``jaf_plugins.Tool`` from ``get_weather(location: str, units: str =
"metric") -> dict``: a sync one and an ``async def`` twin. Each call passes the keyword
arguments ``location="Paris", units="imperial"``. Measures, in the same process, the time of
one call, for the sync and for the async tool:

* ``host``               ``pm.get_tool(name)(**args)``: the lookup, then ``Tool.__call__``
  (validate the keywords with the tool's pydantic model, call with the validated values);
* ``Tool.__call__``      ``tool(**args)`` on a tool object looked up once (informational: the
  host's call without the lookup);
* ``validated direct``   the baseline: what a careful caller without the host pays, with the
  same pydantic model: ``func(**tool.parameters.model_validate(args).model_dump())``;
* ``plain function``     ``func(**args)``, no validation (informational);
* ``get_tool`` alone     ``pm.get_tool(name)``, the lookup by itself (informational).

Async calls are awaited. Each set-up is calibrated once so that a run lasts about ``--seconds``;
a figure is the mean time per call over one run, and the table shows the median of
``--repeat`` runs. Each repeat times the four back to back, and each ratio is the median of
the per-repeat ratios.

Usage: ``python benchmarks/bench_tools.py [--backend asyncio|trio] [--repeat N] [--seconds S]``

Exits non-zero if a call returns anything other than the expected result, if a tool is not
offered by the plugin, or if an async tool is still counted in flight after the runs.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from _common import machine, metric, parse_timed_runs, print_result, timed_runs_parser, versions

from jaf_plugins import PluginManager, PluginStatus, Tool, ToolPlugin

TARGET = 1.2  # host / validated direct
ARGS: dict[str, Any] = {"location": "Paris", "units": "imperial"}
EXPECTED = {"location": "Paris", "units": "imperial", "temperature": 21.5}
CALIBRATION_CALLS = 200


def get_weather(location: str, units: str = "metric") -> dict[str, Any]:
    """Current weather in a city."""
    return {"location": location, "units": units, "temperature": 21.5}


async def get_weather_async(location: str, units: str = "metric") -> dict[str, Any]:
    """Current weather in a city (async)."""
    return {"location": location, "units": units, "temperature": 21.5}


class WeatherPlugin(ToolPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.metadata.name = "weather"
        self.metadata.version = "1.0.0"

    def get_tools(self) -> list[Tool]:
        return [Tool(get_weather), Tool(get_weather_async)]


class BenchFailure(Exception):
    pass


# One loop per way of calling, each the same shape, so the loop costs the same in each.
# Each returns the last result, which is checked.


def sync_host(pm: PluginManager, name: str, n: int) -> Any:
    get_tool = pm.get_tool
    result = None
    for _ in range(n):
        result = get_tool(name)(**ARGS)
    return result


def sync_tool(tool: Tool, n: int) -> Any:
    result = None
    for _ in range(n):
        result = tool(**ARGS)
    return result


def sync_validated(tool: Tool, n: int) -> Any:
    func, model = tool.func, tool.parameters
    result = None
    for _ in range(n):
        result = func(**model.model_validate(ARGS).model_dump())
    return result


def sync_plain(tool: Tool, n: int) -> Any:
    func = tool.func
    result = None
    for _ in range(n):
        result = func(**ARGS)
    return result


def lookup(pm: PluginManager, name: str, n: int) -> Any:
    get_tool = pm.get_tool
    result = None
    for _ in range(n):
        result = get_tool(name)
    return result


async def async_host(pm: PluginManager, name: str, n: int) -> Any:
    get_tool = pm.get_tool
    result = None
    for _ in range(n):
        result = await get_tool(name)(**ARGS)
    return result


async def async_tool(tool: Tool, n: int) -> Any:
    result = None
    for _ in range(n):
        result = await tool(**ARGS)
    return result


async def async_validated(tool: Tool, n: int) -> Any:
    func, model = tool.func, tool.parameters
    result = None
    for _ in range(n):
        result = await func(**model.model_validate(ARGS).model_dump())
    return result


async def async_plain(tool: Tool, n: int) -> Any:
    func = tool.func
    result = None
    for _ in range(n):
        result = await func(**ARGS)
    return result


WAYS = ("host", "tool", "validated", "plain")
LABELS = {
    "host": "host: pm.get_tool(name)(**args)",
    "tool": "Tool.__call__, no lookup",
    "validated": "validated direct (baseline)",
    "plain": "plain function, unvalidated",
}


@dataclass
class Row:
    kind: str
    times: dict[str, list[float]] = field(default_factory=lambda: {w: [] for w in WAYS})
    calls: dict[str, int] = field(default_factory=dict)
    lookup: list[float] = field(default_factory=list)

    def ratio(self, way: str, base: str) -> float:
        pairs = zip(self.times[way], self.times[base], strict=True)
        return statistics.median(a / b for a, b in pairs)


async def _timed(run: Callable[[int], Any], n: int) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = run(n)
    if isinstance(result, Awaitable):
        result = await result
    return (time.perf_counter() - started) / n, result


async def bench(repeat: int, seconds: float) -> list[Row]:
    pm = PluginManager(autoload=False)
    await pm.load_plugin("weather", WeatherPlugin())
    await pm.activate_all()
    try:
        if pm.get_status("weather") is not PluginStatus.ACTIVE:
            raise BenchFailure(f"weather is {pm.get_status('weather')}: {pm.get_error('weather')}")
        rows = []
        for kind, name, loops in (
            ("sync", "get_weather", (sync_host, sync_tool, sync_validated, sync_plain)),
            (
                "async",
                "get_weather_async",
                (async_host, async_tool, async_validated, async_plain),
            ),
        ):
            tool = pm.get_tool(name)
            if tool is None or tool.plugin != "weather":
                raise BenchFailure(f"tool {name!r} is not offered by the plugin 'weather'")
            runners: dict[str, Callable[[int], Any]] = {
                "host": lambda n, loop=loops[0], name=name: loop(pm, name, n),
                "tool": lambda n, loop=loops[1], tool=tool: loop(tool, n),
                "validated": lambda n, loop=loops[2], tool=tool: loop(tool, n),
                "plain": lambda n, loop=loops[3], tool=tool: loop(tool, n),
            }
            row = Row(kind)
            for way, run in runners.items():  # calibrate: calls per run of about ``seconds``
                per_call, _ = await _timed(run, CALIBRATION_CALLS)
                row.calls[way] = max(CALIBRATION_CALLS, int(seconds / per_call))
            lookups = row.calls["plain"]
            for _ in range(repeat):
                for way, run in runners.items():
                    per_call, result = await _timed(run, row.calls[way])
                    if result != EXPECTED:
                        raise BenchFailure(f"{kind} {way} returned {result!r}")
                    row.times[way].append(per_call)
                per_call, found = await _timed(lambda n, name=name: lookup(pm, name, n), lookups)
                if found is not tool:
                    raise BenchFailure(f"get_tool({name!r}) returned {found!r}")
                row.lookup.append(per_call)
            if tool.in_flight:
                raise BenchFailure(f"{name} still counts {tool.in_flight} calls in flight")
            rows.append(row)
        return rows
    finally:
        await pm.deactivate_all()


def main(argv: list[str] | None = None) -> int:
    parser = timed_runs_parser(__doc__.splitlines()[0] if __doc__ else None)
    args = parse_timed_runs(parser, argv)

    print(machine(args.backend))
    print(versions("jaf-plugins", "pydantic", "anyio", "trio"))
    print(f"tool get_weather(location: str, units: str = 'metric'), called with {ARGS}")
    print(f"runs of ~{args.seconds} s, median of {args.repeat}")

    try:
        rows = anyio.run(bench, args.repeat, args.seconds, backend=args.backend)
    except BenchFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1

    metrics = []
    missed = []
    for row in rows:
        print()
        print(f"{row.kind + ' tool':<36}{'µs/call':>9}{'/ validated':>13}{'/ plain':>9}")
        for way in WAYS:
            per_call = statistics.median(row.times[way]) * 1e6
            print(
                f"{LABELS[way]:<36}{per_call:>9.2f}{row.ratio(way, 'validated'):>12.2f}x"
                f"{row.ratio(way, 'plain'):>8.2f}x"
            )
        ratio = row.ratio("host", "validated")
        met = ratio <= TARGET
        if not met:
            missed.append(f"{row.kind} ({ratio:.2f}x)")
        found = statistics.median(row.lookup) * 1e6
        print(f"{'pm.get_tool(name) alone':<36}{found:>9.2f}")
        metrics += [
            metric(f"{row.kind} host / validated direct", ratio, "x", f"<= {TARGET}x", met),
            metric(f"{row.kind} host / plain function", row.ratio("host", "plain"), "x"),
            metric(f"{row.kind} host call", statistics.median(row.times["host"]) * 1e6, "µs"),
        ]
    print()
    print(
        f"target host / validated <= {TARGET}x: "
        + (f"MISSED ({', '.join(missed)})" if missed else "met")
    )
    print("every call returned the expected result, no async call left in flight: ok")
    print_result("tools", args.backend, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
