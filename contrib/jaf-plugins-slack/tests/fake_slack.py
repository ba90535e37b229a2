"""A small Slack Web API server for the tests, and the tests' handle on it (``FakeSlack``).

``python fake_slack.py TOKEN`` serves and prints its port; ``FakeSlack.start()`` does that in
a child process.

It serves ``auth.test``, ``chat.postMessage``, ``conversations.list`` and
``users.lookupByEmail`` under ``/api/`` the way Slack does (JSON with ``"ok"``, errors as
``"ok": false`` with HTTP 200, Bearer-token auth), and records every call. Tests steer it
through ``/_control/``:

* ``POST /_control/script`` ``{"method": m, "status": 500, "body": ..., "headers": {...},
  "stall": seconds}``: how the next call of ``m`` is answered (queued, one per call);
* ``GET /_control/requests``: the calls so far (``path``, ``query``, ``headers``, ``json``);
* ``POST /_control/reset``: forget calls and scripts, and release stalled calls.

It runs in a process of its own, so its sockets and threads are never mistaken for the
plugin's by the conformance suite's leak check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "xoxb-test-0123456789-secret"

CHANNELS = [
    {"id": "C001", "name": "general", "is_private": False, "is_member": True},
    {"id": "C002", "name": "random", "is_private": False, "is_member": False},
    {"id": "C003", "name": "announcements", "is_private": False, "is_member": True},
    {"id": "G004", "name": "secret", "is_private": True, "is_member": True},
]
USERS = {
    "ada@example.com": {
        "id": "U100",
        "name": "ada",
        "real_name": "Ada Lovelace",
        "tz": "Europe/London",
        "is_bot": False,
        "profile": {"real_name": "Ada Lovelace", "display_name": "ada"},
    }
}
PAGE_SIZE = 2  # Slack may answer with fewer items than asked for; make the plugin page


class State:
    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.scripts: defaultdict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self.release = threading.Event()
        self.ts = 1_700_000_000

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.scripts.clear()
            self.release.set()  # wake stalled calls
            self.release = threading.Event()

    def next_ts(self) -> str:
        with self.lock:
            self.ts += 1
            return f"{self.ts}.000100"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Slack
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.server.state
        if url.path.startswith("/_control/"):
            self._control(url.path.removeprefix("/_control/"), raw)
            return
        if not url.path.startswith("/api/"):
            self._send(404, b"not found", "text/plain")
            return
        method = url.path.removeprefix("/api/")
        query = dict(parse_qsl(url.query))
        body: Any = None
        if raw and self.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(raw)
        with state.lock:
            state.requests.append(
                {
                    "http_method": self.command,
                    "path": url.path,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": body,
                }
            )
            scripted = state.scripts[method].popleft() if state.scripts[method] else None
            release = state.release
        if scripted is not None:
            if scripted.get("stall"):
                release.wait(scripted["stall"])  # the client has given up by then
            answer = scripted.get("body", {"ok": True})
            payload = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            kind = "text/html" if isinstance(answer, str) else "application/json"
            self._send(scripted.get("status", 200), payload, kind, scripted.get("headers", {}))
            return
        self._json(self._slack(method, query, body or {}))

    def _slack(self, method: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        auth = self.headers.get("Authorization", "")
        if not auth:
            return {"ok": False, "error": "not_authed"}
        if auth != f"Bearer {self.server.state.token}":
            return {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return {"ok": True, "team": "Test Team", "user": "jafbot", "user_id": "U001"}
        if method == "chat.postMessage":
            wanted = str(body.get("channel", "")).lstrip("#")
            channel = next((c for c in CHANNELS if wanted in (c["id"], c["name"])), None)
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            if not body.get("text"):
                return {"ok": False, "error": "no_text"}
            return {"ok": True, "channel": channel["id"], "ts": self.server.state.next_ts()}
        if method == "conversations.list":
            types = query.get("types", "public_channel").split(",")
            visible = [
                c
                for c in CHANNELS
                if ("private_channel" if c["is_private"] else "public_channel") in types
            ]
            start = int(query.get("cursor") or 0)
            end = start + min(int(query.get("limit") or 100), PAGE_SIZE)
            cursor = str(end) if end < len(visible) else ""
            return {
                "ok": True,
                "channels": visible[start:end],
                "response_metadata": {"next_cursor": cursor},
            }
        if method == "users.lookupByEmail":
            user = USERS.get(query.get("email", ""))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "users_not_found"}
        return {"ok": False, "error": "unknown_method"}

    def _control(self, action: str, raw: bytes) -> None:
        state = self.server.state
        if action == "reset":
            state.reset()
            self._json({"ok": True})
        elif action == "script":
            script = json.loads(raw)
            with state.lock:
                state.scripts[script["method"]].append(script)
            self._json({"ok": True})
        elif action == "requests":
            with state.lock:
                self._json({"ok": True, "requests": list(state.requests)})
        else:
            self._send(404, b"unknown control action", "text/plain")

    def _json(self, data: dict[str, Any]) -> None:
        self._send(200, json.dumps(data).encode(), "application/json; charset=utf-8")

    def _send(
        self, status: int, payload: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (a timeout test); nothing to answer
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = State(token)


# -- the tests' side ----------------------------------------------------------------------


class FakeSlack:
    """The tests' handle on the server, running in a child process."""

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root}/api"
        self.token = TOKEN

    @classmethod
    def start(cls) -> FakeSlack:
        process = subprocess.Popen(
            [sys.executable, __file__, TOKEN], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        try:
            return cls(process, int(process.stdout.readline()))
        except BaseException:
            cls._end(process)
            raise

    def stop(self) -> None:
        self._end(self.process)

    @staticmethod
    def _end(process: subprocess.Popen[str]) -> None:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()

    def config(self, **overrides: Any) -> dict[str, Any]:
        """Plugin settings pointing at this server."""
        return {"base_url": self.base_url, "token": self.token, **overrides}

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.root}/_control/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    async def script(self, method: str, **answer: Any) -> None:
        """Answer the next ``method`` call with ``status``, ``body``, ``headers``, ``stall``."""
        import httpx  # only the tests' side needs it

        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.root}/_control/script", json={"method": method, **answer}
            )
            response.raise_for_status()

    async def requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """Calls received so far (of ``method`` only, if given)."""
        import httpx

        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.root}/_control/requests")
        calls: list[dict[str, Any]] = response.json()["requests"]
        return [c for c in calls if method is None or c["path"] == f"/api/{method}"]


def main() -> None:
    server = Server(sys.argv[1])
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
