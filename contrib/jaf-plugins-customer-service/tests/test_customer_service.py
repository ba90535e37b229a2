from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from jaf_plugins_customer_service import CustomerServicePlugin
from jaf_plugins_database import DatabasePlugin

from jaf_plugins import Agent, Plugin, PluginManager, PluginStatus, Tool, ToolPlugin
from jaf_plugins.testing import HostFactory, PluginConformance

NAME = "customer_service"
DATABASE = "database_plugin"
SEEDED = {DATABASE: {"seed_demo": True, "pool_size": 2}}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def agent(pm: PluginManager, name: str) -> Agent:
    found = pm.get_agent(name)
    assert found is not None, f"no agent {name!r}: {pm.get_error(NAME)}"
    return found


def tool_of(found: Agent, name: str) -> Tool:
    tools = {tool.name: tool for tool in found.tools or []}
    assert name in tools, f"{found.name} has no tool {name!r}: {sorted(tools)}"
    return tools[name]


def plugins() -> tuple[Plugin, Plugin]:
    """Both plugins as objects, for a host that discovers nothing: a test that loads its own
    ``email_plugin`` must not meet the real one's entry point (when it is installed)."""
    return DatabasePlugin(), CustomerServicePlugin()


class StandInEmailPlugin(ToolPlugin):
    """Stands in for jaf-plugins-email (its entry point's name and its ``send_email``):
    the customer-service plugin only needs that such a plugin is active."""

    def __init__(self) -> None:
        super().__init__()
        self.metadata.name = "email_plugin"
        self.metadata.version = "0.1.0"
        self.metadata.description = "Records the email it is asked to send"
        self.sent: list[dict[str, str]] = []

    def get_tools(self) -> list[Tool]:
        @Tool(name="send_email", description="Send an email message")
        async def send_email(to: str, subject: str, body: str) -> dict[str, Any]:
            self.sent.append({"to": to, "subject": subject, "body": body})
            return {"success": True, "recipients": [to]}

        return [send_email]


# -- conformance ---------------------------------------------------------------------------


class TestConformance(PluginConformance):
    plugin = NAME
    dependencies = (DATABASE,)
    config: ClassVar[dict[str, Any]] = {"company_name": "Acme Anvils"}

    @pytest.fixture(autouse=True)
    def _seeded_database(self, jaf_host: HostFactory, monkeypatch: pytest.MonkeyPatch) -> None:
        # The suite's config covers this plugin only; the database plugin it depends on
        # reads its settings from the environment, as a deployment would set them.
        # (Requesting jaf_host first: it clears JAF_PLUGINS_* variables.)
        monkeypatch.setenv("JAF_PLUGINS__DATABASE_PLUGIN__SEED_DEMO", "true")


# -- agents and their tools ------------------------------------------------------------------


@pytest.mark.anyio
async def test_agents_use_the_database_plugins_tools(jaf_host: HostFactory) -> None:
    async with jaf_host(DATABASE, NAME, config=SEEDED) as pm:
        assert pm.get_status(NAME) is PluginStatus.ACTIVE, pm.get_error(NAME)
        support, billing = agent(pm, "GeneralSupportAgent"), agent(pm, "BillingAgent")
        assert support.plugin == billing.plugin == NAME
        assert [t.name for t in support.tools or []] == ["lookup_customer", "lookup_order"]
        assert [t.name for t in billing.tools or []] == [
            "lookup_customer",
            "lookup_order",
            "lookup_payments",
        ]
        for tool in [*(support.tools or []), *(billing.tools or [])]:
            assert tool.plugin == DATABASE
            assert tool is pm.get_tool(f"{DATABASE}:{tool.name}")  # the very tools it offers
        assert support.handoffs == ["BillingAgent"]
        assert billing.handoffs == ["GeneralSupportAgent"]
        # Nothing is offered twice: the agents' tools stay the database plugin's.
        assert {t.plugin for t in pm.list_tools()} == {DATABASE}


@pytest.mark.anyio
async def test_an_agents_tool_answers_from_the_seeded_database(jaf_host: HostFactory) -> None:
    async with jaf_host(DATABASE, NAME, config=SEEDED) as pm:
        support, billing = agent(pm, "GeneralSupportAgent"), agent(pm, "BillingAgent")
        order = await tool_of(support, "lookup_order")(order_id="ORD-1002")
        assert order["order"]["status"] == "shipped"
        assert order["order"]["customer_email"] == "ada@example.com"
        # As JAF's engine calls it: parsed arguments in, a JSON string out.
        text = await tool_of(billing, "lookup_payments").execute({"email": "grace@example.com"})
        payments = json.loads(text)
        assert payments["totals"]["USD"] == {
            "charged_cents": 7500,
            "refunded_cents": 7500,
            "net_cents": 0,
            "net": "0.00 USD",
        }
        assert [p["status"] for p in payments["payments"]] == ["succeeded", "succeeded", "failed"]
        customer = await tool_of(billing, "lookup_customer")(email="alan@example.com")
        assert customer["customer"]["plan"] == "enterprise"


@pytest.mark.anyio
async def test_instructions_are_functions_of_the_state(jaf_host: HostFactory) -> None:
    config = {**SEEDED, NAME: {"company_name": "Acme Anvils"}}
    async with jaf_host(DATABASE, NAME, config=config) as pm:
        support, billing = agent(pm, "GeneralSupportAgent"), agent(pm, "BillingAgent")
        plain = support.instructions(None)
        assert plain.startswith("You are a helpful customer support agent for Acme Anvils.")
        assert "BillingAgent" in plain and "send_email" not in plain and "signed in" not in plain
        assert billing.instructions(None).startswith("You are a billing specialist agent")
        # jaf-py's RunState carries the application's context: a mapping or an object.
        for state in (
            SimpleNamespace(context={"customer_email": "ada@example.com"}),
            SimpleNamespace(context=SimpleNamespace(email="ada@example.com")),
            {"customer_email": "ada@example.com"},
        ):
            assert "signed in as ada@example.com" in support.instructions(state)
            assert "signed in as ada@example.com" in billing.instructions(state)


