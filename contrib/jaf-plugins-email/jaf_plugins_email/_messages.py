"""Addresses, built-in templates, and building the message that is sent."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Any


def parse_addresses(value: str) -> list[str]:
    """``"Ada <ada@example.com>, bob@example.com"`` → the plain addresses, in order.

    Raises ``ValueError`` naming the first entry that is not an address. Line breaks are
    refused outright: they would let a value smuggle extra headers into the message.
    """
    if "\r" in value or "\n" in value:
        raise ValueError("addresses may not contain line breaks")
    addresses = []
    for name, address in getaddresses([value]):
        local, at, domain = address.rpartition("@")
        if not (at and local and domain) or any(c.isspace() for c in address):
            shown = f"{name} <{address}>" if name else address
            raise ValueError(f"{shown.strip() or value.strip()!r} is not an email address")
        addresses.append(address)
    if not addresses:
        raise ValueError("no email address given")
    return addresses


def check_addresses(value: str) -> str:
    """A pydantic validator: the comma-separated ``value`` holds only valid addresses."""
    parse_addresses(value)
    return value


def check_optional_addresses(value: str | None) -> str | None:
    """Like ``check_addresses``; ``None`` or an empty string means no one."""
    return check_addresses(value) if value else None


def check_one_line(value: str) -> str:
    """A pydantic validator for header values such as the subject."""
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


def domain_of(address: str) -> str:
    """The domain of the address in ``address`` (which may be ``"Name <addr>"``)."""
    return parse_addresses(address)[0].rpartition("@")[2]


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    cc: str | None = None,
) -> EmailMessage:
    """A plain-text message with From, To, Cc, Subject, Date and a fresh Message-ID.

    Bcc recipients are deliberately absent: they only go in the SMTP envelope.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=domain_of(sender))
    message.set_content(body)
    return message


# -- templates --------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailTemplate:
    """A subject and a body with ``$variable`` placeholders (``string.Template`` syntax)."""

    subject: str
    body: str
    variables: tuple[str, ...]
    """The variables the template needs; others passed are ignored."""

    def render(self, name: str, variables: Mapping[str, Any]) -> tuple[str, str]:
        """The subject and body with ``variables`` filled in.

        Raises ``ValueError`` naming the missing variables, or a variable that would put a
        line break in the subject.
        """
        missing = [v for v in self.variables if variables.get(v) in (None, "")]
        if missing:
            raise ValueError(
                f"template {name!r} needs the variable(s) {', '.join(missing)} "
                f"(got {sorted(variables) or 'none'})"
            )
        values = {key: str(value) for key, value in variables.items()}
        subject = string.Template(self.subject).safe_substitute(values)
        if "\r" in subject or "\n" in subject:
            raise ValueError(f"template {name!r}: a variable put a line break in the subject")
        return subject, string.Template(self.body).safe_substitute(values)


TEMPLATES: Mapping[str, EmailTemplate] = {
    "welcome": EmailTemplate(
        subject="Welcome, $name!",
        body=(
            "Hi $name,\n\n"
            "Welcome aboard! Your account is ready, and we are glad to have you.\n\n"
            "If you have any questions, just reply to this email.\n"
        ),
        variables=("name",),
    ),
    "password_reset": EmailTemplate(
        subject="Reset your password",
        body=(
            "Hi $name,\n\n"
            "Someone asked to reset the password of your account. To choose a new one,\n"
            "open this link:\n\n"
            "$reset_link\n\n"
            "If it was not you, ignore this email: your password stays as it is.\n"
        ),
        variables=("name", "reset_link"),
    ),
    "notification": EmailTemplate(
        subject="$title",
        body="$message\n",
        variables=("title", "message"),
    ),
}
"""The built-in templates, by the name ``send_template_email`` takes."""
