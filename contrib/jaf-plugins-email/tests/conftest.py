from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from email_loopback_smtp import (
    HOST,
    PASSWORD,
    USERNAME,
    LoopbackSMTPServer,
    password_checker,
    serving,
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    # The plugin runs smtplib on anyio worker threads, so every backend is supported.
    return str(request.param)


@pytest.fixture
def smtp_server() -> Iterator[LoopbackSMTPServer]:
    """An SMTP server on 127.0.0.1 that needs no login."""
    with serving() as server:
        yield server


@pytest.fixture
def auth_smtp_server() -> Iterator[LoopbackSMTPServer]:
    """An SMTP server that requires AUTH (USERNAME / PASSWORD), over a plain connection."""
    with serving(
        require_auth=True,
        auth_require_tls=False,
        authenticator=password_checker(USERNAME, PASSWORD),
    ) as server:
        yield server


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def tls_smtp_server(ca: trustme.CA) -> Iterator[LoopbackSMTPServer]:
    """An SMTP server that insists on STARTTLS (certificate for 127.0.0.1 from ``ca``) and
    on AUTH over it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(context)
    with serving(
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=password_checker(USERNAME, PASSWORD),
    ) as server:
        yield server
