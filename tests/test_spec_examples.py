"""Every ```python example of the plugin-system spec, run from the spec's own text.

The examples are read from ``docs/spec/plugin-system.md`` when the tests run, so these tests
prove that the document as written works. Two rules, both recorded in
``docs/spec-compatibility.md``:

- ``IMPORT_MAPPING`` is the only rewrite: the spec imports from JAF's packages, and every
  name it uses lives in ``jaf_plugins``.
- Each example runs in a fresh namespace holding the import statements of the examples above
  it, as for a reader following the page top to bottom: several examples use names only an
  earlier example imports (``BORROWED_IMPORTS`` lists them). No class or variable carries over.

What an example leaves to the reader (``_get_support_tools``, ``_process_new_order``...) is
supplied by the smallest subclass that makes it run.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pydantic
import pytest
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.stapled import MultiListener

from jaf_plugins import (
    Plugin,
    PluginEvent,
    PluginManager,
    PluginMetadata,
    PluginStatus,
    Tool,
)

if TYPE_CHECKING:
    from conftest import Site

SPEC = Path(__file__).resolve().parent.parent / "docs" / "spec" / "plugin-system.md"

IMPORT_MAPPING = {
    "from jaf.core.plugins import": "from jaf_plugins import",
    "from jaf.core.types import": "from jaf_plugins import",
    "from jaf.core.tools import": "from jaf_plugins import",
    "from jaf import": "from jaf_plugins import",
}

# Names an example uses without importing them: an example above it imports them.
BORROWED_IMPORTS = {
    "Plugin Configuration": {"PluginContext"},
    "Integration Plugins": {"PluginContext", "Tool"},
    "Plugin Dependencies": {"PluginContext"},
    "1. Plugin Isolation": {"Plugin", "PluginContext"},
    "2. Error Handling": {"Plugin", "PluginContext"},
    "3. Configuration Validation": {"Plugin"},
}


@dataclass(frozen=True)
class Example:
    title: str
    """The nearest heading above the block."""
    line: int
    """Line of the block's first line of code in the spec."""
    source: str
    """The code, imports already rewritten."""


def rewrite_imports(source: str) -> str:
    for old, new in IMPORT_MAPPING.items():
        source = re.sub(rf"^(\s*){re.escape(old)} ", rf"\1{new} ", source, flags=re.MULTILINE)
    return source


def read_examples() -> dict[str, Example]:
    examples: dict[str, Example] = {}
    title, start = "", 0
    block: list[str] | None = None
    for number, line in enumerate(SPEC.read_text(encoding="utf-8").splitlines(), start=1):
        if block is None:
            if line.startswith("#"):  # outside code, so a heading, not a comment
                title = line.lstrip("#").strip()
            elif line.strip() == "```python":
                block, start = [], number + 1
        elif line.strip() == "```":
            assert title not in examples, f"two examples under the heading {title!r}"
            examples[title] = Example(title, start, rewrite_imports("\n".join(block) + "\n"))
            block = None
        else:
            block.append(line)
    return examples


EXAMPLES = read_examples()


def compiled(example: Example) -> Any:
    # Padding keeps the spec's line numbers, so a traceback points at the spec's own line.
    # dont_inherit: this module's `from __future__ import annotations` must not change how the
    # example runs (the spec's annotations are evaluated when each `def` runs).
    padded = "\n" * (example.line - 1) + example.source
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    return compile(padded, str(SPEC), "exec", flags=flags, dont_inherit=True)


def imports_above(title: str) -> str:
    """The import statements of every example above ``title``, in page order."""
    lines: list[str] = []
    for earlier in EXAMPLES.values():
        if earlier.title == title:
            return "\n".join(lines)
        tree = ast.parse(earlier.source)
        lines += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    raise KeyError(title)


def namespace_for(title: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "spec_example"}  # so `__main__` blocks stay off
    exec(compile(imports_above(title), "<imports above>", "exec", dont_inherit=True), namespace)
    return namespace


async def run_example(title: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the example under ``title``; returns its namespace. Top-level ``await`` works."""
    namespace = namespace_for(title) if namespace is None else namespace
    result = eval(compiled(EXAMPLES[title]), namespace)
    if inspect.iscoroutine(result):
        await result
    return namespace


def messages(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    """What ``logger`` (and its children) logged."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == logger or r.name.startswith(logger + ".")
    ]


@pytest.fixture(autouse=True)
def _log_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


# -- the document itself ----------------------------------------------------------------------


