"""Events between plugins, through the public API only."""

from __future__ import annotations

import time
import types
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaf_plugins import (
    EventDepthError,
    EventHandler,
    EventOutcome,
    JafPluginsError,
    Plugin,
    PluginEvent,
    PluginManager,
    PluginMetadata,
    PluginStatus,
    Tool,
    hookimpl,
)


class Recorder(Plugin):
    """Registers ``handlers`` (event name → functions) in ``activate``."""

    def __init__(
        self,
        handlers: dict[str, list[Callable[..., Any]]] | None = None,
        *,
        dependencies: list[str] | None = None,
        activate_ok: bool = True,
    ) -> None:
        super().__init__()
        self._to_register = handlers or {}
        self._activate_ok = activate_ok
        self.metadata.dependencies = list(dependencies or [])

    async def activate(self) -> bool:
        for event_name, functions in self._to_register.items():
            for fn in functions:
                self.register_event_handler(event_name, fn)
        return self._activate_ok


def _appender(log: list[str], label: str) -> Callable[[PluginEvent], str]:
    def handler(event: PluginEvent) -> str:
        log.append(label)
        return label

    handler.__qualname__ = label
    return handler


# -- registration forms and the event itself -------------------------------------------------------


@pytest.mark.anyio
async def test_register_event_handler_receives_a_plugin_event() -> None:
    seen: list[PluginEvent] = []
    async with PluginManager() as pm:
        await pm.load_plugin("auth", Recorder({"user_login": [seen.append]}))
        await pm.activate_all()
        before = time.time()
        outcome = await pm.emit_event("user_login", {"user_id": "u1"})
        after = time.time()

    assert isinstance(outcome, EventOutcome)
    assert len(seen) == 1
    event = seen[0]
    assert event is outcome.event
    assert event.name == "user_login"
    assert event.data == {"user_id": "u1"}
    assert isinstance(event.timestamp, float)
    assert before <= event.timestamp <= after
    assert event.source is None
    assert outcome.ok
    assert outcome.handled
    assert outcome.failed == ()
    assert [(r.plugin, r.ok) for r in outcome.results] == [("auth", True)]


@pytest.mark.anyio
async def test_an_event_nobody_handles_is_ok_and_unhandled() -> None:
    async with PluginManager() as pm:
        outcome = await pm.emit_event("nobody.listens", 1)
    assert outcome.ok
    assert not outcome.handled
    assert outcome.results == ()
    assert outcome.event.name == "nobody.listens"


@pytest.mark.anyio
async def test_event_handler_methods_are_registered_when_the_plugin_activates() -> None:
    class Orders(Plugin):
        def __init__(self) -> None:
            super().__init__()
            self.log: list[tuple[str, Any]] = []

        @EventHandler("order_created")
        async def _handle_order_created(self, event: PluginEvent) -> str:
            self.log.append(("created", event.data["order_id"]))
            return "created"

        @EventHandler("order_paid")
        @EventHandler("order_shipped")
        def _handle_progress(self, event: PluginEvent) -> None:
            self.log.append((event.name, event.data["order_id"]))

    plugin = Orders()
    async with PluginManager() as pm:
        await pm.load_plugin("orders", plugin)
        early = await pm.emit_event("order_created", {"order_id": 0})
        assert not early.handled
        assert await pm.activate_plugin("orders")
        outcome = await pm.emit_event("order_created", {"order_id": 1})
        await pm.emit_event("order_paid", {"order_id": 1})
        await pm.emit_event("order_shipped", {"order_id": 1})

    assert plugin.log == [("created", 1), ("order_paid", 1), ("order_shipped", 1)]
    assert [(r.plugin, r.value) for r in outcome.results] == [("orders", "created")]
    assert "_handle_order_created" in outcome.results[0].handler


