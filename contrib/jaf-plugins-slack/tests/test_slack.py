"""The slack plugin against a real HTTP server on 127.0.0.1 that speaks Slack's Web API."""

from __future__ import annotations

import importlib
import json
import logging
import socket
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from fake_slack import TOKEN, FakeSlack
from jaf_plugins_slack import SlackIntegrationPlugin

from jaf_plugins import PluginManager, PluginStatus
from jaf_plugins.testing import HostFactory, PluginConformance, call_tool

pytestmark = pytest.mark.anyio


class TestSlackConformance(PluginConformance):
    plugin = "slack"

    @pytest.fixture(autouse=True)
    def _point_at_fake_slack(self, fake_slack: FakeSlack) -> None:
        # The port is known only once the server runs (the same one for the whole session).
        type(self).config = fake_slack.config()


class TestSlackConformanceWithoutTokenCheck(PluginConformance):
    plugin = "slack"

    @pytest.fixture(autouse=True)
    def _point_at_fake_slack(self, fake_slack: FakeSlack) -> None:
        type(self).config = fake_slack.config(verify_token=False, signup_channel="#general")


def _running_plugin(pm: PluginManager) -> SlackIntegrationPlugin:
    """The active plugin object. A reload (the conformance suite does one) imports
    jaf_plugins_slack afresh, so compare with the class of the module loaded now."""
    plugin = pm.get_plugin("slack")
    assert isinstance(plugin, importlib.import_module("jaf_plugins_slack").SlackIntegrationPlugin)
    return cast(SlackIntegrationPlugin, plugin)


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- posting ------------------------------------------------------------------------------