# -- dependencies ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_without_the_database_plugin_it_fails_naming_it(jaf_host: HostFactory) -> None:
    # Installed but not allowed to load (the allowlist names only this plugin): skipped.
    async with jaf_host(NAME) as pm:
        assert pm.get_status(DATABASE) is PluginStatus.DISABLED
        assert pm.get_status(NAME) is PluginStatus.SKIPPED
        assert f"dependency {DATABASE!r} is disabled" in (pm.get_error(NAME) or "")
        assert pm.get_agent("GeneralSupportAgent") is None
    # Not loaded at all: failed.
    async with jaf_host(CustomerServicePlugin()) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        assert DATABASE in (pm.get_error(NAME) or "")
        assert pm.list_agents() == []


@pytest.mark.anyio
async def test_a_failed_database_plugin_skips_it_naming_it(jaf_host: HostFactory) -> None:
    config = {DATABASE: {"database": "/nonexistent-dir/shop.sqlite", "seed_demo": True}}
    async with jaf_host(DATABASE, NAME, config=config) as pm:
        assert pm.get_status(DATABASE) is PluginStatus.FAILED
        assert pm.get_status(NAME) is PluginStatus.SKIPPED
        error = pm.get_error(NAME) or ""
        assert f"dependency {DATABASE!r} is failed" in error
        assert pm.list_agents() == []


@pytest.mark.anyio
async def test_a_database_without_the_demo_tables_fails_it_saying_how_to_seed(
    jaf_host: HostFactory,
) -> None:
    async with jaf_host(DATABASE, NAME) as pm:
        assert pm.get_status(DATABASE) is PluginStatus.ACTIVE
        assert pm.get_status(NAME) is PluginStatus.FAILED
        error = pm.get_error(NAME) or ""
        assert "JAF_PLUGINS__DATABASE_PLUGIN__SEED_DEMO=true" in error
        assert "'customers'" in error


@pytest.mark.anyio
async def test_with_an_email_plugin_the_support_agent_can_send_email(
    jaf_host: HostFactory,
) -> None:
    email = StandInEmailPlugin()
    async with jaf_host(*plugins(), email, config=SEEDED) as pm:
        assert pm.get_status("email_plugin") is PluginStatus.ACTIVE
        support, billing = agent(pm, "GeneralSupportAgent"), agent(pm, "BillingAgent")
        send = tool_of(support, "send_email")
        assert send.plugin == "email_plugin"
        assert "send_email" not in {t.name for t in billing.tools or []}
        assert "send_email" in support.instructions(None)
        await send(to="ada@example.com", subject="Your order", body="ORD-1002 has shipped")
        assert email.sent == [
            {"to": "ada@example.com", "subject": "Your order", "body": "ORD-1002 has shipped"}
        ]
        # Activation order follows the optional dependency too.
        assert pm.activation_order.index("email_plugin") < pm.activation_order.index(NAME)


@pytest.mark.anyio
async def test_a_failed_email_plugin_leaves_the_agents_without_it(jaf_host: HostFactory) -> None:
    class BrokenEmailPlugin(StandInEmailPlugin):
        async def initialize(self, context: Any) -> bool:
            self.logger.error("cannot reach the SMTP server")
            return False

    async with jaf_host(*plugins(), BrokenEmailPlugin(), config=SEEDED) as pm:
        assert pm.get_status("email_plugin") is PluginStatus.FAILED
        assert pm.get_status(NAME) is PluginStatus.ACTIVE, pm.get_error(NAME)
        support = agent(pm, "GeneralSupportAgent")
        assert [t.name for t in support.tools or []] == ["lookup_customer", "lookup_order"]


# -- lifecycle with the database plugin --------------------------------------------------------


@pytest.mark.anyio
async def test_reloading_the_database_plugin_rebuilds_the_agents_on_its_new_tools(
    jaf_host: HostFactory,
) -> None:
    async with jaf_host(DATABASE, NAME, config=SEEDED) as pm:
        old_tool = tool_of(agent(pm, "BillingAgent"), "lookup_order")
        await pm.reload_plugin(DATABASE)
        assert pm.get_status(NAME) is PluginStatus.ACTIVE, pm.get_error(NAME)
        new_tool = tool_of(agent(pm, "BillingAgent"), "lookup_order")
        assert new_tool is not old_tool and new_tool is pm.get_tool(f"{DATABASE}:lookup_order")
        order = await new_tool(order_id="ORD-1003")
        assert order["order"]["status"] == "pending"


@pytest.mark.anyio
async def test_deactivating_the_database_plugin_withdraws_the_agents_first(
    jaf_host: HostFactory,
) -> None:
    async with jaf_host(DATABASE, NAME, config=SEEDED) as pm:
        await pm.deactivate_plugin(DATABASE)
        assert pm.get_status(NAME) is PluginStatus.INACTIVE
        assert pm.list_agents() == []
        assert await pm.activate_plugin(NAME), pm.get_error(NAME)  # brings the database back
        assert pm.get_status(DATABASE) is PluginStatus.ACTIVE
        order = await tool_of(agent(pm, "GeneralSupportAgent"), "lookup_order")(order_id="ORD-1001")
        assert order["found"]