@pytest.mark.anyio
async def test_self_event_handler_inside_a_method_binds_self() -> None:
    """The spec's complete example: tools, an agent-free plugin and an inner handler."""

    class EmailPlugin(Plugin):
        def __init__(self) -> None:
            super().__init__()
            self.metadata = PluginMetadata(
                name="email_plugin", version="1.0.0", dependencies=["core"]
            )
            self.sent: list[dict[str, Any]] = []
            self.pings: list[str] = []

        async def activate(self) -> bool:
            self._register_tools()
            self._register_event_handlers()
            return True

        def _register_tools(self) -> None:
            @Tool(name="send_email", description="Send an email message")
            async def send_email(to: str, subject: str, body: str) -> dict[str, Any]:
                self.sent.append({"to": to, "subject": subject, "body": body})
                return {"success": True}

            @Tool(name="send_template_email", description="Send email using a template")
            async def send_template_email(
                to: str, template: str, variables: dict[str, Any]
            ) -> dict[str, Any]:
                result: dict[str, Any] = await send_email(
                    to, f"Template: {template}", f"Template {template} with {variables}"
                )
                return result

            self.tools = [send_email, send_template_email]

        def _register_event_handlers(self) -> None:
            @self.event_handler("user_signup")
            async def handle_user_signup(self: EmailPlugin, event: PluginEvent) -> str:
                user_email = event.data.get("email")
                await self.tools[1](
                    to=user_email,
                    template="welcome",
                    variables={"name": event.data.get("name", "User")},
                )
                return str(self.metadata.name)

            @self.event_handler("ping")
            def on_ping(event: PluginEvent) -> None:
                self.pings.append(event.name)

    plugin = EmailPlugin()
    async with PluginManager() as pm:
        await pm.load_plugin("email_plugin", plugin)
        assert await pm.activate_plugin("email_plugin")
        assert pm.get_tool("send_email") is plugin.tools[0]
        outcome = await pm.emit_event("user_signup", {"email": "new@example.com", "name": "Ada"})
        await pm.emit_event("ping")

    assert outcome.ok, outcome.failed
    assert [r.value for r in outcome.results] == ["email_plugin"]
    assert plugin.sent == [
        {
            "to": "new@example.com",
            "subject": "Template: welcome",
            "body": "Template welcome with {'name': 'Ada'}",
        }
    ]
    assert plugin.pings == ["ping"]


@pytest.mark.anyio
async def test_plugin_emit_event_names_the_plugin_as_source() -> None:
    seen: list[PluginEvent] = []
    emitter = Recorder()
    async with PluginManager() as pm:
        await pm.load_plugin("emitter", emitter)
        await pm.load_plugin("listener", Recorder({"thing.happened": [seen.append]}))
        await pm.activate_all()
        outcome = await emitter.emit_event("thing.happened", [1, 2])
    assert outcome.event.source == "emitter"
    assert [(e.name, e.data, e.source) for e in seen] == [("thing.happened", [1, 2], "emitter")]


@pytest.mark.anyio
async def test_emitting_from_a_plugin_that_is_not_loaded_is_a_clear_error() -> None:
    with pytest.raises(JafPluginsError, match="load"):
        await Recorder().emit_event("x")


# -- the same handler twice ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_handler_registered_twice_for_one_event_runs_once() -> None:
    """The spec's EventDrivenPlugin registers in activate() and marks with @EventHandler."""

    class EventDrivenPlugin(Plugin):
        def __init__(self) -> None:
            super().__init__()
            self.logins: list[str] = []

        async def activate(self) -> bool:
            self.register_event_handler("user_login", self._handle_user_login)
            self.register_event_handler("user_login", self._handle_user_login)
            return True

        @EventHandler("user_login")
        async def _handle_user_login(self, event: PluginEvent) -> None:
            self.logins.append(event.data["user_id"])

    plugin = EventDrivenPlugin()
    async with PluginManager() as pm:
        await pm.load_plugin("event_driven", plugin)
        await pm.activate_all()
        outcome = await pm.emit_event("user_login", {"user_id": "u1"})
    assert plugin.logins == ["u1"]
    assert len(outcome.results) == 1


@pytest.mark.anyio
async def test_the_same_function_through_every_registration_form_runs_once() -> None:
    calls: list[str] = []

    def record(event: PluginEvent) -> None:
        calls.append(event.name)

    class Twice(Plugin):
        async def activate(self) -> bool:
            self.register_event_handler("x", record)
            self.register_event_handler("x", record)
            self.event_handler("x")(record)

            def bound(self: Twice, event: PluginEvent) -> None:
                calls.append("bound")

            self.event_handler("x")(bound)
            self.event_handler("x")(bound)
            return True

    async with PluginManager() as pm:
        await pm.load_plugin("twice", Twice())
        await pm.activate_all()
        outcome = await pm.emit_event("x")
    assert calls == ["x", "bound"]
    assert len(outcome.results) == 2


# -- only ACTIVE plugins hear events ---------------------------------------------------------------


