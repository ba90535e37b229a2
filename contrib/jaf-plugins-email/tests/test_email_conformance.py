from __future__ import annotations

import pytest
from email_loopback_smtp import LoopbackSMTPServer

from jaf_plugins.testing import PluginConformance


class TestEmailPluginConformance(PluginConformance):
    """The installed entry point, on asyncio and trio (smtplib runs on worker threads)."""

    plugin = "email_plugin"

    @pytest.fixture(autouse=True)
    def _point_at_the_loopback_server(self, smtp_server: LoopbackSMTPServer) -> None:
        # The server's port is only known once it runs, so ``config`` is set per test.
        self.config = smtp_server.settings()  # type: ignore[misc]
