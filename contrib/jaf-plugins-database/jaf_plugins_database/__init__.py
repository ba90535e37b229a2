"""SQLite for JAF agents over a real connection pool (the spec's DatabasePlugin).

The plugin ``database_plugin`` opens ``pool_size`` connections at initialize and closes
every one at deactivate. Its tools run read-only SQL (``query``), show the schema
(``list_tables``, ``describe_table``) and look up the demo customer data (``lookup_order``,
``lookup_customer``, ``lookup_payments``) that ``seed_demo`` creates.
"""

from __future__ import annotations

from ._demo import DEMO_TABLES
from ._plugin import DatabasePlugin
from ._pool import ConnectionPool, PoolClosedError, PoolTimeoutError, ReadOnlyError
from ._settings import DatabaseSettings

__version__ = "0.1.0"

__all__ = [
    "DEMO_TABLES",
    "ConnectionPool",
    "DatabasePlugin",
    "DatabaseSettings",
    "PoolClosedError",
    "PoolTimeoutError",
    "ReadOnlyError",
    "__version__",
]