class Marked(Plugin):
    """Handlers in every form, and optionally failing at a given step."""

    def __init__(self, log: list[str], *, fail_in: str | None = None) -> None:
        super().__init__()
        self.log = log
        self.fail_in = fail_in

    async def initialize(self, context: Any) -> bool:
        if self.fail_in == "initialize":
            raise RuntimeError("no database")
        return True

    async def activate(self) -> bool:
        self.register_event_handler("evt", _appender(self.log, f"{self.metadata.name}:registered"))
        return self.fail_in != "activate"

    @EventHandler("evt")
    def _marked(self, event: PluginEvent) -> None:
        self.log.append(f"{self.metadata.name}:marked")

    def on_event(self, event: PluginEvent) -> None:
        self.log.append(f"{self.metadata.name}:on_event")


@pytest.mark.anyio
async def test_handlers_of_plugins_that_are_not_active_never_run() -> None:
    log: list[str] = []
    async with PluginManager() as pm:
        await pm.load_plugin("live", Marked(log))
        await pm.load_plugin("idle", Marked(log))
        await pm.load_plugin("broken_init", Marked(log, fail_in="initialize"))
        await pm.load_plugin("broken_activate", Marked(log, fail_in="activate"))
        await pm.load_plugin("leaving", Marked(log))
        await pm.load_plugin("dependent", Recorder(dependencies=["broken_init"]))
        for name in ("live", "broken_init", "broken_activate", "leaving", "dependent"):
            await pm.activate_plugin(name)
        assert pm.get_status("idle") is PluginStatus.INACTIVE
        assert pm.get_status("broken_init") is PluginStatus.FAILED
        assert pm.get_status("broken_activate") is PluginStatus.FAILED
        assert pm.get_status("dependent") is PluginStatus.SKIPPED

        both = await pm.emit_event("evt")
        assert sorted(log) == sorted(
            [
                *("live:registered", "live:marked", "live:on_event"),
                *("leaving:registered", "leaving:marked", "leaving:on_event"),
            ]
        )
        assert {r.plugin for r in both.results} == {"live", "leaving"}

        await pm.deactivate_plugin("leaving")
        assert pm.get_status("leaving") is PluginStatus.INACTIVE
        log.clear()
        outcome = await pm.emit_event("evt")
        assert log == ["live:registered", "live:marked", "live:on_event"]
        assert {r.plugin for r in outcome.results} == {"live"}
    log.clear()
    after_exit = await pm.emit_event("evt")
    assert log == []
    assert not after_exit.handled


@pytest.mark.anyio
async def test_a_handler_registered_while_active_runs() -> None:
    # register_event_handler: "Run handler(event) for every event_name event while this
    # plugin is ACTIVE" - registering after activation must take effect too.
    log: list[str] = []
    plugin = Recorder()
    async with PluginManager() as pm:
        await pm.load_plugin("late", plugin)
        await pm.activate_all()
        plugin.register_event_handler("evt", _appender(log, "late"))
        outcome = await pm.emit_event("evt")
    assert log == ["late"]
    assert [r.value for r in outcome.results] == ["late"]


# -- handlers emitting events ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_a_handler_may_emit_a_further_event(concurrent: bool) -> None:
    activity: list[PluginEvent] = []

    class EventDrivenPlugin(Plugin):
        @EventHandler("user_login")
        async def _handle_user_login(self, event: PluginEvent) -> EventOutcome:
            return await self.emit_event(
                "user_activity",
                {"user_id": event.data["user_id"], "timestamp": event.timestamp},
            )

    def record(event: PluginEvent) -> str:
        activity.append(event)
        return "recorded"

    async with PluginManager(concurrent_events=concurrent) as pm:
        await pm.load_plugin("event_driven", EventDrivenPlugin())
        await pm.load_plugin("audit", Recorder({"user_activity": [record]}))
        await pm.activate_all()
        with anyio.fail_after(5):
            outcome = await pm.emit_event("user_login", {"user_id": "u7"})

    assert outcome.ok
    (login,) = outcome.results
    nested = login.value
    assert isinstance(nested, EventOutcome)
    assert nested.event.name == "user_activity"
    assert nested.event.source == "event_driven"
    assert [(r.plugin, r.value) for r in nested.results] == [("audit", "recorded")]
    assert [e.data for e in activity] == [{"user_id": "u7", "timestamp": outcome.event.timestamp}]


