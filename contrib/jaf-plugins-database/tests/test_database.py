from __future__ import annotations

import functools
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest
from jaf_plugins_database import ConnectionPool, DatabasePlugin, PoolTimeoutError

from jaf_plugins import PluginManager, PluginStatus, ToolError, ToolValidationError
from jaf_plugins.testing import HostFactory, PluginConformance, call_tool

NAME = "database_plugin"
# A recursive CTE that keeps a connection busy for a while without writing anything.
SLOW = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
    "SELECT count(*) AS n FROM c"
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_fds(path: Path) -> int:
    """File descriptors this process holds on ``path`` (and its -journal/-wal/-shm)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        pytest.skip("needs /proc/self/fd to count open files")
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:
            continue
        if target.startswith(str(path)):
            count += 1
    return count


def plugin_of(pm: PluginManager) -> DatabasePlugin:
    plugin = pm.get_plugin(NAME)
    # By name: a conformance reload test re-imports the package, so the class object the
    # host builds from may be newer than the one imported here.
    assert type(plugin).__name__ == "DatabasePlugin"
    return plugin  # type: ignore[return-value]


def make_db(path: Path, rows: int = 3) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(rows)]
        )
    conn.close()
    return path


# -- conformance ---------------------------------------------------------------------------

_CONFORMANCE_DIR = Path(tempfile.mkdtemp(prefix="jaf-database-conformance-"))


@pytest.fixture(scope="module", autouse=True)
def _remove_conformance_dir() -> Iterator[None]:
    yield
    shutil.rmtree(_CONFORMANCE_DIR, ignore_errors=True)


class TestConformanceInMemory(PluginConformance):
    plugin = NAME
    config: ClassVar[dict[str, Any]] = {"seed_demo": True, "pool_size": 3}


class TestConformanceFile(PluginConformance):
    # A file, so the resource check also counts the pool's file descriptors.
    plugin = NAME
    config: ClassVar[dict[str, Any]] = {
        "database": str(_CONFORMANCE_DIR / "shop.sqlite"),
        "seed_demo": True,
    }


# -- the pool's connections ------------------------------------------------------------------


@pytest.mark.anyio
async def test_pool_opens_at_initialize_and_closes_every_connection(
    jaf_host: HostFactory, tmp_path: Path
) -> None:
    db = make_db(tmp_path / "notes.sqlite")
    async with jaf_host(NAME, config={NAME: {"database": str(db), "pool_size": 4}}) as pm:
        plugin = plugin_of(pm)
        pool = plugin.pool
        assert pool is not None and pool.open_connections == 4
        assert open_fds(db) == 4  # one file per connection, opened up front
        await call_tool(pm, "query", sql="SELECT count(*) AS n FROM notes")
        assert open_fds(db) == 4  # calls reuse the pool, they open nothing
        await pm.deactivate_plugin(NAME)
        assert plugin.pool is None and pool.open_connections == 0 and pool.closed
        assert open_fds(db) == 0
        assert pm.get_tool("query") is None
        # Activating again opens a fresh pool.
        assert await pm.activate_plugin(NAME), pm.get_error(NAME)
        assert open_fds(db) == 4
    assert open_fds(db) == 0


@pytest.mark.anyio
async def test_memory_database_is_shared_by_the_pool_and_private_to_the_instance(
    jaf_host: HostFactory,
) -> None:
    async with jaf_host(NAME, config={NAME: {"seed_demo": True, "pool_size": 2}}) as pm:
        # Every pooled connection sees the seeded rows (not an empty database of its own).
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(functools.partial(call_tool, pm, "lookup_order", order_id="ORD-1001"))
        counts = await call_tool(pm, "query", sql="SELECT count(*) AS n FROM customers")
        assert counts["rows"] == [{"n": 3}]
    async with jaf_host(NAME) as pm:  # another instance, not seeded: its own empty database
        assert await call_tool(pm, "list_tables") == {"tables": []}


# -- queries ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_queries_return_rows(jaf_host: HostFactory, tmp_path: Path) -> None:
    db = make_db(tmp_path / "notes.sqlite", rows=5)
    config = {NAME: {"database": str(db), "max_rows": 3}}
    async with jaf_host(NAME, config=config) as pm:
        result = await call_tool(
            pm, "query", sql="SELECT id, body FROM notes WHERE id > ? ORDER BY id", params=[1]
        )
        assert result == {
            "columns": ["id", "body"],
            "rows": [
                {"id": 2, "body": "note 1"},
                {"id": 3, "body": "note 2"},
                {"id": 4, "body": "note 3"},
            ],
            "row_count": 3,
            "truncated": True,  # a fourth row exists; max_rows is 3
        }
        joined = await call_tool(
            pm, "query", sql="SELECT a.id, b.id FROM notes a JOIN notes b ON b.id = a.id LIMIT 1"
        )
        assert joined["columns"] == ["id", "id_2"]
        assert await call_tool(pm, "list_tables") == {
            "tables": [{"name": "notes", "type": "table"}]
        }
        described = await call_tool(pm, "describe_table", name="notes")
        assert [(c["name"], c["type"], c["primary_key"]) for c in described["columns"]] == [
            ("id", "INTEGER", True),
            ("body", "TEXT", False),
        ]
        with pytest.raises(ToolValidationError, match=r"no table or view 'nope'.*notes"):
            await call_tool(pm, "describe_table", name="nope")
        with pytest.raises(ToolValidationError, match="no such table: missing"):
            await call_tool(pm, "query", sql="SELECT * FROM missing")
        with pytest.raises(ToolValidationError, match="uses 1, and there are 0 supplied"):
            await call_tool(pm, "query", sql="SELECT * FROM notes WHERE id = ?")
        # The jaf-py protocol: execute() returns a string (JSON) for the model.
        text = await pm.get_tool("query").execute({"sql": "SELECT count(*) AS n FROM notes"})
        assert json.loads(text)["rows"] == [{"n": 5}]


@pytest.mark.anyio
async def test_demo_lookups_answer_from_the_seeded_tables(jaf_host: HostFactory) -> None:
    async with jaf_host(NAME, config={NAME: {"seed_demo": True}}) as pm:
        order = await call_tool(pm, "lookup_order", order_id="ord-1004")  # ids ignore case
        assert order["found"] and order["order"]["status"] == "refunded"
        assert order["order"]["customer_email"] == "grace@example.com"
        assert [(p["kind"], p["amount"]) for p in order["payments"]] == [
            ("charge", "75.00 USD"),
            ("refund", "75.00 USD"),
        ]
        customer = await call_tool(pm, "lookup_customer", email="Ada@Example.com")
        assert customer["customer"]["name"] == "Ada Lovelace"
        assert [o["id"] for o in customer["orders"]] == ["ORD-1001", "ORD-1002"]
        payments = await call_tool(pm, "lookup_payments", email="grace@example.com")
        assert payments["totals"]["USD"]["net"] == "0.00 USD"
        assert payments["failed_payments"] == 1
        missing = await call_tool(pm, "lookup_order", order_id="ORD-9999")
        assert missing == {"found": False, "order_id": "ORD-9999", "message": "no order 'ORD-9999'"}


@pytest.mark.anyio
async def test_demo_lookups_without_the_demo_schema_say_how_to_get_it(
    jaf_host: HostFactory,
) -> None:
    async with jaf_host(NAME) as pm:
        with pytest.raises(ToolError, match="SEED_DEMO=true"):
            await call_tool(pm, "lookup_customer", email="ada@example.com")


# -- writes are refused ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("sql", "tried"),
    [
        ("INSERT INTO notes (body) VALUES ('x')", "INSERT on 'notes'"),
        ("UPDATE notes SET body = 'x'", "UPDATE on 'notes'"),
        ("DELETE FROM notes", "DELETE on 'notes'"),
        ("DROP TABLE notes", "a schema change"),
        ("CREATE TABLE t (x)", "a schema change"),
        ("CREATE TEMP TABLE t (x)", "a schema change"),
        ("PRAGMA query_only = 0", "PRAGMA query_only = 0"),
        ("ATTACH DATABASE ':memory:' AS other", "ATTACH"),
        ("BEGIN IMMEDIATE", "TRANSACTION"),
        ("WITH x AS (SELECT 1) DELETE FROM notes", "DELETE on 'notes'"),
    ],
)
async def test_writes_are_rejected(
    jaf_host: HostFactory, tmp_path: Path, sql: str, tried: str
) -> None:
    db = make_db(tmp_path / "notes.sqlite")
    async with jaf_host(NAME, config={NAME: {"database": str(db)}}) as pm:
        with pytest.raises(ToolValidationError, match="read-only") as caught:
            await call_tool(pm, "query", sql=sql)
        assert tried in str(caught.value)
        # Nothing changed, and the connection that refused it still works.
        for _ in range(2):
            counted = await call_tool(pm, "query", sql="SELECT count(*) AS n FROM notes")
            assert counted["rows"] == [{"n": 3}]
    check = sqlite3.connect(db)
    try:
        assert check.execute("SELECT count(*) FROM notes").fetchone() == (3,)
    finally:
        check.close()


# -- concurrency and time ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_calls_use_at_most_pool_size_connections(
    jaf_host: HostFactory, tmp_path: Path
) -> None:
    db = make_db(tmp_path / "notes.sqlite")
    config = {NAME: {"database": str(db), "pool_size": 3, "timeout": 30}}
    async with jaf_host(NAME, config=config) as pm:
        pool = plugin_of(pm).pool
        assert pool is not None
        results: list[Any] = []

        async def one() -> None:
            results.append(await call_tool(pm, "query", sql=SLOW, params=[100_000]))
            assert pool.in_use <= 3 and open_fds(db) == 3

        async with anyio.create_task_group() as tg:
            for _ in range(12):
                tg.start_soon(one)
        assert results == [{"columns": ["n"], "rows": [{"n": 100_000}], "row_count": 1,
                            "truncated": False}] * 12  # fmt: skip
        assert pool.max_in_use == 3  # the calls did overlap, and never beyond the pool
        assert pool.in_use == 0 and open_fds(db) == 3


@pytest.mark.anyio
async def test_a_statement_past_the_timeout_is_interrupted(jaf_host: HostFactory) -> None:
    config = {NAME: {"pool_size": 1, "timeout": 0.3}}
    async with jaf_host(NAME, config=config) as pm:
        with anyio.fail_after(10), pytest.raises(ToolError, match=r"past the timeout.*TIMEOUT"):
            await call_tool(pm, "query", sql=SLOW, params=[10**12])
        # The one connection came back and serves the next call.
        assert (await call_tool(pm, "query", sql="SELECT 1 AS one"))["rows"] == [{"one": 1}]


@pytest.mark.anyio
async def test_waiting_for_a_busy_pool_times_out(tmp_path: Path) -> None:
    db = make_db(tmp_path / "notes.sqlite")
    pool = ConnectionPool(lambda: sqlite3.connect(db, check_same_thread=False), 1, timeout=0.3)
    await pool.open()
    try:

        def hold(conn: sqlite3.Connection) -> int:
            time.sleep(0.6)  # Python code, which the statement deadline cannot interrupt
            return int(conn.execute("SELECT count(*) FROM notes").fetchone()[0])

        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.run, hold)
            await anyio.sleep(0.1)
            with pytest.raises(PoolTimeoutError, match=r"no connection became free within 0.3s"):
                await pool.run(hold)
        assert await pool.run(lambda conn: conn.execute("SELECT 1").fetchone()) == (1,)
    finally:
        await pool.close()
    assert open_fds(db) == 0


@pytest.mark.anyio
async def test_deactivate_during_a_query_still_closes_every_connection(
    jaf_host: HostFactory, tmp_path: Path
) -> None:
    db = make_db(tmp_path / "notes.sqlite")
    config = {NAME: {"database": str(db), "pool_size": 2, "timeout": 0.5}}
    async with jaf_host(NAME, config=config) as pm:
        query = pm.get_tool("query")
        assert query is not None
        outcome: list[BaseException | None] = []

        async def slow() -> None:
            try:
                await call_tool(pm, "query", sql=SLOW, params=[10**12])
                outcome.append(None)
            except ToolError as exc:
                outcome.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                await anyio.sleep(0.1)
                await pm.deactivate_plugin(NAME)
        assert open_fds(db) == 0
        assert len(outcome) == 1 and isinstance(outcome[0], ToolError)
        with pytest.raises(ToolError, match="not active"):  # a tool kept past deactivate
            await query(sql="SELECT 1")


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_bad_database_path_fails_initialize_naming_the_setting(
    jaf_host: HostFactory, tmp_path: Path
) -> None:
    missing_dir = tmp_path / "no-such-dir" / "shop.sqlite"
    async with jaf_host(
        NAME, config={NAME: {"database": str(missing_dir), "seed_demo": True}}
    ) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        error = pm.get_error(NAME)
        assert "initialize" in error
        assert "setting 'database' (JAF_PLUGINS__DATABASE_PLUGIN__DATABASE)" in error
        assert str(missing_dir) in error and "directory" in error
    async with jaf_host(NAME, config={NAME: {"database": str(tmp_path / "absent.db")}}) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        error = pm.get_error(NAME)
        assert "setting 'database'" in error and "does not exist" in error
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("plain text, not a database\n" * 100)
    async with jaf_host(NAME, config={NAME: {"database": str(not_sqlite)}}) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        assert "not a database" in pm.get_error(NAME)
    assert open_fds(not_sqlite) == 0 and not (tmp_path / "absent.db").exists()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("setting", "value"), [("pool_size", 0), ("timeout", -1), ("pool_sise", 3)]
)
async def test_invalid_settings_fail_before_initialize(
    jaf_host: HostFactory, setting: str, value: object
) -> None:
    async with jaf_host(NAME, config={NAME: {setting: value}}) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        assert f"invalid settings: {setting}" in pm.get_error(NAME)


@pytest.mark.anyio
async def test_settings_from_the_environment(
    jaf_host: HostFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "shop.sqlite"
    monkeypatch.setenv("JAF_PLUGINS__DATABASE_PLUGIN__DATABASE", str(db))
    monkeypatch.setenv("JAF_PLUGINS__DATABASE_PLUGIN__SEED_DEMO", "true")
    monkeypatch.setenv("JAF_PLUGINS__DATABASE_PLUGIN__POOL_SIZE", "2")
    async with jaf_host(NAME) as pm:
        assert open_fds(db) == 2
        order = await call_tool(pm, "lookup_order", order_id="ORD-1005")
        assert order["order"]["customer_name"] == "Alan Turing"
    # The seed went to the file, and seeding again adds nothing twice.
    async with jaf_host(NAME) as pm:
        counted = await call_tool(pm, "query", sql="SELECT count(*) AS n FROM payments")
        assert counted["rows"] == [{"n": 6}]


@pytest.mark.anyio
async def test_schema_file_creates_a_new_database_only(
    jaf_host: HostFactory, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(
        "CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT);\n"
        "INSERT INTO products VALUES ('A-1', 'Anvil'), ('B-2', 'Bolt');\n"
    )
    db = tmp_path / "products.sqlite"
    config = {NAME: {"database": str(db), "schema_file": str(schema)}}
    async with jaf_host(NAME, config=config) as pm:
        rows = await call_tool(pm, "query", sql="SELECT name FROM products ORDER BY sku")
        assert rows["rows"] == [{"name": "Anvil"}, {"name": "Bolt"}]
    # The database has tables now: the script (not idempotent) is not run again.
    async with jaf_host(NAME, config=config) as pm:
        assert pm.get_status(NAME) is PluginStatus.ACTIVE, pm.get_error(NAME)
        counted = await call_tool(pm, "query", sql="SELECT count(*) AS n FROM products")
        assert counted["rows"] == [{"n": 2}]
    # With the demo seed too, in memory.
    config = {NAME: {"schema_file": str(schema), "seed_demo": True}}
    async with jaf_host(NAME, config=config) as pm:
        tables = [t["name"] for t in (await call_tool(pm, "list_tables"))["tables"]]
        assert tables == ["customers", "orders", "payments", "products"]


@pytest.mark.anyio
async def test_a_broken_schema_file_fails_initialize_naming_the_setting(
    jaf_host: HostFactory, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE ok (x);\nCREATE TABEL broken (y);\n")
    async with jaf_host(NAME, config={NAME: {"schema_file": str(schema)}}) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        error = pm.get_error(NAME)
        assert "setting 'schema_file' (JAF_PLUGINS__DATABASE_PLUGIN__SCHEMA_FILE)" in error
        assert "syntax error" in error
    # On a file: the failed script leaves no half-made schema, so the fixed one runs next time.
    db = tmp_path / "shop.sqlite"
    config = {NAME: {"database": str(db), "schema_file": str(schema)}}
    async with jaf_host(NAME, config=config) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
    schema.write_text("CREATE TABLE ok (x);\nCREATE TABLE fixed (y);\n")
    async with jaf_host(NAME, config=config) as pm:
        tables = [t["name"] for t in (await call_tool(pm, "list_tables"))["tables"]]
        assert tables == ["fixed", "ok"]
    async with jaf_host(NAME, config={NAME: {"schema_file": str(tmp_path / "nope.sql")}}) as pm:
        assert pm.get_status(NAME) is PluginStatus.FAILED
        assert "invalid settings: schema_file" in pm.get_error(NAME)


# -- the pool on its own -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_pool_open_failure_closes_what_it_opened(tmp_path: Path) -> None:
    db = make_db(tmp_path / "notes.sqlite")
    opened: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        if len(opened) == 2:
            raise sqlite3.OperationalError("third connection refused")
        conn = sqlite3.connect(db, check_same_thread=False)
        opened.append(conn)
        return conn

    pool = ConnectionPool(connect, 3, timeout=1)
    with pytest.raises(sqlite3.OperationalError, match="third"):
        await pool.open()
    assert pool.open_connections == 0 and open_fds(db) == 0
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0].execute("SELECT 1")
