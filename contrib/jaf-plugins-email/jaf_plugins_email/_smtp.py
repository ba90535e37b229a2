"""One SMTP connection, driven from any anyio backend.

The protocol work is the standard library's ``smtplib`` (STARTTLS, AUTH, timeouts), run on
anyio worker threads. That works the same under asyncio and trio, where the async SMTP
clients (aiosmtplib) are asyncio-only. A lock serialises the commands: an SMTP session is one
conversation, and ``smtplib.SMTP`` is not thread-safe.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from email.message import EmailMessage

import anyio
import anyio.to_thread

from ._settings import EmailSettings

SettingName = Callable[[str], str]
"""Renders a setting for an error message, e.g. ``smtp_port`` → with its env var name."""


class EmailError(Exception):
    """An email could not be sent, or the server not reached; the message says why."""


class SMTPSetupError(EmailError):
    """The server could not be reached, secured or logged in to with the settings given."""


class SMTPConnection:
    """The plugin's connection: opened at ``initialize``, closed at ``deactivate``.

    Every message says what failed and which setting to check, and never contains the
    password (it is scrubbed from anything a server might echo, as a last guard).
    """

    def __init__(self, settings: EmailSettings, setting: SettingName) -> None:
        self._settings = settings
        self._setting = setting
        self._smtp: smtplib.SMTP | None = None
        self._closed = False
        self._lock = anyio.Lock()

    @property
    def address(self) -> str:
        return f"{self._settings.smtp_host}:{self._settings.smtp_port}"

    @property
    def is_open(self) -> bool:
        return self._smtp is not None

    async def open(self) -> None:
        """Connect, STARTTLS and log in as the settings say; raise ``SMTPSetupError`` if not."""
        async with self._lock:
            if self._smtp is None:
                self._smtp = await anyio.to_thread.run_sync(self._connect)

    async def send(self, message: EmailMessage, recipients: Sequence[str]) -> dict[str, str]:
        """Send ``message`` to ``recipients`` (the envelope: To, Cc and Bcc).

        Returns the recipients the server refused (address → its reply) when it took the
        message for the others; raises ``EmailError`` when nothing was sent.
        """
        async with self._lock:
            if self._closed:  # a call that was waiting while the plugin stopped
                raise EmailError(f"the connection to {self.address} was closed")
            return await anyio.to_thread.run_sync(self._send, message, list(recipients))

    async def close(self) -> None:
        """Say QUIT and close the socket (just close it if the server is gone)."""
        async with self._lock:
            smtp, self._smtp, self._closed = self._smtp, None, True
            if smtp is not None:
                await anyio.to_thread.run_sync(_quit, smtp)

    # -- on the worker thread ---------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        s, setting = self._settings, self._setting
        try:
            # Connecting in the constructor also records the host STARTTLS verifies.
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise SMTPSetupError(
                f"cannot connect to the SMTP server {self.address} ({self._describe(exc)}); "
                f"check {setting('smtp_host')} and {setting('smtp_port')}"
            ) from None
        try:
            smtp.ehlo()
            if s.use_tls:
                if not smtp.has_extn("starttls"):
                    raise SMTPSetupError(
                        f"the SMTP server {self.address} does not offer STARTTLS; use a server "
                        f"or port that does, or set {setting('use_tls')} to false (only on a "
                        "trusted network: mail and password would travel unencrypted)"
                    )
                try:
                    smtp.starttls(context=self._tls_context())
                except (ssl.SSLError, ssl.CertificateError) as exc:
                    raise SMTPSetupError(
                        f"STARTTLS with {self.address} failed ({self._describe(exc)}); check "
                        f"{setting('smtp_host')} (it must match the server's certificate) "
                        f"and {setting('ca_file')}"
                    ) from None
                smtp.ehlo()
            if s.username is not None:
                self._login(smtp, s.username)
        except SMTPSetupError:
            smtp.close()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise SMTPSetupError(
                f"the SMTP server {self.address} failed while setting up the connection "
                f"({self._describe(exc)})"
            ) from None
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _login(self, smtp: smtplib.SMTP, username: str) -> None:
        setting = self._setting
        if not smtp.has_extn("auth"):
            hint = "" if self._settings.use_tls else f", or set {setting('use_tls')} to true"
            raise SMTPSetupError(
                f"the SMTP server {self.address} does not offer AUTH, so it cannot log in as "
                f"{username!r}; unset {setting('username')} and {setting('password')} if it "
                f"needs no login{hint}"
            )
        password = self._settings.password
        assert password is not None  # the settings model guarantees it with a username
        try:
            smtp.login(username, password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            raise SMTPSetupError(
                f"the SMTP server {self.address} refused the login of {username!r} "
                f"({self._describe(exc)}); check {setting('username')} and {setting('password')}"
            ) from None

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self._settings.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _send(self, message: EmailMessage, recipients: list[str]) -> dict[str, str]:
        # A server drops idle connections (RFC 5321 allows it after 5 minutes), so a NOOP
        # first finds out, and a dead one is replaced before the message goes. Retrying after
        # a failure instead could send a message twice.
        if self._smtp is not None and not _alive(self._smtp):
            self._smtp.close()
            self._smtp = None
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except SMTPSetupError as exc:
                raise EmailError(str(exc)) from None
        try:
            refused = self._smtp.send_message(
                message, from_addr=self._settings.envelope_sender, to_addrs=recipients
            )
        except smtplib.SMTPRecipientsRefused as exc:
            raise EmailError(
                "the SMTP server refused every recipient: " + _refusals(exc.recipients)
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            # 530: "authentication required", the usual answer when no login is configured.
            check = (
                f"set {self._setting('username')} and {self._setting('password')}"
                if exc.smtp_code == 530
                else f"check {self._setting('sender')}"
            )
            raise EmailError(
                f"the SMTP server refused the sender {exc.sender!r} ({self._describe(exc)}); "
                + check
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            if isinstance(exc, (OSError, smtplib.SMTPServerDisconnected)):
                # The session is in an unknown state: start afresh next time.
                self._smtp.close()
                self._smtp = None
            raise EmailError(
                f"sending through {self.address} failed ({self._describe(exc)})"
            ) from None
        return {address: _reply(code, text) for address, (code, text) in refused.items()}

    def _describe(self, exc: BaseException) -> str:
        """A one-line, password-free account of ``exc``."""
        if isinstance(exc, smtplib.SMTPResponseException):
            text = _reply(exc.smtp_code, exc.smtp_error)
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            text = "the server closed the connection"
        elif isinstance(exc, (socket.timeout, TimeoutError)):
            text = f"no answer within {self._settings.timeout:g}s (timeout)"
        elif isinstance(exc, socket.gaierror):
            text = f"host name not found: {exc.strerror or exc}"
        elif isinstance(exc, ConnectionRefusedError):
            text = "connection refused: nothing is listening there"
        elif isinstance(exc, OSError) and exc.strerror:
            text = exc.strerror
        else:
            text = str(exc) or type(exc).__name__
        password = self._settings.password
        if password is not None and password.get_secret_value():
            text = text.replace(password.get_secret_value(), "**********")
        return text


def _alive(smtp: smtplib.SMTP) -> bool:
    try:
        return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()  # the server is gone already: just release the socket


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


def _refusals(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address} ({_reply(code, text)})" for address, (code, text) in recipients.items()
    )