@pytest.mark.anyio
async def test_a_runaway_emit_loop_hits_the_depth_limit_without_crashing_the_host() -> None:
    depth_limit = 4
    calls: list[int] = []

    class Echo(Plugin):
        @EventHandler("echo")
        async def _again(self, event: PluginEvent) -> EventOutcome:
            calls.append(event.data)
            return await self.emit_event("echo", event.data + 1)

    async with PluginManager(max_event_depth=depth_limit) as pm:
        await pm.load_plugin("echo", Echo())
        await pm.activate_all()
        with anyio.fail_after(5):
            outcome = await pm.emit_event("echo", 0)

        chain: list[EventOutcome] = [outcome]
        while chain[-1].results and chain[-1].results[0].ok:
            value = chain[-1].results[0].value
            assert isinstance(value, EventOutcome)
            chain.append(value)
        innermost = chain[-1].results[0]
        assert not innermost.ok
        assert isinstance(innermost.error, EventDepthError)
        assert innermost.error.plugin == "echo"
        assert innermost.plugin == "echo"
        assert chain[-1].failed == (innermost,)
        assert len(chain) == depth_limit
        assert calls == list(range(depth_limit))

        # The host keeps working.
        assert pm.get_status("echo") is PluginStatus.ACTIVE
        assert (await pm.emit_event("something.else")).ok


# -- kinds of handlers and what they do ------------------------------------------------------------


@pytest.mark.anyio
async def test_sync_and_async_handlers_both_run() -> None:
    def sync_handler(event: PluginEvent) -> str:
        return f"sync:{event.data}"

    async def async_handler(event: PluginEvent) -> str:
        await anyio.lowlevel.checkpoint()
        return f"async:{event.data}"

    async with PluginManager() as pm:
        await pm.load_plugin("mixed", Recorder({"go": [sync_handler, async_handler]}))
        await pm.activate_all()
        outcome = await pm.emit_event("go", 3)
    assert [r.value for r in outcome.results] == ["sync:3", "async:3"]
    assert [r.handler.rsplit(".", 1)[-1] for r in outcome.results] == [
        "sync_handler",
        "async_handler",
    ]


@pytest.mark.anyio
async def test_a_failing_handler_is_reported_and_the_others_still_run() -> None:
    log: list[str] = []
    boom = ValueError("bad payload")

    async def explode(event: PluginEvent) -> None:
        log.append("explode")
        raise boom

    async with PluginManager() as pm:
        await pm.load_plugin(
            "a", Recorder({"evt": [_appender(log, "a1"), explode, _appender(log, "a2")]})
        )
        await pm.load_plugin("b", Recorder({"evt": [_appender(log, "b1")]}))
        await pm.activate_all()
        outcome = await pm.emit_event("evt")
        assert pm.get_status("a") is PluginStatus.ACTIVE

    assert log == ["a1", "explode", "a2", "b1"]
    assert not outcome.ok
    assert outcome.handled
    (failed,) = outcome.failed
    assert failed.error is boom
    assert failed.plugin == "a"
    assert failed.handler.endswith("explode")
    assert [r.ok for r in outcome.results] == [True, False, True, True]


@pytest.mark.anyio
async def test_a_slow_handler_is_cut_by_the_event_timeout() -> None:
    log: list[str] = []
    finished: list[str] = []

    async def slow(event: PluginEvent) -> None:
        log.append("slow")
        await anyio.sleep(30)
        finished.append("slow")

    async with PluginManager(event_timeout=0.05) as pm:
        await pm.load_plugin("lazy", Recorder({"evt": [slow, _appender(log, "quick")]}))
        await pm.activate_all()
        with anyio.fail_after(10):
            outcome = await pm.emit_event("evt")

    assert log == ["slow", "quick"]
    assert finished == []
    (failed,) = outcome.failed
    assert failed.plugin == "lazy"
    assert failed.handler.endswith("slow")
    assert isinstance(failed.error, TimeoutError)
    assert outcome.results[1].value == "quick"


