"""``DatabasePlugin``: the spec's DatabasePlugin, on a real pool of SQLite connections."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from pydantic import Field

from jaf_plugins import PluginContext, Tool, ToolError, ToolPlugin, ToolValidationError

from ._demo import DEMO_SQL, DEMO_TABLES
from ._pool import (
    READ_ONLY_PRAGMAS,
    ConnectionPool,
    PoolClosedError,
    PoolTimeoutError,
    ReadOnlyError,
)
from ._settings import MEMORY, DatabaseSettings

T = TypeVar("T")

NAME = "database_plugin"
ENV = "JAF_PLUGINS__DATABASE_PLUGIN__"

Scalar = str | int | float | None
OrderId = Annotated[
    str, Field(min_length=1, max_length=64, description="The order's id, e.g. ORD-1001")
]
Email = Annotated[
    str, Field(min_length=3, max_length=254, description="The customer's email address")
]


@dataclass(frozen=True)
class _Target:
    """Where the connections go: the URI for setting up, and the one the pool uses."""

    label: str  # what error messages call the database
    setup_uri: str
    pool_uri: str
    is_file: bool


def _target(database: str) -> _Target:
    if database == MEMORY:
        # One named in-memory database per plugin instance, shared by its connections.
        # memdb (SQLite 3.36+) keeps ordinary locking, so pooled readers run in parallel;
        # older SQLite falls back to shared cache.
        name = f"jaf-database-{uuid.uuid4().hex}"
        if sqlite3.sqlite_version_info >= (3, 36):
            uri = f"file:/{name}?vfs=memdb"
        else:  # pragma: no cover - depends on the SQLite Python was built with
            uri = f"file:{name}?mode=memory&cache=shared"
        return _Target(MEMORY, uri, uri, is_file=False)
    path = Path(database).expanduser().absolute()
    # Pool connections open the file read-only: a third guard against writes, and a
    # missing file is an error instead of a new empty database.
    return _Target(str(path), f"{path.as_uri()}?mode=rwc", f"{path.as_uri()}?mode=ro", True)


def _connect(uri: str, timeout: float) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions, so a read holds no lock once done.
    conn = sqlite3.connect(
        uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
    )
    try:
        # Opening is lazy; reading the schema now fails here on a file that is not SQLite.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return bool(row[0])


_OWN_TRANSACTION = re.compile(r"^\s*(BEGIN|COMMIT|END|ROLLBACK)\b", re.IGNORECASE | re.MULTILINE)


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``script`` in one transaction, so a failing script leaves no half-made schema
    behind (unless it manages transactions itself, as a ``.dump`` does)."""
    if _OWN_TRANSACTION.search(script):
        conn.executescript(script)
        return
    try:
        conn.executescript(f"BEGIN;\n{script}\n;COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class _SetupError(Exception):
    """Initialize failed because of one setting; the message says which and why."""


class DatabasePlugin(ToolPlugin):
    """SQLite tools over a pool of connections opened at initialize and closed at deactivate."""

    settings_model = DatabaseSettings

    def __init__(self) -> None:
        super().__init__()
        from . import __version__

        self.metadata.name = NAME
        self.metadata.version = __version__
        self.metadata.description = (
            "SQLite over a connection pool: read-only queries, schema and customer lookups"
        )
        self.settings = DatabaseSettings()
        self.pool: ConnectionPool | None = None
        """The open pool while the plugin is active, else ``None``."""

    # -- lifecycle ---------------------------------------------------------------------------

    async def initialize(self, context: PluginContext) -> bool:
        assert isinstance(context.settings, DatabaseSettings)
        self.settings = settings = context.settings
        target = _target(settings.database)
        try:
            self.pool = await self._open(target, settings)
        except _SetupError as exc:
            self.logger.error("%s", exc)
            return False
        self.tools = self._make_tools()
        self.logger.info("opened %d connection(s) to %s", settings.pool_size, target.label)
        return True

    async def deactivate(self) -> bool:
        self.tools = []
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()
        return True

    async def _open(self, target: _Target, settings: DatabaseSettings) -> ConnectionPool:
        setup: sqlite3.Connection | None = None
        try:
            if settings.schema_file is not None or settings.seed_demo:
                setup = await self._setup(target, settings)
            pool = ConnectionPool(
                lambda: _connect(target.pool_uri, settings.timeout),
                settings.pool_size,
                timeout=settings.timeout,
            )
            try:
                await pool.open()
            except sqlite3.Error as exc:
                missing = target.is_file and not await anyio.Path(target.label).exists()
                why = (
                    "the file does not exist (create it, or set seed_demo or schema_file "
                    "to have the plugin create it)"
                    if missing
                    else str(exc)
                )
                raise _SetupError(
                    f"setting 'database' ({ENV}DATABASE): cannot open {target.label!r} "
                    f"read-only: {why}"
                ) from exc
            return pool
        finally:
            # For ':memory:' the pool now keeps the database alive; the setup connection goes.
            if setup is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(setup.close)

    async def _setup(self, target: _Target, settings: DatabaseSettings) -> sqlite3.Connection:
        """Open a writable connection and run the schema file and the demo seed on it."""
        try:
            setup = await anyio.to_thread.run_sync(_connect, target.setup_uri, settings.timeout)
        except sqlite3.Error as exc:
            raise _SetupError(
                f"setting 'database' ({ENV}DATABASE): cannot open {target.label!r}: {exc}"
                " (does its directory exist, and may this process write there?)"
            ) from exc
        try:
            schema = settings.schema_file
            if schema is not None and not await anyio.to_thread.run_sync(_has_tables, setup):
                try:
                    script = await anyio.Path(schema).read_text(encoding="utf-8")
                    await anyio.to_thread.run_sync(_run_script, setup, script)
                except (OSError, UnicodeDecodeError, sqlite3.Error) as exc:
                    raise _SetupError(
                        f"setting 'schema_file' ({ENV}SCHEMA_FILE): running {str(schema)!r} "
                        f"failed: {exc}"
                    ) from exc
            if settings.seed_demo:
                try:
                    await anyio.to_thread.run_sync(setup.executescript, DEMO_SQL)
                except sqlite3.Error as exc:
                    raise _SetupError(
                        f"setting 'seed_demo' ({ENV}SEED_DEMO): creating the demo tables in "
                        f"{target.label!r} failed: {exc} (a table of the same name with other "
                        "columns?)"
                    ) from exc
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(setup.close)
            raise
        return setup

    # -- running statements --------------------------------------------------------------------

    async def _run(
        self, tool: str, fn: Callable[[sqlite3.Connection], T], *, needs_demo: bool = False
    ) -> T:
        """Run ``fn`` on a pooled connection; turn what can go wrong into tool errors."""
        pool = self.pool
        if pool is None:
            raise ToolError(
                f"tool {tool!r}: the database plugin is not active",
                plugin=NAME,
                hint="activate 'database_plugin' (its connections close when it deactivates)",
            )
        try:
            return await pool.run(fn)
        except ReadOnlyError as exc:
            raise ToolValidationError(
                f"tool {tool!r}: the database is read-only to tools; the statement tried "
                f"{exc.refused}",
                plugin=NAME,
                hint="send a read-only statement: SELECT, WITH ... SELECT, EXPLAIN, or PRAGMA "
                + "/".join(sorted(READ_ONLY_PRAGMAS)),
            ) from None
        except PoolTimeoutError as exc:
            raise ToolError(
                f"tool {tool!r}: {exc}",
                plugin=NAME,
                hint=f"make the statement cheaper, or raise {ENV}TIMEOUT "
                f"(now {pool.timeout:g}s) or {ENV}POOL_SIZE (now {pool.size})",
            ) from None
        except PoolClosedError as exc:
            raise ToolError(
                f"tool {tool!r}: the database plugin was deactivated ({exc})",
                plugin=NAME,
                hint="activate 'database_plugin' again",
            ) from None
        except (sqlite3.Error, sqlite3.Warning) as exc:
            if needs_demo and "no such" in str(exc):
                raise ToolError(
                    f"tool {tool!r}: the database lacks the demo schema ({exc})",
                    plugin=NAME,
                    hint=f"set {ENV}SEED_DEMO=true, or use a database with the tables "
                    + ", ".join(DEMO_TABLES),
                ) from None
            raise ToolValidationError(
                f"tool {tool!r}: SQLite refused the statement: {str(exc).rstrip('.')}",
                plugin=NAME,
                hint="check the SQL against list_tables and describe_table",
            ) from None

    # -- tools ---------------------------------------------------------------------------------

    def _make_tools(self) -> list[Tool]:
        return [
            Tool(
                self._query,
                name="query",
                description="Run one read-only SQL statement (SELECT, WITH ... SELECT, "
                "EXPLAIN) with ? placeholders bound to params; returns columns and rows",
            ),
            Tool(
                self._list_tables,
                name="list_tables",
                description="List the database's tables and views",
            ),
            Tool(
                self._describe_table,
                name="describe_table",
                description="Describe a table or view: its columns, keys and CREATE statement",
            ),
            Tool(
                self._lookup_order,
                name="lookup_order",
                description="Look up an order by id, with its customer and payments",
            ),
            Tool(
                self._lookup_customer,
                name="lookup_customer",
                description="Look up a customer by email address, with their orders",
            ),
            Tool(
                self._lookup_payments,
                name="lookup_payments",
                description="A customer's payments and refunds by email address, with totals",
            ),
        ]

    async def _query(
        self,
        sql: Annotated[str, Field(min_length=1, description="One SQL statement")],
        params: Annotated[
            list[Scalar] | None, Field(description="Values for the ? placeholders, in order")
        ] = None,
    ) -> dict[str, Any]:
        limit = self.settings.max_rows

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            cursor = conn.execute(sql, params or [])
            try:
                columns = _column_names(cursor)
                rows = cursor.fetchmany(limit + 1)
            finally:
                cursor.close()  # finishes the statement, so it holds no read lock
            return {
                "columns": columns,
                "rows": [dict(zip(columns, row, strict=True)) for row in rows[:limit]],
                "row_count": min(len(rows), limit),
                "truncated": len(rows) > limit,
            }

        return await self._run("query", run)

    async def _list_tables(self) -> dict[str, Any]:
        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            rows = conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
            return {"tables": [{"name": name, "type": kind} for name, kind in rows]}

        return await self._run("list_tables", run)

    async def _describe_table(
        self, name: Annotated[str, Field(min_length=1, description="A table or view name")]
    ) -> dict[str, Any]:
        def run(conn: sqlite3.Connection) -> dict[str, Any] | list[str]:
            found = conn.execute(
                "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name = ? COLLATE NOCASE",
                (name,),
            ).fetchone()
            if found is None:
                return [
                    row[0]
                    for row in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                    )
                ]
            table, kind, create = found
            quoted = '"' + table.replace('"', '""') + '"'
            columns = [
                {
                    "name": col_name,
                    "type": col_type,
                    "not_null": bool(not_null),
                    "default": default,
                    "primary_key": bool(pk),
                }
                for _, col_name, col_type, not_null, default, pk in conn.execute(
                    f"PRAGMA table_info({quoted})"
                )
            ]
            foreign_keys = [
                {"column": row[3], "references": f"{row[2]}.{row[4]}"}
                for row in conn.execute(f"PRAGMA foreign_key_list({quoted})")
            ]
            return {
                "name": table,
                "type": kind,
                "columns": columns,
                "foreign_keys": foreign_keys,
                "sql": create,
            }

        result = await self._run("describe_table", run)
        if isinstance(result, list):
            raise ToolValidationError(
                f"tool 'describe_table': no table or view {name!r}",
                plugin=NAME,
                hint=f"use one of: {', '.join(result) or '(the database has no tables)'}",
            )
        return result

    async def _lookup_order(self, order_id: OrderId) -> dict[str, Any]:
        wanted = order_id.strip()

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            order = _one(
                conn,
                "SELECT o.id, o.status, o.total_cents, o.currency, o.created_at, "
                "c.email AS customer_email, c.name AS customer_name "
                "FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ?",
                (wanted,),
            )
            if order is None:
                return {"found": False, "order_id": wanted, "message": f"no order {wanted!r}"}
            order["total"] = _money(order["total_cents"], order["currency"])
            payments = _all(
                conn,
                "SELECT id, kind, amount_cents, method, status, created_at FROM payments "
                "WHERE order_id = ? ORDER BY created_at, id",
                (order["id"],),
            )
            for payment in payments:
                payment["amount"] = _money(payment["amount_cents"], order["currency"])
            return {"found": True, "order": order, "payments": payments}

        return await self._run("lookup_order", run, needs_demo=True)

    async def _lookup_customer(self, email: Email) -> dict[str, Any]:
        wanted = email.strip()

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            customer = _one(
                conn,
                "SELECT id, email, name, plan, created_at FROM customers WHERE email = ?",
                (wanted,),
            )
            if customer is None:
                return {"found": False, "email": wanted, "message": f"no customer {wanted!r}"}
            orders = _all(
                conn,
                "SELECT id, status, total_cents, currency, created_at FROM orders "
                "WHERE customer_id = ? ORDER BY created_at, id",
                (customer["id"],),
            )
            for order in orders:
                order["total"] = _money(order["total_cents"], order["currency"])
            return {"found": True, "customer": customer, "orders": orders}

        return await self._run("lookup_customer", run, needs_demo=True)

    async def _lookup_payments(self, email: Email) -> dict[str, Any]:
        wanted = email.strip()

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            customer = _one(conn, "SELECT id, email FROM customers WHERE email = ?", (wanted,))
            if customer is None:
                return {"found": False, "email": wanted, "message": f"no customer {wanted!r}"}
            payments = _all(
                conn,
                "SELECT p.id, p.order_id, p.kind, p.amount_cents, o.currency, p.method, "
                "p.status, p.created_at FROM payments p JOIN orders o ON o.id = p.order_id "
                "WHERE o.customer_id = ? ORDER BY p.created_at, p.id",
                (customer["id"],),
            )
            totals: dict[str, dict[str, int]] = {}
            for payment in payments:
                payment["amount"] = _money(payment["amount_cents"], payment["currency"])
                sums = totals.setdefault(
                    payment["currency"], {"charged_cents": 0, "refunded_cents": 0}
                )
                if payment["status"] == "succeeded":
                    key = "charged_cents" if payment["kind"] == "charge" else "refunded_cents"
                    sums[key] += payment["amount_cents"]
            failed = sum(p["status"] == "failed" for p in payments)
            summary = {
                currency: {
                    **sums,
                    "net_cents": sums["charged_cents"] - sums["refunded_cents"],
                    "net": _money(sums["charged_cents"] - sums["refunded_cents"], currency),
                }
                for currency, sums in totals.items()
            }
            return {
                "found": True,
                "email": customer["email"],
                "payments": payments,
                "totals": summary,
                "failed_payments": failed,
            }

        return await self._run("lookup_payments", run, needs_demo=True)


def _column_names(cursor: sqlite3.Cursor) -> list[str]:
    """The result's column names, made unique (``SELECT a.id, b.id`` gives id, id_2)."""
    names: list[str] = []
    for column in cursor.description or ():
        name, n = column[0], 1
        while name in names:
            n += 1
            name = f"{column[0]}_{n}"
        names.append(name)
    return names


def _all(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params)
    try:
        columns = _column_names(cursor)
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    rows = _all(conn, sql, params)
    return rows[0] if rows else None


def _money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d} {currency}"
