"""With the real email plugin (jaf-plugins-email) installed: the support agent's send_email
delivers to an SMTP server on 127.0.0.1. Skipped when it (or aiosmtpd) is not installed; the
customer-service plugin does not depend on it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("jaf_plugins_email")
pytest.importorskip("aiosmtpd")

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from jaf_plugins import PluginStatus
from jaf_plugins.testing import HostFactory


class _Inbox:
    """aiosmtpd handler keeping each message's envelope."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 Message accepted for delivery"


class _LoopbackSMTP(Controller):
    """aiosmtpd in its own thread on a free port of 127.0.0.1."""

    def __init__(self, inbox: _Inbox) -> None:
        super().__init__(inbox, hostname="127.0.0.1", port=0)

    def _trigger_server(self) -> None:
        # aiosmtpd connects to its own port once started; with port 0, that is the one it got.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@pytest.fixture
def smtp() -> Iterator[tuple[_LoopbackSMTP, _Inbox]]:
    inbox = _Inbox()
    server = _LoopbackSMTP(inbox)
    server.start()
    try:
        yield server, inbox
    finally:
        server.stop()


@pytest.mark.anyio
async def test_the_support_agent_sends_email_through_the_email_plugin(
    jaf_host: HostFactory, smtp: tuple[_LoopbackSMTP, _Inbox]
) -> None:
    server, inbox = smtp
    config: dict[str, dict[str, Any]] = {
        "database_plugin": {"seed_demo": True},
        "email_plugin": {
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "use_tls": False,
            "sender": "support@acme.example",
            "timeout": 5,
        },
    }
    async with jaf_host("database_plugin", "email_plugin", "customer_service", config=config) as pm:
        assert pm.get_status("email_plugin") is PluginStatus.ACTIVE, pm.get_error("email_plugin")
        support = pm.get_agent("GeneralSupportAgent")
        assert support is not None
        tools = {tool.name: tool for tool in support.tools or []}
        assert tools["send_email"].plugin == "email_plugin"
        order = await tools["lookup_order"](order_id="ORD-1002")
        await tools["send_email"](
            to=order["order"]["customer_email"],
            subject="Your order ORD-1002",
            body=f"It is {order['order']['status']}.",
        )
    assert len(inbox.received) == 1
    recipients, content = inbox.received[0]
    assert recipients == ["ada@example.com"]
    assert b"Your order ORD-1002" in content and b"It is shipped." in content