@pytest.mark.anyio
@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_concurrent_events_run_handlers_concurrently(concurrent: bool) -> None:
    spans: dict[str, tuple[float, float]] = {}

    def timed(label: str) -> Callable[[PluginEvent], Any]:
        async def handler(event: PluginEvent) -> str:
            start = anyio.current_time()
            await anyio.sleep(0.05)
            spans[label] = (start, anyio.current_time())
            return label

        return handler

    async with PluginManager(concurrent_events=concurrent) as pm:
        await pm.load_plugin("one", Recorder({"evt": [timed("one.a"), timed("one.b")]}))
        await pm.load_plugin("two", Recorder({"evt": [timed("two.a")]}))
        await pm.activate_all()
        outcome = await pm.emit_event("evt")

    # Results stay in dispatch order either way.
    assert [r.value for r in outcome.results] == ["one.a", "one.b", "two.a"]
    starts = [spans[label][0] for label in ("one.a", "one.b", "two.a")]
    ends = [spans[label][1] for label in ("one.a", "one.b", "two.a")]
    if concurrent:
        assert max(starts) < min(ends)  # every handler started before any finished
    else:
        assert starts[1] >= ends[0]
        assert starts[2] >= ends[1]


# -- wildcards and on_event ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_wildcard_subscriptions() -> None:
    got: dict[str, list[str]] = {"exact": [], "user.*": [], "*": []}

    def collect(key: str) -> Callable[[PluginEvent], None]:
        return lambda event: got[key].append(event.name)

    async with PluginManager() as pm:
        await pm.load_plugin("exact", Recorder({"user.login": [collect("exact")]}))
        await pm.load_plugin("users", Recorder({"user.*": [collect("user.*")]}))
        await pm.load_plugin("everything", Recorder({"*": [collect("*")]}))
        await pm.activate_all()
        for name in ("user.login", "user.logout", "order.created", "user"):
            await pm.emit_event(name)

    assert got["exact"] == ["user.login"]
    assert got["user.*"] == ["user.login", "user.logout"]
    assert got["*"] == ["user.login", "user.logout", "order.created", "user"]


def _observer_module(
    received: list[PluginEvent], name: str = "jaf_test_observer"
) -> types.ModuleType:
    module = types.ModuleType(name, "Sees every event.")

    @hookimpl
    def on_event(event: PluginEvent) -> str:
        received.append(event)
        return f"seen {event.name}"

    module.on_event = on_event  # type: ignore[attr-defined]
    return module


@pytest.mark.anyio
async def test_a_module_plugins_on_event_receives_every_event() -> None:
    received: list[PluginEvent] = []
    async with PluginManager() as pm:
        await pm.load_plugin("observer", _observer_module(received))
        await pm.activate_all()
        first = await pm.emit_event("user.login", {"id": 1})
        await pm.emit_event("order.created")
        await pm.emit_event("x")

    assert [e.name for e in received] == ["user.login", "order.created", "x"]
    assert received[0].data == {"id": 1}
    assert [(r.plugin, r.value) for r in first.results] == [("observer", "seen user.login")]


@pytest.mark.anyio
async def test_an_on_event_hookimpl_may_take_no_arguments() -> None:
    # hookspecs: "An implementation may take any subset of the arguments below, by name".
    calls: list[str] = []
    module = types.ModuleType("jaf_test_counter")

    @hookimpl
    def on_event() -> None:
        calls.append("called")

    module.on_event = on_event  # type: ignore[attr-defined]
    async with PluginManager() as pm:
        await pm.load_plugin("counter", module)
        await pm.activate_all()
        outcome = await pm.emit_event("anything")
    assert outcome.ok, outcome.failed
    assert calls == ["called"]


# -- dispatch order --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("load_dependent_first", [True, False])
async def test_dependencies_handlers_run_before_their_dependents(
    load_dependent_first: bool,
) -> None:
    log: list[str] = []

    def plugin(name: str, deps: list[str]) -> tuple[str, Recorder]:
        handlers = [_appender(log, f"{name}.1"), _appender(log, f"{name}.2")]
        return name, Recorder({"evt": handlers}, dependencies=deps)

    # Names chosen so that name order is the reverse of dependency order.
    dependent = plugin("alpha_app", ["zeta_base"])
    base = plugin("zeta_base", [])
    independent = plugin("mid", [])
    order = (
        [dependent, independent, base] if load_dependent_first else [base, independent, dependent]
    )
    async with PluginManager() as pm:
        for name, obj in order:
            await pm.load_plugin(name, obj)
        await pm.activate_all()
        outcome = await pm.emit_event("evt")

    expected = ["mid.1", "mid.2", "zeta_base.1", "zeta_base.2", "alpha_app.1", "alpha_app.2"]
    assert log == expected
    assert [r.value for r in outcome.results] == expected


