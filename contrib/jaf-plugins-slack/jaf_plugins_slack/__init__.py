"""Slack for JAF agents: post messages, list channels, find users, announce signups.

The plugin-system spec's ``SlackIntegrationPlugin`` made real: an ``IntegrationPlugin`` whose
httpx client is configured by settings, opened at ``initialize`` (checking the token with
``auth.test``) and closed when the plugin stops. Every Slack failure (an ``"ok": false``
answer, an HTTP error, rate limiting, a timeout) becomes a tool result with
``"success": False``, never an exception in the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic
from pydantic import Field

from jaf_plugins import EventHandler, IntegrationPlugin, PluginContext, PluginEvent, Tool

from ._api import AUTH_ERRORS, DEFAULT_BASE_URL, SlackAPI, SlackAPIError

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "SlackAPI",
    "SlackAPIError",
    "SlackIntegrationPlugin",
    "SlackSettings",
    "__version__",
]

PLUGIN_NAME = "slack"
MAX_PAGES = 50
"""conversations.list may answer with short or even empty pages; this bounds the walk."""


class _Unknown(dict[str, Any]):
    """Event data for ``str.format_map``: a field the event lacks reads ``unknown``."""

    def __missing__(self, key: str) -> str:
        return "unknown"


class SlackSettings(pydantic.BaseModel):
    """Settings of the ``slack`` plugin: ``JAF_PLUGINS__SLACK__<FIELD>`` or ``[plugins.slack]``."""

    model_config = pydantic.ConfigDict(extra="forbid")  # a typo in config/TOML is an error

    token: pydantic.SecretStr | None = None
    """Bot token (``xoxb-…``), sent as ``Authorization: Bearer``. Required, here or as the
    constructor's ``slack_token``."""
    base_url: str = DEFAULT_BASE_URL
    """Where the Web API methods live (a proxy, or a test server)."""
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Seconds to wait for Slack on each call."""
    verify_token: bool = True
    """Call ``auth.test`` at ``initialize``, so a bad token fails the plugin at start-up."""
    signup_channel: str | None = None
    """Channel that a ``user_signup`` event is announced in; unset: no announcement."""
    signup_message: str = "New user signed up: {name}"
    """The announcement; ``{field}`` is replaced by the event data's ``field``."""

    @pydantic.field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL such as " + DEFAULT_BASE_URL)
        return value.rstrip("/")

    @pydantic.field_validator("signup_message")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format_map(_Unknown())
        except (ValueError, IndexError, KeyError, AttributeError) as exc:
            raise ValueError(f"is not a valid template ({exc}); use {{field}} names") from None
        return value


def env_prefix(plugin_name: str) -> str:
    """``JAF_PLUGINS__SLACK__``: where this plugin's environment variables start."""
    return f"JAF_PLUGINS__{re.sub(r'[^A-Za-z0-9]', '_', plugin_name).upper()}__"


