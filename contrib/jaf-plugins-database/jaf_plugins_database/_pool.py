"""A fixed-size pool of SQLite connections for async code, on asyncio and trio alike.

Each call checks a connection out, runs a plain function on it in a worker thread
(``anyio.to_thread.run_sync``), and hands it back. A connection is only ever used by the
one call that holds it, so it is confined to one thread at a time, which is all SQLite
asks of a connection opened with ``check_same_thread=False``; the pool's own capacity
limiter keeps its worker threads to ``size`` whatever else uses anyio's default pool.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

_logger = logging.getLogger("jaf.plugins.database_plugin")

# The authorizer's action codes, for saying what a refused statement tried to do.
_ACTIONS = {
    getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ")
    for name in (
        "CREATE_INDEX",
        "CREATE_TABLE",
        "CREATE_TEMP_INDEX",
        "CREATE_TEMP_TABLE",
        "CREATE_TEMP_TRIGGER",
        "CREATE_TEMP_VIEW",
        "CREATE_TRIGGER",
        "CREATE_VIEW",
        "DELETE",
        "DROP_INDEX",
        "DROP_TABLE",
        "DROP_TEMP_INDEX",
        "DROP_TEMP_TABLE",
        "DROP_TEMP_TRIGGER",
        "DROP_TEMP_VIEW",
        "DROP_TRIGGER",
        "DROP_VIEW",
        "INSERT",
        "PRAGMA",
        "READ",
        "SELECT",
        "TRANSACTION",
        "UPDATE",
        "ATTACH",
        "DETACH",
        "ALTER_TABLE",
        "REINDEX",
        "ANALYZE",
        "CREATE_VTABLE",
        "DROP_VTABLE",
        "FUNCTION",
        "SAVEPOINT",
        "RECURSIVE",
    )
    if hasattr(sqlite3, f"SQLITE_{name}")
}
_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),  # WITH RECURSIVE
}
READ_ONLY_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "collation_list",
    }
)
"""Pragmas that only report; every other pragma (``query_only = 0`` first) is refused."""


class PoolClosedError(RuntimeError):
    """The pool is closed (the plugin deactivated)."""


class PoolTimeoutError(TimeoutError):
    """No connection became free, or the statement did not finish, within the timeout."""


class ReadOnlyError(sqlite3.DatabaseError):
    """A statement tried to change the database (or to leave read-only mode)."""

    def __init__(self, refused: str) -> None:
        super().__init__(refused)
        self.refused = refused


class _Slot:
    """One pooled connection, with what its guards (authorizer, progress handler) need."""

    def __init__(self, conn: sqlite3.Connection, *, read_only: bool) -> None:
        self.conn = conn
        self.deadline = math.inf
        self.refused: str | None = None
        self.closing = False
        # Checked every 1000 virtual-machine steps: a statement past its deadline is
        # interrupted rather than holding a connection (and a thread) indefinitely.
        conn.set_progress_handler(self._past_deadline, 1000)
        if read_only:
            conn.execute("PRAGMA query_only = ON")
            conn.set_authorizer(self._authorize)

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None
    ) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            # SQLite asks this itself when a pragma table-valued function such as
            # pragma_table_info() is first used; query_only still stops any real write.
            return sqlite3.SQLITE_OK
        what = _ACTIONS.get(action, f"action {action}")
        if arg1 in ("sqlite_master", "sqlite_temp_master"):
            # CREATE, DROP and ALTER first ask to change SQLite's catalog; the refusal
            # stops the statement there, before it names its own table.
            what = "a schema change (CREATE, DROP or ALTER)"
        elif action == sqlite3.SQLITE_PRAGMA:
            what += f" {arg1}" + (f" = {arg2}" if arg2 is not None else "")
        elif arg1:
            what += f" on {arg1!r}"
        self.refused = self.refused or what
        return sqlite3.SQLITE_DENY

    def call(self, fn: Callable[[sqlite3.Connection], T], deadline: float) -> T:
        """Run ``fn(conn)`` (in a worker thread), translating what the guards stopped."""
        self.deadline, self.refused = deadline, None
        try:
            return fn(self.conn)
        except sqlite3.DatabaseError as exc:
            if self.refused is not None:
                raise ReadOnlyError(self.refused) from exc
            message = str(exc)
            if "readonly database" in message:
                raise ReadOnlyError("a write") from exc
            if message == "interrupted" and self.closing:
                raise PoolClosedError("the statement was interrupted: the pool is closing") from exc
            if message == "interrupted" and time.monotonic() > deadline:
                raise PoolTimeoutError("the statement ran past the timeout") from exc
            raise
        finally:
            self.deadline = math.inf


class ConnectionPool:
    """``size`` SQLite connections, opened by ``open()`` and all closed by ``close()``.

    ``connect`` opens one connection (it runs in a worker thread). With ``read_only`` every
    connection refuses writes twice over: ``PRAGMA query_only`` and an authorizer that allows
    only reads, so a statement that would write fails before it runs, naming what it tried.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        size: int,
        *,
        timeout: float,
        read_only: bool = True,
    ) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.size = size
        self.timeout = timeout
        self.read_only = read_only
        self._connect = connect
        self._slots: list[_Slot] = []
        self._free: list[_Slot] = []
        self._available = anyio.Semaphore(size)
        self._limiter = anyio.CapacityLimiter(size)
        self._returned = anyio.Event()
        self.closed = False
        self.in_use = 0
        """Connections checked out right now."""
        self.max_in_use = 0
        """The most connections ever checked out at once."""

    @property
    def open_connections(self) -> int:
        """Connections open now: ``size`` between ``open()`` and ``close()``, else 0."""
        return len(self._slots)

    async def open(self) -> None:
        """Open all ``size`` connections; if one fails, close the others and raise."""
        try:
            for _ in range(self.size):
                slot = await anyio.to_thread.run_sync(self._open_slot, limiter=self._limiter)
                self._slots.append(slot)
                self._free.append(slot)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.close()
            raise

    def _open_slot(self) -> _Slot:
        conn = self._connect()
        try:
            return _Slot(conn, read_only=self.read_only)
        except BaseException:
            conn.close()
            raise

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on a free connection, within the timeout (waiting included).

        Raises ``PoolTimeoutError`` when no connection frees up or the statement runs too
        long, ``ReadOnlyError`` for a write on a read-only pool, ``PoolClosedError`` once
        closed, and ``sqlite3.Error`` for anything else SQLite refuses.
        """
        if self.closed:
            raise PoolClosedError("the connection pool is closed")
        deadline = time.monotonic() + self.timeout
        with anyio.move_on_after(self.timeout) as waiting:
            await self._available.acquire()
        if waiting.cancelled_caught:
            raise PoolTimeoutError(
                f"no connection became free within {self.timeout:g}s (all {self.size} were busy)"
            )
        if self.closed:
            self._available.release()
            raise PoolClosedError("the connection pool is closed")
        slot = self._free.pop()
        self.in_use += 1
        self.max_in_use = max(self.max_in_use, self.in_use)
        try:
            # Not cancellable: the connection comes back only once its thread is done with
            # it, and the deadline bounds how long that takes.
            return await anyio.to_thread.run_sync(slot.call, fn, deadline, limiter=self._limiter)
        finally:
            self.in_use -= 1
            self._free.append(slot)
            self._available.release()
            self._returned.set()
            self._returned = anyio.Event()

    async def close(self) -> None:
        """Refuse new calls, let running ones finish (interrupting them after the timeout),
        then close every connection."""
        self.closed = True
        with anyio.CancelScope(shield=True):
            await self._drain()
            while self._slots:
                slot = self._slots.pop()
                if slot in self._free:
                    self._free.remove(slot)
                    await anyio.to_thread.run_sync(slot.conn.close, limiter=self._limiter)
                else:  # still running after the interrupt: nothing safe to do but report it
                    _logger.error("a pooled SQLite connection was still busy at close")

    async def _drain(self) -> None:
        with anyio.move_on_after(self.timeout):
            while self.in_use:
                await self._returned.wait()
        if self.in_use:
            for slot in self._slots:
                if slot not in self._free:
                    slot.closing = True
                    slot.conn.interrupt()
            with anyio.move_on_after(self.timeout):
                while self.in_use:
                    await self._returned.wait()
