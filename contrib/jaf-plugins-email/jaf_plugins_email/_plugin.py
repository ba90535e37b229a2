"""``EmailPlugin``: the spec's complete plugin example, sending real mail over SMTP."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from jaf_plugins import (
    Agent,
    EventHandler,
    Plugin,
    PluginContext,
    PluginEvent,
    PluginMetadata,
    Tool,
    ToolValidationError,
)

from ._messages import (
    TEMPLATES,
    build_message,
    check_addresses,
    check_one_line,
    check_optional_addresses,
    parse_addresses,
)
from ._settings import EmailSettings
from ._smtp import EmailError, SMTPConnection
from ._version import __version__

Addresses = Annotated[
    str,
    AfterValidator(check_addresses),
    Field(description="One address, or several separated by commas ('Ada <ada@example.com>')"),
]
OptionalAddresses = Annotated[
    str | None,
    AfterValidator(check_optional_addresses),
    Field(description="Addresses separated by commas, or null"),
]
Subject = Annotated[
    str, AfterValidator(check_one_line), Field(description="The subject (one line)")
]
TemplateName = Literal["welcome", "password_reset", "notification"]
"""The keys of ``TEMPLATES``, spelt out so the tool's schema lists them."""

INSTRUCTIONS = """You are an email assistant agent.
Help users compose, send, and manage emails effectively.
Use send_email for a message you write, and send_template_email for the standard ones
(welcome, password_reset, notification). Confirm the recipients before sending, and report
the message id, or the error if sending failed."""


def email_agent_instructions(state: Any) -> str:
    return INSTRUCTIONS


class EmailPlugin(Plugin):
    """Comprehensive email plugin with tools and agents."""

    settings_model = EmailSettings

    def __init__(self) -> None:
        super().__init__()
        self.metadata = PluginMetadata(
            name="email_plugin",
            version=__version__,
            description="Email functionality plugin: send mail over SMTP",
            author="JAF Team",
            dependencies=["core"],
        )
        self.settings: EmailSettings | None = None
        self.smtp_client: SMTPConnection | None = None
        self.send_email, self.send_template_email = self._make_tools()
        self.tools = [self.send_email, self.send_template_email]
        self.agents = [
            Agent(name="EmailAgent", instructions=email_agent_instructions, tools=self.tools)
        ]

    # -- lifecycle ------------------------------------------------------------------------

    async def initialize(self, context: PluginContext) -> bool:
        settings = context.settings
        assert isinstance(settings, EmailSettings)
        prefix = "JAF_PLUGINS__" + re.sub(r"[^0-9A-Za-z]", "_", context.name).upper() + "__"
        client = SMTPConnection(settings, lambda field: f"{field} ({prefix}{field.upper()})")
        # Connecting now makes a wrong host, port or password fail the plugin at start, with
        # the reason, instead of at the first email. SMTPSetupError says which setting.
        await client.open()
        self.settings, self.smtp_client = settings, client
        self.logger.info("connected to %s as %s", client.address, settings.username or "(no login)")
        return True

    async def deactivate(self) -> bool:
        client, self.smtp_client = self.smtp_client, None
        if client is not None:
            await client.close()
            self.logger.info("closed the connection to %s", client.address)
        return True

    # -- tools ----------------------------------------------------------------------------

    def _make_tools(self) -> tuple[Tool, Tool]:
        @Tool(name="send_email", description="Send an email message")
        async def send_email(
            to: Addresses,
            subject: Subject,
            body: str,
            cc: OptionalAddresses = None,
            bcc: OptionalAddresses = None,
        ) -> dict[str, Any]:
            """Send a plain-text email. To, Cc and Bcc take comma-separated addresses; Bcc
            recipients get the message without appearing in it."""
            return await self._deliver(to=to, subject=subject, body=body, cc=cc, bcc=bcc)

        @Tool(name="send_template_email", description="Send email using a template")
        async def send_template_email(
            to: Addresses,
            template: TemplateName,
            variables: Annotated[
                dict[str, Any],
                Field(
                    description="Values for the template: welcome needs name; password_reset "
                    "needs name and reset_link; notification needs title and message"
                ),
            ],
        ) -> dict[str, Any]:
            """Send one of the built-in templates, filled in with ``variables``."""
            try:
                subject, body = TEMPLATES[template].render(template, variables)
            except ValueError as exc:
                raise ToolValidationError(
                    f"tool 'send_template_email': {exc}",
                    plugin=self.metadata.name,
                    hint="pass every variable the template needs in 'variables'",
                ) from None
            return await self._deliver(to=to, subject=subject, body=body)

        return send_email, send_template_email

    async def _deliver(
        self, *, to: str, subject: str, body: str, cc: str | None = None, bcc: str | None = None
    ) -> dict[str, Any]:
        """Send, and answer in the spec's shape: success with the message id and recipients,
        or ``{"success": False, "error": ...}`` (readable, never the password)."""
        client, settings = self.smtp_client, self.settings
        if client is None or settings is None:
            return {"success": False, "error": f"plugin {self.metadata.name!r} is not active"}
        message = build_message(
            sender=settings.from_address, to=to, subject=subject, body=body, cc=cc
        )
        recipients = [
            address for field in (to, cc, bcc) if field for address in parse_addresses(field)
        ]
        recipients = list(dict.fromkeys(recipients))  # one copy each, even if listed twice
        try:
            refused = await client.send(message, recipients)
        except EmailError as exc:
            self.logger.error("could not send an email: %s", exc)
            return {"success": False, "error": str(exc)}
        message_id = message["Message-ID"]
        self.logger.info("sent %s to %d recipient(s)", message_id, len(recipients) - len(refused))
        result: dict[str, Any] = {
            "success": True,
            "message_id": message_id,
            "recipients": [address for address in recipients if address not in refused],
        }
        if refused:
            result["refused"] = refused
        return result

    # -- events ---------------------------------------------------------------------------

    @EventHandler("user_signup")
    async def handle_user_signup(self, event: PluginEvent) -> dict[str, Any] | None:
        """Send the welcome email to ``data["email"]``, greeting ``data["name"]``."""
        data = event.data if isinstance(event.data, Mapping) else {}
        user_email = data.get("email")
        if not user_email:
            return None  # nothing to send to, as in the spec
        result: dict[str, Any] = await self.send_template_email(
            to=user_email,
            template="welcome",
            variables={"name": data.get("name") or "User"},
        )
        if not result["success"]:
            # Raising makes the failure show in the event's outcome and the host's log.
            raise EmailError(f"welcome email to {user_email} not sent: {result['error']}")
        return result