@pytest.mark.anyio
async def test_within_one_plugin_handlers_run_in_registration_order() -> None:
    log: list[str] = []
    handlers = [_appender(log, label) for label in ("first", "second", "third", "fourth")]

    class Ordered(Plugin):
        async def activate(self) -> bool:
            self.register_event_handler("user.login", handlers[0])
            self.register_event_handler("*", handlers[1])
            self.register_event_handler("user.*", handlers[2])
            self.register_event_handler("user.login", handlers[3])
            return True

    async with PluginManager() as pm:
        await pm.load_plugin("ordered", Ordered())
        await pm.activate_all()
        outcome = await pm.emit_event("user.login")
    assert log == ["first", "second", "third", "fourth"]
    assert [r.value for r in outcome.results] == log


# -- property: exactly the handlers of ACTIVE plugins, once each, in order -------------------------

Kind = Literal["ok", "sync", "raise", "sleep", "scoped", "slow"]
State = Literal["active", "inactive", "failed", "deactivated"]
HandlerSpec = tuple[Kind, Literal["evt", "other"]]
PluginSpec = tuple[str, State, list[HandlerSpec]]

_names = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True).filter(
    lambda n: n not in ("core", "tools")
)
_handler_specs = st.tuples(
    # "slow" ones are rare: each costs the whole timeout.
    st.sampled_from(["ok", "sync", "raise", "sleep", "scoped"] * 2 + ["slow"]),
    st.sampled_from(["evt", "evt", "other"]),
)
#: Well above the 1 ms that "sleep" and "scoped" handlers wait, even on a busy machine.
_PROPERTY_TIMEOUT = 0.15
_plugin_specs = st.lists(
    st.tuples(
        _names,
        st.sampled_from(["active", "active", "active", "inactive", "failed", "deactivated"]),
        st.lists(_handler_specs, max_size=4),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda spec: spec[0],
)


class _HandlerBoom(Exception):
    pass


def _make_handler(kind: Kind, label: str, runs: list[str]) -> Callable[[PluginEvent], Any]:
    if kind == "sync":

        def handler(event: PluginEvent) -> str:
            runs.append(label)
            return label

    elif kind == "raise":

        def handler(event: PluginEvent) -> str:
            runs.append(label)
            raise _HandlerBoom(label)

    elif kind == "scoped":  # opens scopes of its own before it waits

        async def handler(event: PluginEvent) -> str:  # type: ignore[misc]
            runs.append(label)
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep, 0.001)
                with anyio.CancelScope():
                    await anyio.sleep(0.001)
            return label

    else:
        pause = {"ok": 0, "sleep": 0.001, "slow": 30}[kind]

        async def handler(event: PluginEvent) -> str:  # type: ignore[misc]
            runs.append(label)
            await anyio.sleep(pause)
            return label

    handler.__qualname__ = label
    return handler


async def _scenario(specs: list[PluginSpec], events: int, concurrent: bool) -> None:
    runs: list[str] = []
    async with PluginManager(concurrent_events=concurrent, event_timeout=_PROPERTY_TIMEOUT) as pm:
        for name, state, handler_specs in specs:
            handlers: dict[str, list[Callable[..., Any]]] = {}
            for index, (kind, event_name) in enumerate(handler_specs):
                label = f"{name}#{index}:{kind}"
                handlers.setdefault(event_name, []).append(_make_handler(kind, label, runs))
            await pm.load_plugin(name, Recorder(handlers, activate_ok=state != "failed"))
        for name, state, _ in specs:
            if state != "inactive":
                await pm.activate_plugin(name)
        for name, state, _ in specs:
            if state == "deactivated":
                await pm.deactivate_plugin(name)

        active = sorted(name for name, state, _ in specs if state == "active")
        by_name = {name: handler_specs for name, _, handler_specs in specs}
        expected = [
            f"{name}#{index}:{kind}"
            for name in active
            for index, (kind, event_name) in enumerate(by_name[name])
            if event_name == "evt"
        ]
        expected_failed = [label for label in expected if label.endswith((":raise", ":slow"))]
        for number in range(events):
            runs.clear()
            outcome = await pm.emit_event("evt", number)
            assert [r.handler for r in outcome.results] == expected
            assert [r.plugin for r in outcome.results] == [e.split("#")[0] for e in expected]
            assert [r.handler for r in outcome.failed] == expected_failed
            for result in outcome.results:
                if result.ok:
                    assert result.value == result.handler
                elif result.handler.endswith(":slow"):
                    assert isinstance(result.error, TimeoutError)
                else:
                    assert isinstance(result.error, _HandlerBoom)
                    assert str(result.error) == result.handler
            if concurrent:
                assert sorted(runs) == sorted(expected)
            else:
                assert runs == expected


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(specs=_plugin_specs, events=st.integers(1, 3), concurrent=st.booleans())
def test_property_active_handlers_run_once_each_in_dispatch_order(
    specs: list[PluginSpec], events: int, concurrent: bool
) -> None:
    for backend in ("asyncio", "trio"):
        anyio.run(_scenario, specs, events, concurrent, backend=backend)


