"""A small Slack Web API client on httpx, in which every failure becomes a ``SlackAPIError``.

httpx runs on asyncio and trio alike, so the plugin works on both event loops.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["DEFAULT_BASE_URL", "SlackAPI", "SlackAPIError"]

DEFAULT_BASE_URL = "https://slack.com/api"

# Slack error codes that mean "the token is the problem", so the hint can say so.
AUTH_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive"}
)

_HINTS = {
    **dict.fromkeys(AUTH_ERRORS, "check the Slack token"),
    "channel_not_found": "the channel does not exist, or the app cannot see it (use its ID)",
    "not_in_channel": "invite the app to the channel first",
    "is_archived": "the channel is archived",
    "users_not_found": "no Slack user has that email address",
    "msg_too_long": "shorten the message",
    "no_text": "give the message some text",
}


class SlackAPIError(Exception):
    """A Slack call that did not succeed.

    ``code`` is Slack's own error code (``channel_not_found``, ``invalid_auth``…) or one of
    ours: ``ratelimited`` (HTTP 429; ``retry_after`` in seconds when Slack sent it),
    ``http_error`` (``status``), ``timeout``, ``connection_error``, ``invalid_response``,
    ``not_connected``. ``detail`` is one sentence for a person. Neither ever holds the token.
    """

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.extra = extra

    def as_result(self, **fields: Any) -> dict[str, Any]:
        """The tool result for this failure: ``{"success": False, "error": code, ...}``."""
        return {"success": False, **fields, "error": self.code, "detail": self.detail, **self.extra}


class SlackAPI:
    """Calls Slack Web API methods (``chat.postMessage``…) with a bot token.

    ``call`` returns the JSON body of a call whose ``"ok"`` is true and raises
    ``SlackAPIError`` for everything else, so callers handle one exception type.
    """

    def __init__(
        self, *, base_url: str, token: str, timeout: float, user_agent: str = "jaf-plugins-slack"
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/",  # so "chat.postMessage" lands under the base path
            headers={"Authorization": f"Bearer {token}", "User-Agent": user_agent},
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> dict[str, Any]:
        """POST ``body`` as JSON (write methods), or GET with ``params`` (read methods, some
        of which Slack does not accept JSON for)."""
        try:
            if body is not None:
                response = await self._client.post(
                    method,
                    content=json.dumps(body).encode(),
                    # Without the charset Slack adds a "missing_charset" warning.
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
            else:
                response = await self._client.get(method, params=params)
        except httpx.TimeoutException:
            raise SlackAPIError(
                "timeout",
                f"Slack did not answer {method} within the timeout of {self.timeout:g} s",
                timeout=self.timeout,
            ) from None
        except httpx.HTTPError as exc:
            raise SlackAPIError(
                "connection_error",
                f"could not reach Slack at {self.base_url} for {method}: "
                f"{type(exc).__name__}: {exc or 'no detail'}",
            ) from None
        return _answer(method, response)


def _answer(method: str, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status == 429:
        retry_after = _seconds(response.headers.get("Retry-After"))
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        raise SlackAPIError(
            "ratelimited", f"Slack is rate limiting {method}{wait}", retry_after=retry_after
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    slack_error = data.get("error") if isinstance(data, dict) else None
    if not 200 <= status < 300:
        reason = f" ({slack_error})" if isinstance(slack_error, str) else ""
        raise SlackAPIError(
            "http_error",
            f"Slack answered HTTP {status} {response.reason_phrase} to {method}{reason}".rstrip(),
            status=status,
        )
    if not isinstance(data, dict) or "ok" not in data:
        kind = response.headers.get("Content-Type", "no content type")
        raise SlackAPIError(
            "invalid_response",
            f"the answer to {method} is not a Slack API response ({kind}); "
            "check the base_url setting",
        )
    if data["ok"] is not True:
        code = slack_error if isinstance(slack_error, str) and slack_error else "unknown_error"
        detail = f"Slack refused {method}: {code}"
        if code == "missing_scope" and data.get("needed"):
            detail += f" (the app needs the scope {data['needed']})"
        elif code in _HINTS:
            detail += f" ({_HINTS[code]})"
        raise SlackAPIError(code, detail)
    return data


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds (Slack sends a number; an HTTP date is not worth parsing)."""
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