def test_every_spec_example_has_a_test_here() -> None:
    tested = {
        "Plugin Interface",
        "Plugin Manager",
        "Plugin Configuration",
        "Tool Plugins",
        "Agent Plugins",
        "Integration Plugins",
        "Plugin Events",
        "Plugin Dependencies",
        "Plugin Hot Reloading",
        "1. Plugin Isolation",
        "2. Error Handling",
        "3. Configuration Validation",
        "Example: Complete Plugin Implementation",
    }
    assert set(EXAMPLES) == tested


def test_import_mapping_leaves_no_jaf_import() -> None:
    for example in EXAMPLES.values():
        for node in ast.walk(ast.parse(example.source)):
            if isinstance(node, ast.ImportFrom):
                assert node.module is None or not re.match(r"jaf\b", node.module), example.title
            elif isinstance(node, ast.Import):
                assert not any(re.match(r"jaf\b", a.name) for a in node.names), example.title


def _unbound_names(source: str) -> set[str]:
    """Names read but never bound in ``source`` (nor builtins): what it must be given."""
    read: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound - set(dir(builtins))


def test_names_an_example_does_not_import_come_from_an_example_above_it() -> None:
    # The Plugin Manager snippet also uses CustomPlugin, defined (not imported) by the Plugin
    # Interface example; its test runs that example first, in the same namespace.
    borrowed = {
        title: names
        for title, example in EXAMPLES.items()
        if (names := _unbound_names(example.source) - {"CustomPlugin"})
    }
    assert borrowed == BORROWED_IMPORTS
    for title, names in borrowed.items():
        assert names <= namespace_for(title).keys(), title


# -- Core Components ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plugin_interface_custom_plugin_runs_its_lifecycle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    CustomPlugin = (await run_example("Plugin Interface"))["CustomPlugin"]
    pm = PluginManager()
    plugin = await pm.load_plugin("custom_plugin", CustomPlugin())

    # It depends on "core" and "tools": the host's built-in plugins satisfy both.
    assert await pm.activate_plugin("custom_plugin")
    assert plugin.status is PluginStatus.ACTIVE
    assert pm.activation_order == ["custom_plugin"]
    await pm.deactivate_all()

    assert plugin.status is PluginStatus.INACTIVE
    assert messages(caplog, "jaf.plugins.custom_plugin") == [
        "Initializing custom_plugin",
        "Activating custom_plugin",
        "Deactivating custom_plugin",
    ]


@pytest.mark.anyio
async def test_plugin_manager_snippet_loads_a_directory_and_an_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # ./plugins holds another of the spec's examples. Not CustomPlugin: the snippet then loads
    # CustomPlugin() as "custom_plugin" itself, and one name cannot belong to two plugins.
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "weather.py").write_text(EXAMPLES["Tool Plugins"].source)
    monkeypatch.chdir(tmp_path)
    namespace = await run_example("Plugin Interface", namespace_for("Plugin Manager"))

    await run_example("Plugin Manager", namespace)

    pm: PluginManager = namespace["plugin_manager"]
    try:
        assert namespace["custom_plugin"] is pm.get_plugin("custom_plugin")
        assert isinstance(namespace["custom_plugin"], namespace["CustomPlugin"])
        assert capsys.readouterr().out == (
            "Loaded plugins: ['weather_tools', 'custom_plugin']\nPlugin status: active\n"
        )
        assert pm.get_tool("get_current_weather") is not None  # the directory plugin is active
    finally:
        await pm.deactivate_all()


@pytest.mark.anyio
async def test_plugin_configuration_database_plugin_gets_its_pool() -> None:
    namespace = await run_example("Plugin Configuration")
    DatabasePluginConfig = namespace["DatabasePluginConfig"]
    plugin = namespace["DatabasePlugin"](DatabasePluginConfig(username="jaf", password="secret"))

    async with PluginManager() as pm:
        await pm.load_plugin("database_plugin", plugin)
        assert await pm.activate_plugin("database_plugin")
        assert plugin.connection_pool == "Pool(localhost:5432)"

    # A required field left out is the user's pydantic model complaining, before any plugin code.
    with pytest.raises(pydantic.ValidationError, match="password"):
        DatabasePluginConfig(username="jaf")


