"""A real SMTP server on 127.0.0.1 for the tests: aiosmtpd in its own thread and event loop
(so it serves asyncio and trio tests alike), storing every message it is given."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
USERNAME = "mailer@jaf.example"
PASSWORD = "s3cret-Pa55word!"  # distinctive, so a leak of it is easy to spot


@dataclass
class Delivery:
    """One message the server accepted: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    over_tls: bool

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        # Lines travel as CRLF on the wire; compare them as Python text.
        return str(part.get_content()).replace("\r\n", "\n")


@dataclass
class RecordingHandler:
    """aiosmtpd handler: keeps deliveries, counts QUITs, refuses chosen recipients."""

    require_auth: bool = False
    refuse: set[str] = field(default_factory=set)
    deliveries: list[Delivery] = field(default_factory=list)
    quits: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        # Enforced here rather than with aiosmtpd's auth_required, which warns when AUTH is
        # allowed without TLS (and the test suite turns warnings into errors).
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        delivery = Delivery(
            str(envelope.mail_from), list(envelope.rcpt_tos), message, session.ssl is not None
        )
        with self.changed:
            self.deliveries.append(delivery)
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.changed:
            self.quits += 1
            self.changed.notify_all()
        return "221 Bye"


class LoopbackSMTPServer(Controller):
    """``Controller`` on a free port (port 0) of 127.0.0.1."""

    def __init__(self, handler: RecordingHandler, **smtp_options: Any) -> None:
        super().__init__(handler, hostname=HOST, port=0, **smtp_options)
        self.recorder = handler

    def _trigger_server(self) -> None:
        # aiosmtpd pokes its own port once started; with port 0 that is the one it got.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None:  # a test may have stopped it already
            super().stop(no_assert)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Plugin settings pointing at this server."""
        return {
            "smtp_host": HOST,
            "smtp_port": self.port,
            "use_tls": False,
            "sender": "JAF <noreply@jaf.example>",
            "timeout": 5,
            **overrides,
        }

    @property
    def deliveries(self) -> list[Delivery]:
        return self.recorder.deliveries

    def wait_for_quits(self, count: int, timeout: float = 5) -> bool:
        with self.recorder.changed:
            return self.recorder.changed.wait_for(lambda: self.recorder.quits >= count, timeout)


def password_checker(username: str, password: str) -> Any:
    """An aiosmtpd ``authenticator`` accepting one login; it records who tried."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            username.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies

    return authenticate


@contextmanager
def serving(require_auth: bool = False, **smtp_options: Any) -> Iterator[LoopbackSMTPServer]:
    """A started server (``smtp_options`` go to aiosmtpd's ``SMTP``), stopped on exit."""
    server = LoopbackSMTPServer(RecordingHandler(require_auth=require_auth), **smtp_options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
