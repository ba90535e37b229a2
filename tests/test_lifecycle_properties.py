"""Property tests of activation and deactivation, through the public ``PluginManager`` API.

Random acyclic graphs of plugins (a plugin only depends on plugins with a lower index), each
plugin with a random outcome for ``initialize`` and ``activate``. Every hook appends to one
shared log; a plugin also logs ``("active", name)`` from its own ``on_plugin_activated``,
which the host broadcasts right after the plugin became ACTIVE, so the log's "active"
entries are the order in which plugins became active.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaf_plugins import Plugin, PluginDependency, PluginManager, PluginMetadata, PluginStatus

# Generous, so a loaded CI machine never turns a 1 ms step into a timeout; only HANG hits it.
TIMEOUT = 0.25
OK, OK_NONE, RAISE, FALSE, HANG = "ok", "ok-none", "raise", "false", "hang"
FAILING = (RAISE, FALSE, HANG)

Log = list[tuple[str, str]]


class Probe(Plugin):
    def __init__(
        self,
        name: str,
        dependencies: Sequence[PluginDependency],
        init: str,
        activate: str,
        delay: float,
        log: Log,
    ) -> None:
        super().__init__()
        self.metadata = PluginMetadata(name=name, version="1.0", dependencies=[*dependencies])
        self.behaviour = {"init": init, "activate": activate}
        self.delay = delay
        self.log = log

    async def _run(self, step: str) -> bool | None:
        self.log.append((step, self.metadata.name))
        behaviour = self.behaviour[step]
        if behaviour == HANG:
            await anyio.sleep(20 * TIMEOUT)
            self.log.append(("not cancelled", self.metadata.name))
            return True
        if self.delay:
            await anyio.sleep(self.delay)
        if behaviour == RAISE:
            raise RuntimeError(f"{step} of {self.metadata.name} broke")
        if behaviour == FALSE:
            return False
        return None if behaviour == OK_NONE else True

    # The hookspec allows None for success, which the base class's annotation does not.
    async def initialize(self, context: Any) -> bool | None:  # type: ignore[override]
        return await self._run("init")

    async def activate(self) -> bool | None:  # type: ignore[override]
        return await self._run("activate")

    async def deactivate(self) -> bool:
        self.log.append(("deactivate", self.metadata.name))
        if self.delay:
            await anyio.sleep(self.delay)
        return True

    def on_plugin_activated(self, name: str, plugin: Plugin) -> None:
        if name == self.metadata.name:
            self.log.append(("active", name))


@dataclass(frozen=True)
class Spec:
    name: str
    requires: tuple[str, ...]
    optional: tuple[str, ...]
    dependencies: tuple[PluginDependency, ...]
    init: str
    activate: str
    delay: float


BEHAVIOURS = st.sampled_from([OK] * 5 + [OK_NONE] * 2 + [RAISE, FALSE] * 2 + [HANG])


@st.composite
def scenarios(draw: st.DrawFn) -> list[Spec]:
    size = draw(st.integers(1, 12))
    names = [f"p{i:02d}" for i in draw(st.permutations(range(size)))]
    specs: list[Spec] = []
    for i, name in enumerate(names):
        edges = (
            draw(
                st.lists(
                    st.tuples(st.integers(0, i - 1), st.booleans()),
                    max_size=3,
                    unique_by=lambda e: e[0],
                )
            )
            if i
            else []
        )
        deps = tuple(PluginDependency(names[j], ">=1.0", optional=opt) for j, opt in edges)
        hang_free = draw(st.sampled_from([OK] * 5 + [OK_NONE] * 2 + [RAISE, FALSE] * 2))
        init = draw(BEHAVIOURS)
        specs.append(
            Spec(
                name=name,
                requires=tuple(d.name for d in deps if not d.optional),
                optional=tuple(d.name for d in deps if d.optional),
                dependencies=deps,
                init=init,
                # never two hangs in one plugin: keeps the runtime down
                activate=hang_free if init == HANG else draw(BEHAVIOURS),
                delay=draw(st.sampled_from([0.0, 0.0, 0.001, 0.003])),
            )
        )
    return specs


def expected_statuses(specs: Sequence[Spec]) -> dict[str, PluginStatus]:
    """Specs come in dependency order (dependencies have lower indexes)."""
    status: dict[str, PluginStatus] = {}
    for spec in specs:
        if any(status[d] is not PluginStatus.ACTIVE for d in spec.requires):
            status[spec.name] = PluginStatus.SKIPPED
        elif spec.init in FAILING or spec.activate in FAILING:
            status[spec.name] = PluginStatus.FAILED
        else:
            status[spec.name] = PluginStatus.ACTIVE
    return status


@dataclass
class Outcome:
    before: Log
    """Log entries up to the end of activate_all."""
    after: Log
    """Log entries written by deactivate_all."""
    status: dict[str, PluginStatus | None]
    error: dict[str, str | None]
    final_status: dict[str, PluginStatus | None]
    final_error: dict[str, str | None]
    plugin_status: dict[str, PluginStatus]


async def run_scenario(specs: Sequence[Spec], load_order: Sequence[int]) -> Outcome:
    log: Log = []
    pm = PluginManager(autoload=False, timeout=TIMEOUT)
    plugins: dict[str, Plugin] = {}
    for index in load_order:
        spec = specs[index]
        plugin = Probe(spec.name, spec.dependencies, spec.init, spec.activate, spec.delay, log)
        plugins[spec.name] = await pm.load_plugin(spec.name, plugin)
    names = [s.name for s in specs]
    await pm.activate_all()
    split = len(log)
    status = {n: pm.get_status(n) for n in names}
    error = {n: pm.get_error(n) for n in names}
    await pm.deactivate_all()
    return Outcome(
        before=log[:split],
        after=log[split:],
        status=status,
        error=error,
        final_status={n: pm.get_status(n) for n in names},
        final_error={n: pm.get_error(n) for n in names},
        plugin_status={n: p.status for n, p in plugins.items()},
    )


def check(specs: Sequence[Spec], out: Outcome) -> None:
    expected = expected_statuses(specs)
    log = out.before
    assert not any(event == "not cancelled" for event, _ in log + out.after), log
    assert out.status == expected, log

    first: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(log):
        first.setdefault(entry, i)

    def count(event: str, name: str, entries: Log) -> int:
        return entries.count((event, name))

    for spec in specs:
        name, status, error = spec.name, out.status[spec.name], out.error[spec.name]

        # (a) a plugin initializes only after its required dependencies became active, and
        # after its optional dependencies finished (here: became active, when they did).
        if ("init", name) in first:
            for dep in spec.requires:
                assert ("active", dep) in first, (name, dep, log)
                assert first["active", dep] < first["init", name], (name, dep, log)
            for dep in spec.optional:
                if expected[dep] is PluginStatus.ACTIVE:
                    assert first["active", dep] < first["init", name], (name, dep, log)

        # (b) a required dependency that is not active skips the plugin, naming it.
        down = [d for d in spec.requires if out.status[d] is not PluginStatus.ACTIVE]
        if down:
            assert status is PluginStatus.SKIPPED, (name, down, status)
            assert error is not None
            assert any(f"'{d}'" in error for d in down), (error, down)
            assert all(count(e, name, log) == 0 for e in ("init", "activate", "deactivate"))

        # (c) a reason for every FAILED or SKIPPED plugin, and none for an ACTIVE one.
        if status in (PluginStatus.FAILED, PluginStatus.SKIPPED):
            assert error, (name, status)
            assert f"'{name}'" in error
        elif status is PluginStatus.ACTIVE:
            assert error is None, (name, error)
            assert count("init", name, log) == count("activate", name, log) == 1
            assert count("active", name, log) == 1
            assert count("deactivate", name, log) == 0
            assert count("deactivate", name, out.after) == 1

        # (e) a failed activate is torn down with deactivate; a failed initialize is not.
        if status is PluginStatus.FAILED:
            assert error is not None
            assert count("active", name, log + out.after) == 0
            assert count("deactivate", name, out.after) == 0
            if spec.init in FAILING:
                assert count("init", name, log) == 1
                assert count("activate", name, log) == 0
                assert count("deactivate", name, log) == 0, (name, log)
                hook, failed = "initialize", spec.init
            else:
                assert count("init", name, log) == count("activate", name, log) == 1
                assert count("deactivate", name, log) == 1, (name, log)
                assert first["activate", name] < first["deactivate", name]
                hook, failed = "activate", spec.activate
            reason = {
                RAISE: "raised RuntimeError",
                FALSE: "returned False",
                HANG: "did not finish",
            }[failed]
            assert f"{hook} {reason}" in error, error

    # (d) deactivate_all walks back exactly the order in which plugins became active.
    became_active = [name for event, name in log if event == "active"]
    assert set(became_active) == {n for n, s in expected.items() if s is PluginStatus.ACTIVE}
    torn_down = [name for event, name in out.after if event == "deactivate"]
    assert torn_down == became_active[::-1], (became_active, torn_down)
    assert {event for event, _ in out.after} <= {"deactivate"}, out.after

    # (f) afterwards nothing is ACTIVE: active plugins are INACTIVE with no error, and the
    # FAILED and SKIPPED ones keep their status and their reason.
    for spec in specs:
        name = spec.name
        final = out.final_status[name]
        assert final is not PluginStatus.ACTIVE
        assert out.plugin_status[name] is final
        if expected[name] is PluginStatus.ACTIVE:
            assert final is PluginStatus.INACTIVE, (name, final)
            assert out.final_error[name] is None
        else:
            assert final is expected[name]
            assert out.final_error[name] == out.error[name]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(specs=scenarios(), data=st.data())
def test_activation_and_deactivation_properties(
    backend: str, specs: list[Spec], data: st.DataObject
) -> None:
    load_order = data.draw(st.permutations(range(len(specs))), label="load order")
    outcome = anyio.run(run_scenario, specs, load_order, backend=backend)
    check(specs, outcome)


# -- concurrency ----------------------------------------------------------------------------

CHILDREN = 6
NAP = 0.05


class Timed(Plugin):
    def __init__(
        self, name: str, dependencies: list[str], nap: float, spans: dict[str, tuple[float, float]]
    ) -> None:
        super().__init__()
        self.metadata = PluginMetadata(name=name, dependencies=[*dependencies])
        self.nap = nap
        self.spans = spans

    async def initialize(self, context: Any) -> bool:
        started = time.monotonic()
        await anyio.sleep(self.nap)
        self.spans[self.metadata.name] = (started, time.monotonic())
        return True


@pytest.mark.anyio
async def test_independent_children_initialize_concurrently(anyio_backend: str) -> None:
    spans: dict[str, tuple[float, float]] = {}
    pm = PluginManager(autoload=False, timeout=10)
    await pm.load_plugin("root", Timed("root", [], NAP, spans))
    for i in range(CHILDREN):
        await pm.load_plugin(f"child{i}", Timed(f"child{i}", ["root"], NAP, spans))
    await pm.activate_all()
    try:
        children = [spans[f"child{i}"] for i in range(CHILDREN)]
        assert all(pm.get_status(f"child{i}") is PluginStatus.ACTIVE for i in range(CHILDREN))
        # every child waited for the root...
        root_end = spans["root"][1]
        assert all(start >= root_end for start, _ in children)
        # ...and the children ran side by side: a serial start would overlap none of them.
        overlapping = sum(
            1
            for i, (start_a, end_a) in enumerate(children)
            for start_b, end_b in children[i + 1 :]
            if start_a < end_b and start_b < end_a
        )
        assert overlapping == CHILDREN * (CHILDREN - 1) // 2, children
        # all of them were in initialize at one moment
        assert max(start for start, _ in children) < min(end for _, end in children)
    finally:
        await pm.deactivate_all()