# -- Plugin Types -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_tool_plugins_weather_tools_answer_through_the_manager() -> None:
    namespace = await run_example("Tool Plugins")

    async with PluginManager() as pm:
        await pm.load_plugin("weather_tools", namespace["WeatherToolPlugin"]())
        assert await pm.activate_plugin("weather_tools")
        weather = pm.get_tool("get_current_weather")
        forecast = pm.get_tool("get_weather_forecast")
        assert weather is not None and forecast is not None

        expected = {"location": "Paris", "temperature": 72, "condition": "sunny", "humidity": 45}
        assert weather("Paris") == expected
        assert weather(location="Paris") == expected
        assert len(forecast("Oslo", 3)["forecast"]) == 3
        assert forecast(location="Oslo", days=2)["forecast"][1] == {
            "day": 1,
            "high": 76,
            "low": 61,
            "condition": "sunny",
        }
        assert len(forecast("Oslo")["forecast"]) == 5  # the default `days`
        assert weather.plugin == forecast.plugin == "weather_tools"
        assert forecast.description == "Get weather forecast for a location"


@Tool(name="lookup_order", description="Find an order")
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id}


@Tool(name="refund_payment", description="Refund a payment")
def refund_payment(payment_id: str) -> dict[str, str]:
    return {"refunded": payment_id}


@pytest.mark.anyio
async def test_agent_plugins_offer_both_agents_with_their_tools() -> None:
    CustomerServicePlugin = (await run_example("Agent Plugins"))["CustomerServicePlugin"]

    class CustomerService(CustomerServicePlugin):  # type: ignore[misc,valid-type]
        # The two helpers the example calls and leaves to the reader.
        def _get_support_tools(self) -> list[Tool]:
            return [lookup_order]

        def _get_billing_tools(self) -> list[Tool]:
            return [refund_payment]

    async with PluginManager() as pm:
        await pm.load_plugin("customer_service", CustomerService())
        assert await pm.activate_plugin("customer_service")
        support = pm.get_agent("GeneralSupportAgent")
        billing = pm.get_agent("BillingAgent")

        assert support is not None and billing is not None
        assert support.instructions(None).startswith("You are a helpful customer support agent.")
        assert billing.instructions({"messages": []}).startswith(
            "You are a billing specialist agent."
        )
        assert support.tools == [lookup_order]
        assert billing.tools == [refund_payment]
        assert billing.tools[0]("pay-1") == {"refunded": "pay-1"}
        assert support.plugin == billing.plugin == "customer_service"


async def _refuse_tunnel(seen: list[bytes], stream: SocketStream) -> None:
    """A proxy that records the request head and refuses to open the tunnel."""
    async with stream:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive()
        seen.append(head)
        await stream.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.anyio
