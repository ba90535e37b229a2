"""``EmailSettings``: what the plugin needs to reach and log in to an SMTP server."""

from __future__ import annotations

import pydantic
from pydantic import Field, SecretStr, ValidationInfo

from ._messages import parse_addresses


class EmailSettings(pydantic.BaseModel):
    """The email plugin's settings: ``[plugins.email_plugin]`` in ``jaf-plugins.toml``, or
    ``JAF_PLUGINS__EMAIL_PLUGIN__<FIELD>`` environment variables."""

    # A misspelt setting would otherwise be dropped silently (e.g. ``passwrod``).
    model_config = pydantic.ConfigDict(extra="forbid")

    smtp_host: str = Field(min_length=1)
    """Host name or IP address of the SMTP server (submission or relay)."""
    smtp_port: int = Field(587, ge=1, le=65535)
    """587 is the submission port (STARTTLS); 25 is plain relay."""
    username: str | None = None
    """Log in with this name; leave unset for a server that needs no authentication."""
    # validate_default: a username without a password must fail even when password is unset.
    password: SecretStr | None = Field(None, validate_default=True)
    use_tls: bool = True
    """Upgrade the connection with STARTTLS before logging in (and refuse a server that
    cannot). Turn it off only for a server on a trusted network, such as a local relay."""
    ca_file: pydantic.FilePath | None = None
    """A PEM bundle of certificate authorities to trust for STARTTLS instead of the system's
    (for a server with a private CA)."""
    sender: str | None = Field(None, validate_default=True)
    """The From address (``"Name <addr@example.com>"`` or ``addr@example.com``); defaults to
    ``username`` when that is an email address."""
    timeout: float = Field(10.0, gt=0)
    """Seconds to wait for the server at each step (connecting, each command)."""

    @pydantic.field_validator("password")
    @classmethod
    def _password_goes_with_username(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        username = info.data.get("username")
        if username and value is None:
            raise ValueError(f"username {username!r} is set, so a password is needed")
        if value is not None and not username:
            raise ValueError("a password is set without a username")
        return value

    @pydantic.field_validator("sender")
    @classmethod
    def _sender_is_one_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            username = info.data.get("username") or ""
            if "@" not in username:
                raise ValueError("set the From address (sender); username is not an address")
            value = username
        if len(parse_addresses(value)) != 1:
            raise ValueError("the sender must be exactly one address")
        return value

    @property
    def from_address(self) -> str:
        """The From header value (never ``None`` once validated)."""
        assert self.sender is not None
        return self.sender

    @property
    def envelope_sender(self) -> str:
        """The plain address for SMTP's ``MAIL FROM``."""
        return parse_addresses(self.from_address)[0]
