from __future__ import annotations

import logging

import pytest
from packaging.specifiers import SpecifierSet

from jaf_plugins import (
    Agent,
    Plugin,
    PluginConfig,
    PluginDependency,
    PluginManager,
    PluginMetadata,
    PluginStatus,
    PluginValidationError,
    Tool,
    ToolPlugin,
)


class EmailPlugin(Plugin):
    pass


class HTTPToolPlugin(ToolPlugin):
    pass


def test_plugin_needs_no_arguments_and_has_usable_defaults() -> None:
    plugin = EmailPlugin()
    assert plugin.metadata.name == "email_plugin"
    assert HTTPToolPlugin().metadata.name == "http_tool_plugin"
    assert plugin.status is PluginStatus.INACTIVE
    assert plugin.logger.name == "jaf.plugins.email_plugin"
    assert plugin.tools == [] and plugin.agents == []


def test_metadata_is_mutable_and_the_logger_follows_the_name() -> None:
    plugin = EmailPlugin()
    plugin.metadata.name = "mailer"
    assert plugin.logger.name == "jaf.plugins.mailer"
    custom = logging.getLogger("custom")
    plugin.logger = custom
    assert plugin.logger is custom


def test_dependencies_accept_names_strings_and_objects() -> None:
    meta = PluginMetadata(
        name="a",
        dependencies=["core", "auth_plugin>=2.1", PluginDependency("db", ">=1.0.0", optional=True)],
    )
    parsed = meta.parsed_dependencies()
    assert [(d.name, d.constraint, d.optional) for d in parsed] == [
        ("core", "", False),
        ("auth_plugin", ">=2.1", False),
        ("db", ">=1.0.0", True),
    ]
    assert parsed[1].specifier == SpecifierSet(">=2.1")


@pytest.mark.parametrize("bad", ["db >= one", "db>>1"])
def test_an_invalid_constraint_is_a_clear_error(bad: str) -> None:
    with pytest.raises(PluginValidationError, match="PEP 440"):
        PluginDependency.parse(bad)


def test_status_values_are_plain_strings() -> None:
    assert str(PluginStatus.ACTIVE) == "active"
    assert {s.value for s in PluginStatus} >= {"active", "inactive", "failed", "skipped"}


def test_config_namespaces_are_nested_and_own_namespace_is_self() -> None:
    config = PluginConfig({"host": "h", "pool": {"size": 3}}, namespace="db")
    assert config["host"] == "h"
    assert config.get_namespace("pool")["size"] == 3
    assert config.get_namespace("plugin_db") is config
    assert dict(config.get_namespace("other")) == {}


@pytest.mark.anyio
async def test_tools_and_agents_may_be_class_attributes_and_each_instance_owns_its_list() -> None:
    @Tool(name="ping", description="Ping")
    def ping() -> str:
        return "pong"

    class Pinger(ToolPlugin):
        tools = [ping]  # noqa: RUF012 - the form under test
        agents = [Agent(name="PingAgent", instructions=lambda state: "ping", tools=[ping])]  # noqa: RUF012

    first, second = Pinger(), Pinger()
    first.tools.append(ping)
    assert second.tools == [ping] and Pinger.tools == [ping]
    async with PluginManager() as pm:
        await pm.load_plugin("pinger", second)
        await pm.activate_all()
        assert pm.get_tool("ping") is ping
        assert pm.get_agent("PingAgent") is not None