async def test_integration_plugins_slack_fails_cleanly_without_network(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    namespace = await run_example("Integration Plugins")
    plugin = namespace["SlackIntegrationPlugin"]("xoxb-test")

    # The example hard-codes https://slack.com. httpx honours HTTPS_PROXY (trust_env is its
    # default), so a proxy on loopback that refuses every tunnel keeps the request on this
    # machine, and lets the test see where it was headed.
    tunnel_requests: list[bytes] = []
    listener: MultiListener[SocketStream] = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    async with listener, anyio.create_task_group() as tg, PluginManager() as pm:
        tg.start_soon(listener.serve, lambda stream: _refuse_tunnel(tunnel_requests, stream))
        await pm.load_plugin("slack", plugin)
        try:
            assert await pm.activate_plugin("slack")
            assert isinstance(plugin.client, httpx.AsyncClient)
            assert plugin.client.headers["Authorization"] == "Bearer xoxb-test"
            tool = pm.get_tool("send_slack_message")
            assert tool is not None and tool.plugin == "slack"
            assert tool.json_schema["parameters"]["required"] == ["channel", "message"]

            result = await tool(channel="#general", message="hello")

            assert result == {"success": False, "channel": "#general"}
            assert tunnel_requests[0].startswith(b"CONNECT slack.com:443 ")
            errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
            assert errors == ["Failed to send Slack message: 403 Forbidden"]
        finally:
            # The example never closes its client; the test does, so no socket outlives it.
            await plugin.client.aclose()
            tg.cancel_scope.cancel()


# -- Advanced Features --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plugin_events_handlers_run_once_and_chain_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    EventDrivenPlugin = (await run_example("Plugin Events"))["EventDrivenPlugin"]

    class Shop(EventDrivenPlugin):  # type: ignore[misc,valid-type]
        processed: list[str]

        async def _process_new_order(self, order_id: str) -> None:  # left to the reader
            self.processed.append(order_id)

    shop = Shop()
    shop.processed = []
    activity: list[PluginEvent] = []
    observer = Plugin()
    observer.register_event_handler("user_activity", activity.append)

    async with PluginManager() as pm:
        await pm.load_plugin("shop", shop)
        await pm.load_plugin("activity_log", observer)
        await pm.activate_all()

        login = await pm.emit_event("user_login", {"user_id": "u42"})
        order = await pm.emit_event("order_created", {"order_id": "o-7"})

    # Decorated with @EventHandler *and* registered in activate(): still one run per event.
    assert [(r.plugin, r.handler, r.ok) for r in login.results] == [
        ("shop", "EventDrivenPlugin._handle_user_login", True)
    ]
    assert [(e.name, e.source, e.data) for e in activity] == [
        (
            "user_activity",
            "shop",
            {"user_id": "u42", "activity": "login", "timestamp": login.event.timestamp},
        )
    ]
    assert order.ok and len(order.results) == 1
    assert shop.processed == ["o-7"]
    assert messages(caplog, "jaf.plugins.shop") == ["User u42 logged in", "Order o-7 created"]


def _provider(name: str, version: str) -> Plugin:
    plugin = Plugin()
    plugin.metadata = PluginMetadata(name=name, version=version)
    return plugin


@pytest.mark.anyio
async def test_plugin_dependencies_are_injected_and_checked() -> None:
    AdvancedPlugin = (await run_example("Plugin Dependencies"))["AdvancedPlugin"]
    database, auth, advanced = (
        _provider("database_plugin", "1.2.0"),
        _provider("auth_plugin", "2.1.0"),
        AdvancedPlugin(),
    )

    async with PluginManager() as pm:
        for plugin in (advanced, auth, database):
            await pm.load_plugin(plugin.metadata.name, plugin)
        assert await pm.activate_plugin("advanced_plugin")

        assert advanced.db_plugin is database
        assert advanced.auth_plugin is auth
        assert advanced.logging_plugin is None  # optional, and not installed
        assert pm.activation_order[-1] == "advanced_plugin"


@pytest.mark.anyio
async def test_plugin_dependencies_refuse_a_too_old_version() -> None:
    AdvancedPlugin = (await run_example("Plugin Dependencies"))["AdvancedPlugin"]

    async with PluginManager() as pm:
        await pm.load_plugin("database_plugin", _provider("database_plugin", "1.2.0"))
        await pm.load_plugin("auth_plugin", _provider("auth_plugin", "2.0.0"))
        await pm.load_plugin("advanced_plugin", AdvancedPlugin())
        assert not await pm.activate_plugin("advanced_plugin")

        assert pm.get_status("advanced_plugin") is PluginStatus.FAILED
        error = pm.get_error("advanced_plugin")
        assert error is not None
        assert "requires auth_plugin>=2.1.0, but 'auth_plugin' 2.0.0 is loaded" in error
        assert pm.get_status("auth_plugin") is PluginStatus.ACTIVE  # only the dependent fails


@pytest.mark.anyio
async def test_plugin_hot_reloading_snippet_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site
) -> None:
    """The snippet reloads "custom_plugin" on a fresh manager: installed as an entry-point
    plugin (the scaffolding), a fresh manager discovers it and starts its current code. Its
    watcher on ./plugins then loads a plugin file created there."""
    module = site.module(
        "custom_plugin_example", rewrite_imports(EXAMPLES["Plugin Interface"].source)
    )
    site.distribution("custom-plugin-example", "1.0.0", {"custom_plugin": f"{module}:CustomPlugin"})
    monkeypatch.setenv("JAF_PLUGINS_AUTOLOAD", "1")
    # Only these two: whatever else is installed in the test environment stays out.
    monkeypatch.setenv("JAF_PLUGINS_LOAD", "custom_plugin,late")
    (tmp_path / "plugins").mkdir()
    monkeypatch.chdir(tmp_path)
    namespace = namespace_for("Plugin Hot Reloading")
    try:
        await run_example("Plugin Hot Reloading", namespace)
        pm: PluginManager = namespace["plugin_manager"]
        assert pm.get_status("custom_plugin") is PluginStatus.ACTIVE
        assert pm.get_info("custom_plugin").distribution == "custom-plugin-example"  # type: ignore[union-attr]

        (tmp_path / "plugins" / "late.py").write_text(
            "from jaf_plugins import Plugin\nclass LatePlugin(Plugin):\n    pass\n"
        )
        with anyio.fail_after(10):
            while pm.get_status("late_plugin") is not PluginStatus.ACTIVE:  # noqa: ASYNC110
                await anyio.sleep(0.02)
    finally:
        if "plugin_manager" in namespace:
            await namespace["plugin_manager"].deactivate_all()


