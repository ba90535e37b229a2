"""``DatabaseSettings``: which database to open, and how the pool behaves."""

from __future__ import annotations

import pydantic
from pydantic import Field, FilePath

MEMORY = ":memory:"


class DatabaseSettings(pydantic.BaseModel):
    """Settings of the database plugin (``[plugins.database_plugin]``,
    ``JAF_PLUGINS__DATABASE_PLUGIN__*``)."""

    # A misspelt setting (``pool_sise``) would otherwise be dropped silently.
    model_config = pydantic.ConfigDict(extra="forbid")

    database: str = Field(default=MEMORY, min_length=1)
    """Path of the SQLite file (relative paths are taken from the working directory), or
    ``":memory:"`` for a private in-memory database that every pooled connection shares and
    that disappears when the plugin deactivates."""
    pool_size: int = Field(default=5, gt=0)
    """Connections opened at initialize; at most this many queries run at once."""
    timeout: float = Field(default=5.0, gt=0)
    """Seconds one tool call may take in all: waiting for a free connection, waiting for a
    lock held by another writer, and running the statement (a longer one is interrupted)."""
    schema_file: FilePath | None = None
    """An SQL script run at initialize when the database has no tables yet (a new file, or
    ``:memory:``), to create and fill it, in one transaction. An existing database is left
    as it is."""
    seed_demo: bool = False
    """Create the demo tables ``customers``, ``orders`` and ``payments`` if missing and add
    the demo rows (idempotent), for the ``lookup_*`` tools and the customer-service agents."""
    max_rows: int = Field(default=500, gt=0)
    """Rows ``query`` returns at most; it says ``"truncated": true`` when there were more."""
