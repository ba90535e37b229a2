"""``CustomerServicePlugin``: the spec's agent plugin, with tools from other plugins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic import Field

from jaf_plugins import Agent, AgentPlugin, PluginContext, PluginDependency, Tool

NAME = "customer_service"
DATABASE = "database_plugin"
EMAIL = "email_plugin"

SUPPORT_TOOLS = ("lookup_customer", "lookup_order")
BILLING_TOOLS = ("lookup_customer", "lookup_order", "lookup_payments")
DEMO_TABLES = ("customers", "orders", "payments")
"""What the lookup tools read; the database plugin creates them with ``seed_demo``."""


class CustomerServiceSettings(pydantic.BaseModel):
    """Settings of the customer-service plugin (``[plugins.customer_service]``,
    ``JAF_PLUGINS__CUSTOMER_SERVICE__*``)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    company_name: str = Field(default="our company", min_length=1)
    """The business the agents speak for, as their instructions name it."""


class CustomerServicePlugin(AgentPlugin):
    """Plugin providing customer service agents."""

    settings_model = CustomerServiceSettings

    def __init__(self) -> None:
        super().__init__()
        from . import __version__

        self.metadata.name = NAME
        self.metadata.version = __version__
        self.metadata.description = "Customer-service agents (general support and billing)"
        self.metadata.dependencies = [
            f"{DATABASE}>=0.1",
            PluginDependency(EMAIL, optional=True),
        ]
        self.settings = CustomerServiceSettings()
        self._database_tools: dict[str, Tool] = {}
        self._send_email: Tool | None = None

    async def initialize(self, context: PluginContext) -> bool:
        assert isinstance(context.settings, CustomerServiceSettings)
        self.settings = context.settings
        # The host starts this plugin only once the database plugin is ACTIVE (it declares
        # it), and has published that plugin's tools by then.
        context.get_dependency(DATABASE)
        offered = _tools_of(context, DATABASE)
        wanted = {*SUPPORT_TOOLS, *BILLING_TOOLS, "list_tables"}
        missing = sorted(wanted - offered.keys())
        if missing:
            self.logger.error(
                "plugin %r offers no tool %s, which the agents need: install "
                "jaf-plugins-database>=0.1 (the plugin %r it provides has them)",
                DATABASE,
                ", ".join(map(repr, missing)),
                DATABASE,
            )
            return False
        listed = await offered["list_tables"]()
        lacking = [t for t in DEMO_TABLES if t not in {row["name"] for row in listed["tables"]}]
        if lacking:
            self.logger.error(
                "the database of plugin %r has no table %s, which the agents' lookups read: "
                "set JAF_PLUGINS__DATABASE_PLUGIN__SEED_DEMO=true (or [plugins.%s] "
                "seed_demo = true) to create them, or point its database at one that has them",
                DATABASE,
                ", ".join(map(repr, lacking)),
                DATABASE,
            )
            return False
        self._database_tools = {name: offered[name] for name in sorted(wanted)}
        # Optional: present and ACTIVE, the support agent can also send email.
        email = context.get_dependency(EMAIL, required=False)
        self._send_email = _tools_of(context, EMAIL).get("send_email") if email else None
        if email is not None and self._send_email is None:
            self.logger.warning("plugin %r is active but offers no 'send_email' tool", EMAIL)
        return True

    async def deactivate(self) -> bool:
        self._database_tools, self._send_email = {}, None
        return True

    def get_agents(self) -> list[Agent]:
        """Return list of agents provided by this plugin."""
        return [self._create_support_agent(), self._create_billing_agent()]

    def _create_support_agent(self) -> Agent:
        """Create general support agent."""
        tools = [self._database_tools[name] for name in SUPPORT_TOOLS]
        if self._send_email is not None:
            tools.append(self._send_email)
        can_email = self._send_email is not None
        company = self.settings.company_name

        def instructions(state: Any) -> str:
            lines = [
                f"You are a helpful customer support agent for {company}.",
                "Assist customers with general inquiries and issues. Look up their account "
                "with lookup_customer and their orders with lookup_order before you answer; "
                "never guess an order's status or contents.",
                "Hand questions about charges, refunds or failed payments to BillingAgent.",
            ]
            if can_email:
                lines.append(
                    "When the customer asks for it in writing, send a short summary to the "
                    "email address on their account with send_email."
                )
            lines += _about_customer(state)
            return "\n".join(lines)

        return Agent(
            name="GeneralSupportAgent",
            instructions=instructions,
            tools=tools,
            handoffs=["BillingAgent"],
        )

    def _create_billing_agent(self) -> Agent:
        """Create billing specialist agent."""
        tools = [self._database_tools[name] for name in BILLING_TOOLS]
        company = self.settings.company_name

        def instructions(state: Any) -> str:
            lines = [
                f"You are a billing specialist agent for {company}.",
                "Help customers with billing questions and payment issues. Use "
                "lookup_payments for a customer's charges, refunds and totals, and "
                "lookup_order for one order's payments; quote amounts exactly as the tools "
                "give them.",
                "You cannot issue refunds or change payments: explain what the records show "
                "and hand anything else back to GeneralSupportAgent.",
            ]
            lines += _about_customer(state)
            return "\n".join(lines)

        return Agent(
            name="BillingAgent",
            instructions=instructions,
            tools=tools,
            handoffs=["GeneralSupportAgent"],
        )


def _tools_of(context: PluginContext, plugin: str) -> dict[str, Tool]:
    """The tools the host published for ``plugin`` (from its ``tools`` or ``get_tools``)."""
    return {tool.name: tool for tool in context.manager.list_tools() if tool.plugin == plugin}


def _about_customer(state: Any) -> list[str]:
    """A line naming the signed-in customer, when the run's context says who it is.

    jaf-py passes its ``RunState``, whose ``context`` is the application's own object; a
    mapping or an object with ``customer_email`` (or ``email``) is understood.
    """
    context = getattr(state, "context", state)
    email = _field(context, "customer_email") or _field(context, "email")
    if not email:
        return []
    return [
        f"The customer is signed in as {email}: look them up by that address, and do not "
        "share another customer's details."
    ]


def _field(obj: Any, name: str) -> str | None:
    value = obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
    return value if isinstance(value, str) and value else None