@pytest.mark.anyio
async def test_each_handler_gets_the_whole_timeout_and_outer_cancellation_is_not_a_timeout() -> (
    None
):
    """Two handlers each taking 60% of the timeout both finish: the deadline is per handler,
    not per emit. Cancelling the emitter cancels the emit; nothing is reported as timed out."""
    done: list[str] = []

    def taking(share: float, name: str) -> Callable[[PluginEvent], Awaitable[None]]:
        async def handler(event: PluginEvent) -> None:
            await anyio.sleep(0.3 * share)
            done.append(name)

        return handler

    async with PluginManager(event_timeout=0.3) as pm:
        handlers = {"evt": [taking(0.6, "first"), taking(0.6, "second")], "stuck": []}
        await pm.load_plugin("steady", Recorder(handlers))
        await pm.activate_all()
        outcome = await pm.emit_event("evt")
        assert outcome.ok, outcome.failed
        assert done == ["first", "second"]

        with anyio.move_on_after(0.1) as scope:
            await pm.emit_event("evt")
        assert scope.cancelled_caught
        assert done == ["first", "second"]  # the cancelled emit finished nothing


@pytest.mark.anyio
async def test_handlers_that_wait_or_not_are_timed_cancelled_and_answered_alike() -> None:
    """A handler's first step runs at once (no timer for handlers that never wait): one that
    returns at once, one that waits and returns, one that waits past the timeout, and one
    that waits when the caller is cancelled all behave as if simply awaited."""
    log: list[str] = []
    release = anyio.Event()

    async def at_once(event: PluginEvent) -> str:
        return "at once"

    async def also_at_once(event: PluginEvent) -> str:
        return "also at once"

    async def waits(event: PluginEvent) -> str:
        await anyio.lowlevel.checkpoint()
        with anyio.CancelScope():  # a scope of the handler's own, opened in its first step
            await anyio.sleep(0.01)
        return "waited"

    async def too_slow(event: PluginEvent) -> str:
        try:
            await anyio.sleep(30)
        finally:
            log.append("too_slow cleaned up")
        return "never"

    async def blocks(event: PluginEvent) -> None:
        try:
            await release.wait()
        finally:
            log.append("blocks cleaned up")

    async with PluginManager(event_timeout=0.2) as pm:
        await pm.load_plugin("mixed", Recorder({"evt": [at_once, waits, too_slow, also_at_once]}))
        await pm.load_plugin("stuck", Recorder({"stuck": [blocks]}))
        await pm.activate_all()
        outcome = await pm.emit_event("evt")
        assert [r.value for r in outcome.results if r.ok] == ["at once", "waited", "also at once"]
        (failed,) = outcome.failed
        assert failed.handler.endswith("too_slow") and isinstance(failed.error, TimeoutError)
        assert log == ["too_slow cleaned up"]

        with anyio.move_on_after(0.05) as caller:
            await pm.emit_event("stuck")
        assert caller.cancelled_caught
        assert log[-1] == "blocks cleaned up"


