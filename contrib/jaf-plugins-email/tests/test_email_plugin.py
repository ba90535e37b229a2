"""What a user of the email plugin notices, against real SMTP servers on 127.0.0.1."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from email_loopback_smtp import PASSWORD, USERNAME, LoopbackSMTPServer, serving
from jaf_plugins_email import TEMPLATES, EmailPlugin

from jaf_plugins import PluginStatus, ToolValidationError
from jaf_plugins.testing import HostFactory, call_tool, emit, installed_plugin_names

pytestmark = pytest.mark.anyio
NAME = "email_plugin"


def config(server: LoopbackSMTPServer, **overrides: object) -> dict[str, dict[str, object]]:
    return {NAME: server.settings(**overrides)}


# -- sending --------------------------------------------------------------------------------


async def test_send_email_delivers_with_headers_and_envelope(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        result = await call_tool(
            pm,
            "send_email",
            to="Ada Lovelace <ada@example.com>",
            subject="Test Email",
            body="This is a test email from JAF plugin system",
            cc="bob@example.com, carol@example.com",
            bcc="audit@example.com",
        )
    assert result == {
        "success": True,
        "message_id": result["message_id"],
        "recipients": [
            "ada@example.com",
            "bob@example.com",
            "carol@example.com",
            "audit@example.com",
        ],
    }
    [delivery] = smtp_server.deliveries
    message = delivery.message
    assert message["From"] == "JAF <noreply@jaf.example>"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["Cc"] == "bob@example.com, carol@example.com"
    assert message["Bcc"] is None  # Bcc recipients get it without being shown to the others
    assert message["Subject"] == "Test Email"
    assert message["Message-ID"] == result["message_id"]
    assert message["Date"]
    assert delivery.body.strip() == "This is a test email from JAF plugin system"
    assert delivery.mail_from == "noreply@jaf.example"
    assert delivery.rcpt_tos == result["recipients"]


async def test_one_connection_serves_many_emails_sent_at_once(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        results: list[dict[str, object]] = []

        async def send(i: int) -> None:
            results.append(
                await call_tool(pm, "send_email", to="ada@example.com", subject=f"#{i}", body="x")
            )

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(send, i)
    assert all(r["success"] for r in results)
    assert sorted(d.message["Subject"] for d in smtp_server.deliveries) == [
        f"#{i}" for i in range(5)
    ]
    assert smtp_server.recorder.quits == 1  # one session, closed once


async def test_invalid_arguments_are_refused_before_anything_is_sent(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        with pytest.raises(ToolValidationError, match=r"'to'.*not an email address"):
            await call_tool(pm, "send_email", to="ada at example", subject="Hi", body="x")
        with pytest.raises(ToolValidationError, match=r"'subject'.*single line"):
            await call_tool(
                pm, "send_email", to="ada@example.com", subject="Hi\nBcc: x@evil.example", body=""
            )
        with pytest.raises(ToolValidationError, match="'cc'"):
            await call_tool(pm, "send_email", to="a@example.com", subject="s", body="", cc="x")
    assert smtp_server.deliveries == []


async def test_refused_recipients_are_reported(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    smtp_server.recorder.refuse = {"ghost@example.com"}
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        partly = await call_tool(
            pm, "send_email", to="ada@example.com, ghost@example.com", subject="s", body="b"
        )
        assert partly["success"] is True
        assert partly["recipients"] == ["ada@example.com"]
        assert partly["refused"] == {"ghost@example.com": "550 5.1.1 No such user here"}

        nobody = await call_tool(pm, "send_email", to="ghost@example.com", subject="s", body="b")
        assert nobody == {
            "success": False,
            "error": "the SMTP server refused every recipient: "
            "ghost@example.com (550 5.1.1 No such user here)",
        }
        # The session is still usable after a refusal.
        again = await call_tool(pm, "send_email", to="ada@example.com", subject="s", body="b")
        assert again["success"] is True
    assert [d.rcpt_tos for d in smtp_server.deliveries] == [["ada@example.com"]] * 2


# -- templates ------------------------------------------------------------------------------


async def test_template_email_renders_the_variables(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        result = await call_tool(
            pm,
            "send_template_email",
            to="grace@example.com",
            template="welcome",
            variables={"name": "Grace Hopper"},
        )
    assert result["success"] is True
    assert result["recipients"] == ["grace@example.com"]
    [delivery] = smtp_server.deliveries
    assert delivery.message["Subject"] == "Welcome, Grace Hopper!"
    assert delivery.body.startswith("Hi Grace Hopper,\n")
    assert "$" not in delivery.body


async def test_template_problems_are_validation_errors(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        with pytest.raises(ToolValidationError, match=r"'template'.*'welcome'.*got 'farewell'"):
            await call_tool(
                pm, "send_template_email", to="a@example.com", template="farewell", variables={}
            )
        with pytest.raises(ToolValidationError, match=r"needs the variable.*reset_link"):
            await call_tool(
                pm,
                "send_template_email",
                to="a@example.com",
                template="password_reset",
                variables={"name": "Ada"},
            )
        with pytest.raises(ToolValidationError, match="line break in the subject"):
            await call_tool(
                pm,
                "send_template_email",
                to="a@example.com",
                template="notification",
                variables={"title": "Hi\nBcc: x@evil.example", "message": "m"},
            )
    assert smtp_server.deliveries == []


def test_the_template_parameter_lists_every_builtin_template() -> None:
    tool = EmailPlugin().send_template_email
    schema = tool.json_schema["parameters"]["properties"]["template"]
    assert schema["enum"] == list(TEMPLATES)


# -- events and agents -----------------------------------------------------------------------


async def test_user_signup_sends_the_welcome_email(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        outcome = await emit(pm, "user_signup", {"email": "ada@example.com", "name": "Ada"})
        [handled] = outcome.results
        assert handled.value["success"] is True
        await emit(pm, "user_signup", {"name": "No Address"})  # nothing to send to
    [delivery] = smtp_server.deliveries
    assert delivery.rcpt_tos == ["ada@example.com"]
    assert delivery.message["To"] == "ada@example.com"
    assert delivery.message["Subject"] == "Welcome, Ada!"
    assert "Hi Ada," in delivery.body


async def test_a_welcome_email_that_cannot_be_sent_fails_the_handler(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    smtp_server.recorder.refuse = {"ada@example.com"}
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        outcome = await pm.emit_event("user_signup", {"email": "ada@example.com"})
    [failed] = outcome.failed
    assert "welcome email to ada@example.com not sent" in str(failed.error)
    assert "550" in str(failed.error)


async def test_email_agent_offers_both_tools(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        agent = pm.get_agent("EmailAgent")
        assert agent is not None and agent.plugin == NAME
        assert [t.name for t in agent.tools or []] == ["send_email", "send_template_email"]
        assert "email assistant" in agent.instructions(None)
        assert agent.tools is not None
        sent = await agent.tools[0].execute({"to": "a@example.com", "subject": "s", "body": "b"})
        assert '"success": true' in sent
    assert len(smtp_server.deliveries) == 1


# -- logging in, and failing clearly ------------------------------------------------------


async def test_logs_in_with_the_configured_credentials(
    jaf_host: HostFactory, auth_smtp_server: LoopbackSMTPServer
) -> None:
    settings = config(auth_smtp_server, username=USERNAME, password=PASSWORD, sender=None)
    async with jaf_host(NAME, config=settings) as pm:
        assert pm.get_status(NAME) is PluginStatus.ACTIVE, pm.get_error(NAME)
        result = await call_tool(pm, "send_email", to="ada@example.com", subject="s", body="b")
        assert result["success"] is True
        info = pm.get_info(NAME)
        assert info is not None and PASSWORD not in repr(info.to_dict())
    [delivery] = auth_smtp_server.deliveries
    assert delivery.message["From"] == USERNAME  # the sender defaults to the username
    assert delivery.mail_from == USERNAME


async def test_wrong_password_fails_the_plugin_at_start_without_showing_it(
    jaf_host: HostFactory, auth_smtp_server: LoopbackSMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-Pa55word"
    caplog.set_level(logging.DEBUG)
    settings = config(auth_smtp_server, username=USERNAME, password=wrong)
    async with jaf_host(NAME, config=settings) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        error = pm.get_error(NAME) or ""
        assert "initialize" in error
        assert f"refused the login of {USERNAME!r} (535" in error
        assert "JAF_PLUGINS__EMAIL_PLUGIN__PASSWORD" in error
        assert pm.get_tool("send_email") is None
        shown = error + (pm.get_traceback(NAME) or "") + caplog.text
    assert wrong not in shown and PASSWORD not in shown
    assert auth_smtp_server.deliveries == []


async def test_nothing_listening_fails_the_plugin_naming_host_and_port(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    port = smtp_server.port
    smtp_server.stop()  # the port is free again: connections to it are refused
    async with jaf_host(NAME, config={NAME: smtp_server.settings(smtp_port=port)}) as pm:
        error = pm.get_error(NAME) or ""
    assert pm.get_status(NAME) is PluginStatus.FAILED
    assert f"cannot connect to the SMTP server 127.0.0.1:{port} (connection refused" in error
    assert "JAF_PLUGINS__EMAIL_PLUGIN__SMTP_HOST" in error
    assert "JAF_PLUGINS__EMAIL_PLUGIN__SMTP_PORT" in error


async def test_login_against_a_server_without_auth_is_explained(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    settings = config(smtp_server, username=USERNAME, password=PASSWORD)
    async with jaf_host(NAME, config=settings) as pm:
        error = pm.get_error(NAME) or ""
    assert "does not offer AUTH" in error and "USERNAME" in error
    assert PASSWORD not in error


async def test_a_password_without_a_username_is_a_settings_error(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = smtp_server.settings()
    monkeypatch.setenv("JAF_PLUGINS__EMAIL_PLUGIN__SMTP_HOST", settings.pop("smtp_host"))
    monkeypatch.setenv("JAF_PLUGINS__EMAIL_PLUGIN__PASSWORD", PASSWORD)
    async with jaf_host(NAME, config={NAME: settings}) as pm:
        error = pm.get_error(NAME) or ""
    assert "invalid settings: password from environment variable" in error
    assert "JAF_PLUGINS__EMAIL_PLUGIN__PASSWORD" in error
    assert PASSWORD not in error


async def test_settings_come_from_environment_variables(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in smtp_server.settings(sender="env@jaf.example").items():
        monkeypatch.setenv(f"JAF_PLUGINS__EMAIL_PLUGIN__{key.upper()}", str(value))
    async with jaf_host(NAME) as pm:
        result = await call_tool(pm, "send_email", to="a@example.com", subject="s", body="b")
    assert result["success"] is True
    assert smtp_server.deliveries[0].mail_from == "env@jaf.example"


# -- TLS ------------------------------------------------------------------------------------


async def test_starttls_then_login(
    jaf_host: HostFactory, tls_smtp_server: LoopbackSMTPServer, ca_file: Path
) -> None:
    settings = config(
        tls_smtp_server, use_tls=True, ca_file=str(ca_file), username=USERNAME, password=PASSWORD
    )
    async with jaf_host(NAME, config=settings) as pm:
        assert pm.get_status(NAME) is PluginStatus.ACTIVE, pm.get_error(NAME)
        result = await call_tool(pm, "send_email", to="a@example.com", subject="s", body="b")
    assert result["success"] is True
    assert tls_smtp_server.deliveries[0].over_tls


async def test_an_untrusted_certificate_fails_the_plugin(
    jaf_host: HostFactory, tls_smtp_server: LoopbackSMTPServer
) -> None:
    settings = config(tls_smtp_server, use_tls=True, username=USERNAME, password=PASSWORD)
    async with jaf_host(NAME, config=settings) as pm:
        error = pm.get_error(NAME) or ""
    assert "STARTTLS with 127.0.0.1" in error and "CERTIFICATE_VERIFY_FAILED" in error
    assert "JAF_PLUGINS__EMAIL_PLUGIN__CA_FILE" in error


async def test_a_missing_ca_file_is_a_settings_error(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer, tmp_path: Path
) -> None:
    settings = config(smtp_server, use_tls=True, ca_file=str(tmp_path / "nowhere.pem"))
    async with jaf_host(NAME, config=settings) as pm:
        error = pm.get_error(NAME) or ""
    assert "invalid settings: ca_file" in error and "Path does not point to a file" in error


async def test_tls_required_but_not_offered_fails_the_plugin(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server, use_tls=True)) as pm:
        error = pm.get_error(NAME) or ""
    assert "does not offer STARTTLS" in error
    assert "JAF_PLUGINS__EMAIL_PLUGIN__USE_TLS" in error


# -- the connection's life ------------------------------------------------------------------


async def test_deactivate_says_quit(jaf_host: HostFactory, smtp_server: LoopbackSMTPServer) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        assert smtp_server.recorder.quits == 0
        await pm.deactivate_plugin(NAME)
        assert smtp_server.wait_for_quits(1)
        assert pm.get_status(NAME) is PluginStatus.INACTIVE
        assert getattr(pm.get_plugin(NAME), "smtp_client", "missing") is None


async def test_a_tool_kept_after_deactivate_does_not_reconnect(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        tool = pm.get_tool("send_email")
        assert tool is not None
        await pm.deactivate_plugin(NAME)
        result = await tool(to="a@example.com", subject="s", body="b")
    assert result == {"success": False, "error": "plugin 'email_plugin' is not active"}
    assert smtp_server.deliveries == []


async def test_a_server_that_went_away_gives_a_readable_error(
    jaf_host: HostFactory, smtp_server: LoopbackSMTPServer
) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        smtp_server.stop()
        result = await call_tool(pm, "send_email", to="a@example.com", subject="s", body="b")
        assert result["success"] is False
        assert result["error"].startswith(
            f"cannot connect to the SMTP server 127.0.0.1:{smtp_server.port} (connection refused"
        )
        again = await call_tool(
            pm, "send_template_email", to="a@example.com", template="welcome", variables={"name": 1}
        )
        assert again["success"] is False
    assert pm.get_status(NAME) is PluginStatus.INACTIVE  # deactivating still went fine


async def test_a_dropped_idle_connection_is_replaced(jaf_host: HostFactory) -> None:
    # The server hangs up on connections idle for 0.2 s, as real ones do after minutes.
    with serving(timeout=0.2) as server:
        async with jaf_host(NAME, config=config(server)) as pm:
            await anyio.sleep(0.5)
            result = await call_tool(pm, "send_email", to="a@example.com", subject="s", body="b")
            assert result["success"] is True, result
        assert len(server.deliveries) == 1


async def test_reload_reconnects(jaf_host: HostFactory, smtp_server: LoopbackSMTPServer) -> None:
    async with jaf_host(NAME, config=config(smtp_server)) as pm:
        await pm.reload_plugin(NAME)
        assert smtp_server.wait_for_quits(1)  # the old instance's session was closed
        result = await call_tool(pm, "send_email", to="a@example.com", subject="s", body="b")
        assert result["success"] is True


def test_installed_as_an_entry_point() -> None:
    assert NAME in installed_plugin_names()