class SlackIntegrationPlugin(IntegrationPlugin):
    """Slack integration plugin."""

    settings_model = SlackSettings

    def __init__(self, slack_token: str | pydantic.SecretStr | None = None) -> None:
        super().__init__()
        self.metadata.name = PLUGIN_NAME
        self.metadata.version = __version__
        self.metadata.description = "Slack: post messages, list channels, find users by email"
        # The spec passes the token to the constructor; the token setting, when set, wins.
        self.slack_token = (
            pydantic.SecretStr(slack_token) if isinstance(slack_token, str) else slack_token
        )
        self.settings = SlackSettings()
        self.client: SlackAPI | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def initialize(self, context: PluginContext) -> bool:
        """Open the Slack client (closed by a cleanup) and, by default, check the token."""
        self.logger = context.logger
        if not isinstance(context.settings, SlackSettings):  # the host validated them
            raise TypeError(f"expected SlackSettings, got {type(context.settings).__name__}")
        self.settings = settings = context.settings
        env = env_prefix(context.name)
        token = _reveal(settings.token) or _reveal(self.slack_token)
        if not token:
            self.logger.error(
                "no Slack token: set %sTOKEN (or token under [plugins.%s]) to the app's "
                "bot token (xoxb-...)",
                env,
                context.name,
            )
            return False
        if not (token.isascii() and token.isprintable() and " " not in token):
            # httpx would fail building the header, quoting part of the token in its error.
            self.logger.error(
                "the Slack token has characters no token has (it must be printable ASCII "
                "without spaces): set %sTOKEN to the app's bot token (xoxb-...)",
                env,
            )
            return False
        self.client = SlackAPI(
            base_url=settings.base_url,
            token=token,
            timeout=settings.timeout,
            user_agent=f"jaf-plugins-slack/{__version__}",
        )
        context.add_cleanup(self._close_client)  # runs on deactivate and on a failed start
        if settings.verify_token:
            try:
                identity = await self.client.call("auth.test")
            except SlackAPIError as exc:
                if exc.code in AUTH_ERRORS:
                    problem = f"Slack rejected the token at auth.test ({exc.code})"
                    fix = f"set {env}TOKEN to a valid bot token"
                else:
                    problem = f"could not check the Slack token ({exc.detail})"
                    fix = f"check {env}BASE_URL and {env}TIMEOUT"
                self.logger.error(
                    "%s: %s, or set %sVERIFY_TOKEN=false to skip the check",
                    problem,
                    fix,
                    env,
                )
                return False
            self.logger.info(
                "connected to Slack team %r as %r", identity.get("team"), identity.get("user")
            )
        return True

    async def _close_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.aclose()

    # -- the Slack calls, for tools and for other plugins ------------------------------------

    def _api(self) -> SlackAPI:
        if self.client is None:
            raise SlackAPIError("not_connected", "the slack plugin is not active")
        return self.client

    async def post_message(
        self, channel: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Post ``text`` to ``channel`` (an ID, or a name like ``#general``); returns Slack's
        answer (``channel`` as an ID, ``ts``). Raises ``SlackAPIError``."""
        body = {"channel": channel, "text": text}
        if thread_ts:
            body["thread_ts"] = thread_ts
        return await self._api().call("chat.postMessage", body=body)

    async def send_message(self, channel: str, message: str) -> bool:
        """The spec's form: ``True`` if the message was posted; a failure is logged."""
        try:
            await self.post_message(channel, message)
        except SlackAPIError as exc:
            self.logger.error("Failed to send Slack message: %s", exc.detail)
            return False
        return True

    async def list_channels(
        self, limit: int = 100, include_private: bool = False
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` unarchived channels the token can see, following Slack's cursor."""
        api = self._api()
        types = "public_channel,private_channel" if include_private else "public_channel"
        channels: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            params: dict[str, str | int] = {
                "limit": min(200, limit - len(channels)),  # Slack advises pages of <= 200
                "exclude_archived": "true",
                "types": types,
            }
            if cursor:
                params["cursor"] = cursor
            page = await api.call("conversations.list", params=params)
            channels.extend(
                _channel(item) for item in page.get("channels") or () if isinstance(item, dict)
            )
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor or len(channels) >= limit:
                break
        return channels[:limit]

    async def find_user(self, email: str) -> dict[str, Any]:
        """The Slack user with this email address. Raises ``SlackAPIError``
        (``users_not_found`` when there is none)."""
        answer = await self._api().call("users.lookupByEmail", params={"email": email})
        user = _mapping(answer.get("user"))
        profile = _mapping(user.get("profile"))
        return {
            "id": user.get("id"),
            "name": user.get("name"),
            "real_name": user.get("real_name") or profile.get("real_name"),
            "display_name": profile.get("display_name"),
            "tz": user.get("tz"),
            "is_bot": bool(user.get("is_bot")),
        }

    # -- tools -------------------------------------------------------------------------------

    def get_tools(self) -> list[Tool]:
        plugin = self

        @Tool(name="send_slack_message", description="Send a message to a Slack channel")
        async def send_slack_message(
            channel: Annotated[
                str, Field(min_length=1, description="channel ID (C0123ABC) or name (#general)")
            ],
            message: Annotated[str, Field(min_length=1, max_length=40_000)],
            thread_ts: Annotated[
                str | None, Field(description="ts of a message to reply to in its thread")
            ] = None,
        ) -> dict[str, Any]:
            try:
                answer = await plugin.post_message(channel, message, thread_ts)
            except SlackAPIError as exc:
                plugin.logger.warning("send_slack_message to %r failed: %s", channel, exc.detail)
                return exc.as_result(channel=channel)
            return {
                "success": True,
                "channel": answer.get("channel", channel),
                "ts": answer.get("ts"),
            }

        @Tool(
            name="list_slack_channels",
            description="List the Slack channels the app can see (ID, name, whether private)",
        )
        async def list_slack_channels(
            limit: Annotated[int, Field(ge=1, le=1000)] = 100,
            include_private: bool = False,
        ) -> dict[str, Any]:
            try:
                channels = await plugin.list_channels(limit, include_private)
            except SlackAPIError as exc:
                plugin.logger.warning("list_slack_channels failed: %s", exc.detail)
                return exc.as_result()
            return {"success": True, "channels": channels}

        @Tool(name="find_slack_user", description="Find a Slack user by email address")
        async def find_slack_user(
            email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)],
        ) -> dict[str, Any]:
            try:
                user = await plugin.find_user(email)
            except SlackAPIError as exc:
                plugin.logger.warning("find_slack_user failed: %s", exc.detail)
                return exc.as_result(email=email)
            return {"success": True, "user": user}

        return [send_slack_message, list_slack_channels, find_slack_user]

    # -- events ------------------------------------------------------------------------------

    @EventHandler("user_signup")
    async def announce_signup(self, event: PluginEvent) -> dict[str, Any] | None:
        """Post ``signup_message`` to ``signup_channel``; nothing when that is unset.

        A failure raises, so the host logs it and lists it in ``EventOutcome.failed``.
        """
        channel = self.settings.signup_channel
        if not channel:
            return None
        data = event.data if isinstance(event.data, Mapping) else {}
        text = self.settings.signup_message.format_map(_Unknown(data))
        answer = await self.post_message(channel, text)
        return {"success": True, "channel": answer.get("channel", channel), "ts": answer.get("ts")}


def _reveal(secret: pydantic.SecretStr | None) -> str:
    return secret.get_secret_value().strip() if secret is not None else ""


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _channel(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": item.get("id"),
        "name": item.get("name"),
        "is_private": bool(item.get("is_private")),
        "is_member": bool(item.get("is_member")),
    }