async def test_posts_the_message_with_the_bearer_token(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        assert pm.get_status("slack") is PluginStatus.ACTIVE, pm.get_error("slack")
        result = await call_tool(pm, "send_slack_message", channel="#general", message="hello")
    assert result["success"] is True
    assert result["channel"] == "C001"  # Slack answers with the channel's ID
    assert result["ts"]
    [auth] = await fake_slack.requests("auth.test")  # the token was checked at initialize
    assert auth["headers"]["authorization"] == f"Bearer {TOKEN}"
    [post] = await fake_slack.requests("chat.postMessage")
    assert post["http_method"] == "POST"
    assert post["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert post["headers"]["content-type"] == "application/json; charset=utf-8"
    assert post["json"] == {"channel": "#general", "text": "hello"}


async def test_replies_in_a_thread(jaf_host: HostFactory, fake_slack: FakeSlack) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        first = await call_tool(pm, "send_slack_message", channel="C002", message="question")
        reply = await call_tool(
            pm, "send_slack_message", channel="C002", message="answer", thread_ts=first["ts"]
        )
    assert reply["success"] is True
    posts = await fake_slack.requests("chat.postMessage")
    assert posts[1]["json"] == {"channel": "C002", "text": "answer", "thread_ts": first["ts"]}


# -- failures become results --------------------------------------------------------------


async def test_a_slack_error_is_a_failed_result(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        result = await call_tool(pm, "send_slack_message", channel="#nowhere", message="hi")
    assert result["success"] is False
    assert result["error"] == "channel_not_found"
    assert result["channel"] == "#nowhere"
    assert "channel_not_found" in result["detail"]


async def test_http_500_is_a_clear_error(jaf_host: HostFactory, fake_slack: FakeSlack) -> None:
    await fake_slack.script("chat.postMessage", status=500, body="<html>down</html>")
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        result = await call_tool(pm, "send_slack_message", channel="#general", message="hi")
        assert result == {
            "success": False,
            "channel": "#general",
            "error": "http_error",
            "detail": "Slack answered HTTP 500 Internal Server Error to chat.postMessage",
            "status": 500,
        }
        # the next call is answered normally
        ok = await call_tool(pm, "send_slack_message", channel="#general", message="hi")
        assert ok["success"] is True


async def test_rate_limiting_reports_retry_after(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    await fake_slack.script(
        "chat.postMessage",
        status=429,
        headers={"Retry-After": "30"},
        body={"ok": False, "error": "ratelimited"},
    )
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        result = await call_tool(pm, "send_slack_message", channel="#general", message="hi")
    assert result["success"] is False
    assert result["error"] == "ratelimited"
    assert result["retry_after"] == 30.0
    assert "retry after 30 s" in result["detail"]


async def test_a_non_slack_answer_is_reported(jaf_host: HostFactory, fake_slack: FakeSlack) -> None:
    await fake_slack.script("conversations.list", status=200, body="<html>a login page</html>")
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        result = await call_tool(pm, "list_slack_channels")
    assert result["success"] is False
    assert result["error"] == "invalid_response"
    assert "base_url" in result["detail"]


async def test_a_stall_beyond_the_timeout_fails_the_call_not_the_host(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    await fake_slack.script("chat.postMessage", stall=30)
    config = {"slack": fake_slack.config(timeout=0.5)}
    async with jaf_host("slack", config=config) as pm:
        with anyio.fail_after(10):
            result = await call_tool(pm, "send_slack_message", channel="#general", message="hi")
        assert result["success"] is False
        assert result["error"] == "timeout"
        assert "timeout of 0.5 s" in result["detail"]
        # the host and the plugin carry on
        assert pm.get_status("slack") is PluginStatus.ACTIVE
        again = await call_tool(pm, "send_slack_message", channel="#general", message="again")
        assert again["success"] is True


async def test_an_unreachable_slack_is_a_failed_result(jaf_host: HostFactory) -> None:
    config = {
        "base_url": f"http://127.0.0.1:{_free_port()}/api",
        "token": TOKEN,
        "verify_token": False,
    }
    async with jaf_host("slack", config={"slack": config}) as pm:
        assert pm.get_status("slack") is PluginStatus.ACTIVE, pm.get_error("slack")
        result = await call_tool(pm, "find_slack_user", email="ada@example.com")
    assert result["success"] is False
    assert result["error"] == "connection_error"
    assert "could not reach Slack" in result["detail"]


# -- start-up -----------------------------------------------------------------------------


async def test_a_bad_token_fails_the_plugin_without_revealing_it(
    jaf_host: HostFactory, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "xoxb-wrong-4242-do-not-print"
    caplog.set_level(logging.DEBUG)
    async with jaf_host("slack", config={"slack": fake_slack.config(token=bad)}) as pm:
        assert pm.get_status("slack") is PluginStatus.FAILED
        error = pm.get_error("slack") or ""
        everything = [
            error,
            pm.get_traceback("slack") or "",
            json.dumps([info.to_dict() for info in pm.list_plugins()], default=str),
            caplog.text,
        ]
    assert "invalid_auth" in error
    assert "JAF_PLUGINS__SLACK__TOKEN" in error
    for text in everything:
        assert bad not in text
        assert "4242" not in text
    [auth] = await fake_slack.requests("auth.test")
    assert auth["headers"]["authorization"] == f"Bearer {bad}"  # it was sent, to Slack only


async def test_a_missing_token_fails_the_plugin_naming_the_variable(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    config = {"slack": {"base_url": fake_slack.base_url}}
    async with jaf_host("slack", config=config) as pm:
        assert pm.get_status("slack") is PluginStatus.FAILED
        assert "JAF_PLUGINS__SLACK__TOKEN" in (pm.get_error("slack") or "")
    assert await fake_slack.requests() == []


async def test_a_malformed_token_fails_the_plugin_without_quoting_it(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config(token="xoxb-tök")}) as pm:
        assert pm.get_status("slack") is PluginStatus.FAILED
        error = pm.get_error("slack") or ""
    assert "printable ASCII" in error
    assert "ö" not in error and "xoxb-t" not in error
    assert await fake_slack.requests() == []


async def test_an_unreachable_slack_at_start_up_fails_the_plugin(jaf_host: HostFactory) -> None:
    config = {"base_url": f"http://127.0.0.1:{_free_port()}/api", "token": TOKEN}
    async with jaf_host("slack", config={"slack": config}) as pm:
        assert pm.get_status("slack") is PluginStatus.FAILED
        error = pm.get_error("slack") or ""
    assert "could not check the Slack token" in error
    assert "VERIFY_TOKEN" in error
    assert TOKEN not in error


@pytest.mark.parametrize(
    ("field", "value"), [("base_url", "ftp://example.com"), ("timeout", 0), ("bogus", 1)]
)
async def test_invalid_settings_fail_the_plugin_naming_the_field(
    jaf_host: HostFactory, fake_slack: FakeSlack, field: str, value: Any
) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config(**{field: value})}) as pm:
        assert pm.get_status("slack") is PluginStatus.FAILED
        assert field in (pm.get_error("slack") or "")


async def test_settings_from_environment_variables(
    jaf_host: HostFactory, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAF_PLUGINS__SLACK__BASE_URL", fake_slack.base_url)
    monkeypatch.setenv("JAF_PLUGINS__SLACK__TOKEN", TOKEN)
    monkeypatch.setenv("JAF_PLUGINS__SLACK__TIMEOUT", "2.5")
    monkeypatch.setenv("JAF_PLUGINS__SLACK__SIGNUP_CHANNEL", "#announcements")
    async with jaf_host("slack") as pm:
        assert pm.get_status("slack") is PluginStatus.ACTIVE, pm.get_error("slack")
        plugin = _running_plugin(pm)
        assert plugin.settings.timeout == 2.5
        result = await call_tool(pm, "send_slack_message", channel="#general", message="hi")
    assert result["success"] is True


async def test_the_specs_constructor_token(jaf_host: HostFactory, fake_slack: FakeSlack) -> None:
    plugin = SlackIntegrationPlugin(TOKEN)  # as in the spec: SlackIntegrationPlugin(slack_token)
    config = {"slack": {"base_url": fake_slack.base_url}}
    async with jaf_host(plugin, config=config) as pm:
        assert pm.get_status("slack") is PluginStatus.ACTIVE, pm.get_error("slack")
        assert await plugin.send_message("#general", "from the spec") is True
        assert await plugin.send_message("#nowhere", "lost") is False


async def test_deactivation_closes_the_client(jaf_host: HostFactory, fake_slack: FakeSlack) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        plugin = _running_plugin(pm)
        tool = pm.get_tool("send_slack_message")
        assert tool is not None
        assert plugin.client is not None
    assert plugin.client is None
    result = await tool(channel="#general", message="too late")  # a reference kept past it
    assert result["success"] is False
    assert result["error"] == "not_connected"


# -- reading ------------------------------------------------------------------------------


async def test_lists_channels_across_pages(jaf_host: HostFactory, fake_slack: FakeSlack) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        public = await call_tool(pm, "list_slack_channels")
        pages = await fake_slack.requests("conversations.list")
        everything = await call_tool(pm, "list_slack_channels", include_private=True)
        one = await call_tool(pm, "list_slack_channels", limit=1)
    assert public["success"] is True
    assert [c["name"] for c in public["channels"]] == ["general", "random", "announcements"]
    assert public["channels"][0] == {
        "id": "C001",
        "name": "general",
        "is_private": False,
        "is_member": True,
    }
    assert len(pages) == 2  # the fake answers two at a time; the cursor was followed
    assert pages[0]["http_method"] == "GET"
    assert pages[0]["query"] == {
        "limit": "100",
        "exclude_archived": "true",
        "types": "public_channel",
    }
    assert pages[1]["query"]["cursor"] == "2"
    assert [c["name"] for c in everything["channels"]][-1] == "secret"
    assert [c["name"] for c in one["channels"]] == ["general"]


async def test_finds_a_user_by_email(jaf_host: HostFactory, fake_slack: FakeSlack) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        found = await call_tool(pm, "find_slack_user", email="ada@example.com")
        missing = await call_tool(pm, "find_slack_user", email="bob@example.com")
    assert found == {
        "success": True,
        "user": {
            "id": "U100",
            "name": "ada",
            "real_name": "Ada Lovelace",
            "display_name": "ada",
            "tz": "Europe/London",
            "is_bot": False,
        },
    }
    assert missing["success"] is False
    assert missing["error"] == "users_not_found"
    assert missing["email"] == "bob@example.com"


# -- events -------------------------------------------------------------------------------


async def test_a_signup_is_announced_in_the_configured_channel(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    config = {"slack": fake_slack.config(signup_channel="#announcements")}
    async with jaf_host("slack", config=config) as pm:
        outcome = await pm.emit_event("user_signup", {"name": "Ada", "email": "ada@example.com"})
    assert outcome.ok
    [result] = outcome.results
    assert result.value["success"] is True and result.value["channel"] == "C003"
    [post] = await fake_slack.requests("chat.postMessage")
    assert post["json"] == {"channel": "#announcements", "text": "New user signed up: Ada"}


async def test_without_a_signup_channel_nothing_is_posted(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    async with jaf_host("slack", config={"slack": fake_slack.config()}) as pm:
        outcome = await pm.emit_event("user_signup", {"name": "Ada"})
    assert outcome.ok and [r.value for r in outcome.results] == [None]
    assert await fake_slack.requests("chat.postMessage") == []


async def test_a_failed_announcement_is_reported_and_the_host_carries_on(
    jaf_host: HostFactory, fake_slack: FakeSlack
) -> None:
    config = {"slack": fake_slack.config(signup_channel="#nowhere", signup_message="Hi {nick}")}
    async with jaf_host("slack", config=config) as pm:
        outcome = await pm.emit_event("user_signup", {"name": "Ada"})
        assert pm.get_status("slack") is PluginStatus.ACTIVE
    [failed] = outcome.failed
    assert "channel_not_found" in str(failed.error)
    [post] = await fake_slack.requests("chat.postMessage")
    assert post["json"]["text"] == "Hi unknown"  # a field the event lacks


async def test_settings_from_a_toml_file(
    jaf_host: HostFactory, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    settings = tmp_path / "jaf-plugins.toml"
    settings.write_text(
        "[plugins.slack]\n"
        f'base_url = "{fake_slack.base_url}"\n'
        f'token = "{TOKEN}"\n'
        'signup_channel = "#general"\n'
        'signup_message = "Welcome aboard, {name} ({email})!"\n'
    )
    async with jaf_host("slack", settings_file=str(settings)) as pm:
        assert pm.get_status("slack") is PluginStatus.ACTIVE, pm.get_error("slack")
        await pm.emit_event("user_signup", {"name": "Ada", "email": "ada@example.com"})
    [post] = await fake_slack.requests("chat.postMessage")
    assert post["json"]["text"] == "Welcome aboard, Ada (ada@example.com)!"