@pytest.mark.anyio
async def test_handlers_waiting_inside_scopes_of_their_own_are_cut_at_their_deadline() -> None:
    """A handler that opens cancel scopes or task groups before it first waits is still cut
    at its deadline, its own timeouts stay its own, a cancelled handler is cancelled again at
    each later wait, and even a shielded wait does not hold an emit past the event timeout."""
    log: list[str] = []
    cancelled = anyio.get_cancelled_exc_class()

    async def in_task_group(event: PluginEvent) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            await anyio.sleep(30)

    async def own_fail_after(event: PluginEvent) -> None:
        with anyio.fail_after(0.01):
            await anyio.sleep(30)

    async def own_move_on(event: PluginEvent) -> str:
        with anyio.move_on_after(0.01):
            await anyio.sleep(30)
        await anyio.lowlevel.checkpoint()
        return "moved on"

    async def waits_again(event: PluginEvent) -> None:
        try:
            await anyio.sleep(30)
        except cancelled:
            log.append("cancelled")
            try:
                await anyio.sleep(30)
            except cancelled:
                log.append("cancelled again")
                raise

    async def shielded(event: PluginEvent) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(30)

    handlers = [in_task_group, own_fail_after, own_move_on, waits_again, shielded]
    async with PluginManager(event_timeout=0.1) as pm:
        await pm.load_plugin("scoped", Recorder({"evt": [*handlers, _appender(log, "last")]}))
        await pm.activate_all()
        with anyio.fail_after(10):
            outcome = await pm.emit_event("evt")

    results = {r.handler.rsplit(".", 1)[-1]: r for r in outcome.results}
    assert list(results) == [h.__name__ for h in handlers] + ["last"]
    for name in ("in_task_group", "waits_again", "shielded"):
        error = results[name].error
        assert isinstance(error, TimeoutError) and "within 0.1s" in str(error), name
    own = results["own_fail_after"].error
    assert isinstance(own, TimeoutError) and "within" not in str(own)
    assert results["own_move_on"].value == "moved on"
    assert results["last"].value == "last"
    assert log == ["cancelled", "cancelled again", "last"]


@pytest.mark.anyio
@pytest.mark.parametrize("waits", [False, True], ids=["at-once", "after-waiting"])
@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
async def test_the_depth_limit_counts_nested_emits_however_handlers_run(
    concurrent: bool, waits: bool
) -> None:
    """Nesting is counted through handlers that wait before emitting again, and through the
    tasks that concurrent dispatch runs handlers in."""
    depths: list[int] = []

    class Echo(Plugin):
        @EventHandler("echo")
        async def _again(self, event: PluginEvent) -> EventOutcome:
            depths.append(event.data)
            if waits:
                await anyio.lowlevel.checkpoint()
            return await self.emit_event("echo", event.data + 1)

    async with PluginManager(max_event_depth=3, concurrent_events=concurrent) as pm:
        await pm.load_plugin("echo", Echo())
        await pm.activate_all()
        with anyio.fail_after(5):
            outcome = await pm.emit_event("echo", 0)

    assert depths == [0, 1, 2]
    for _ in range(2):
        (result,) = outcome.results
        assert isinstance(result.value, EventOutcome)
        outcome = result.value
    (innermost,) = outcome.results
    assert isinstance(innermost.error, EventDepthError)
    assert "depth 3" in str(innermost.error)


@pytest.mark.anyio
async def test_many_emits_in_progress_at_once_are_not_mistaken_for_nesting() -> None:
    """Twenty tasks each waiting inside an emit, with a depth limit of 2: none of them is
    nested, so all succeed; and an emit from a task a handler spawned starts at depth 0 (the
    handler runs at depth 1, so inheriting its depth would hit the limit)."""
    release = anyio.Event()
    spawned: list[EventOutcome] = []

    async def wait_for_release(event: PluginEvent) -> str:
        await release.wait()
        return "released"

    async def spawn_an_emit(event: PluginEvent) -> None:
        async def emit_from_own_task() -> None:
            spawned.append(await pm.emit_event("slow"))

        tg.start_soon(emit_from_own_task)

    async def relay(event: PluginEvent) -> EventOutcome:
        return await pm.emit_event("spawn")

    async with PluginManager(max_event_depth=2) as pm:
        await pm.load_plugin("slow", Recorder({"slow": [wait_for_release]}))
        await pm.load_plugin("spawner", Recorder({"spawn": [spawn_an_emit], "outer": [relay]}))
        await pm.activate_all()
        outcomes: list[EventOutcome] = []

        async def emit_slow() -> None:
            outcomes.append(await pm.emit_event("slow"))

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(emit_slow)
                assert (await pm.emit_event("outer")).ok
                await anyio.wait_all_tasks_blocked()
                release.set()

    assert len(outcomes) == 20 and all(o.ok for o in outcomes), [o.failed for o in outcomes]
    assert [o.results[0].value for o in outcomes] == ["released"] * 20
    (from_spawned,) = spawned
    assert from_spawned.ok and from_spawned.results[0].value == "released"