# -- Best Practices -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plugin_isolation_namespaces_config_logger_and_tools() -> None:
    plugin = (await run_example("1. Plugin Isolation"))["IsolatedPlugin"]()
    assert plugin._namespace == "plugin_isolated_plugin"

    config = {"isolated_plugin": {"endpoint": "http://127.0.0.1:9"}, "other": {"secret": "x"}}
    async with PluginManager(config=config) as pm:
        await pm.load_plugin("isolated_plugin", plugin)
        assert await pm.activate_plugin("isolated_plugin")

        # get_namespace("plugin_<name>") is the plugin's own settings, and only those.
        assert dict(plugin.config) == {"endpoint": "http://127.0.0.1:9"}
        assert plugin.logger.name == "jaf.plugins.isolated_plugin.plugin_isolated_plugin"
        assert plugin.logger.parent is logging.getLogger("jaf.plugins.isolated_plugin")

    @Tool(name="search", description="Search the index")
    def search(query: str) -> list[str]:
        return [query]

    plugin._register_tool(search)

    assert search.name == "plugin_isolated_plugin_search"
    assert search.schema.name == search.json_schema["name"] == "plugin_isolated_plugin_search"
    assert search("jaf") == ["jaf"]
    assert plugin._resources == [search]


@pytest.mark.anyio
async def test_error_handling_failed_setup_is_reported_and_cleaned_up() -> None:
    RobustPlugin = (await run_example("2. Error Handling"))["RobustPlugin"]

    class Unreachable(RobustPlugin):  # type: ignore[misc,valid-type]
        cleaned_up = False

        async def _setup_resources(self) -> None:
            raise ConnectionError("database unreachable")

        async def _cleanup_partial_setup(self) -> None:
            self.cleaned_up = True

    robust, unreachable = RobustPlugin(), Unreachable()
    async with PluginManager() as pm:
        await pm.load_plugin("robust_plugin", robust)
        await pm.load_plugin("unreachable", unreachable)
        await pm.activate_all()

        assert robust.status is PluginStatus.ACTIVE
        assert unreachable.status is PluginStatus.FAILED
        assert unreachable.cleaned_up
        error = pm.get_error("unreachable")
        assert error is not None
        assert (
            "initialize returned False after logging: "
            "Plugin initialization failed: database unreachable"
        ) in error


@pytest.mark.anyio
async def test_configuration_validation_rejects_bad_values() -> None:
    # The example uses pydantic v1's @validator, which pydantic 2 still runs but warns about.
    with pytest.warns(pydantic.PydanticDeprecatedSince20, match="validator"):
        namespace = await run_example("3. Configuration Validation")
    ExampleConfig = namespace["PluginConfig"]  # the example's own model, shadowing ours

    with pytest.raises(pydantic.ValidationError, match="Timeout must be positive"):
        ExampleConfig(api_key="k", timeout=0)
    with pytest.raises(pydantic.ValidationError, match="Max retries cannot be negative"):
        ExampleConfig(api_key="k", max_retries=-1)

    plugin = namespace["ValidatedPlugin"](ExampleConfig(api_key="k"))
    async with PluginManager() as pm:
        await pm.load_plugin("validated_plugin", plugin)
        assert await pm.activate_plugin("validated_plugin")
        assert (plugin.config.api_key, plugin.config.timeout, plugin.config.max_retries) == (
            "k",
            30,
            3,
        )


# -- Example: Complete Plugin Implementation ----------------------------------------------------


@pytest.mark.anyio
async def test_complete_example_main_runs_to_the_end(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = await run_example("Example: Complete Plugin Implementation")

    await namespace["main"]()

    out = capsys.readouterr().out
    assert "Email result: {'success': True, 'message_id': 'msg_" in out
    assert "'recipients': ['user@example.com']}" in out
    assert "Email agent available: EmailAgent\n" in out
    # The user_signup event sent the templated welcome email.
    assert "Sending email to newuser@example.com: Template: welcome" in messages(
        caplog, "jaf.plugins.email_plugin"
    )
    # The example's deactivate() awaits `.quit()` on its string stand-in for an SMTP client, so
    # it logs an error and returns False: the host reports that, and main() still finishes.
    host_errors = [
        r.getMessage()
        for r in caplog.records
        if r.name == "jaf.plugins" and r.levelno == logging.ERROR
    ]
    assert host_errors == [
        "plugin 'email_plugin': deactivate returned False after logging: Failed to deactivate "
        "email plugin: 'str' object has no attribute 'quit'. Fix: see the plugin's log "
        "(logger 'jaf.plugins.email_plugin')"
    ]
