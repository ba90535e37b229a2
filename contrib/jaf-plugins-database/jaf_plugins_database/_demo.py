"""The demo schema (customers, orders, payments) and its rows, created by ``seed_demo``.

Idempotent: tables are created if missing and rows inserted unless already there, so a
file database can be seeded by every activation (and by a reload running beside the old
instance) without duplicating anything.
"""

from __future__ import annotations

DEMO_TABLES = ("customers", "orders", "payments")

DEMO_SQL = """
CREATE TABLE IF NOT EXISTS customers (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL DEFAULT 'basic',
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id           TEXT PRIMARY KEY COLLATE NOCASE,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    status       TEXT NOT NULL CHECK (status IN
                     ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    total_cents  INTEGER NOT NULL CHECK (total_cents >= 0),
    currency     TEXT NOT NULL DEFAULT 'USD',
    created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders(customer_id);
CREATE TABLE IF NOT EXISTS payments (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL REFERENCES orders(id),
    kind          TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    method        TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'pending')),
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_by_order ON payments(order_id);

INSERT OR IGNORE INTO customers (id, email, name, plan, created_at) VALUES
    (1, 'ada@example.com',   'Ada Lovelace', 'pro',        '2024-01-15T09:30:00Z'),
    (2, 'grace@example.com', 'Grace Hopper', 'basic',      '2024-02-03T14:05:00Z'),
    (3, 'alan@example.com',  'Alan Turing',  'enterprise', '2024-03-21T08:00:00Z');

INSERT OR IGNORE INTO orders (id, customer_id, status, total_cents, currency, created_at) VALUES
    ('ORD-1001', 1, 'delivered', 4999,   'USD', '2024-04-01T10:00:00Z'),
    ('ORD-1002', 1, 'shipped',   12900,  'USD', '2024-05-12T16:20:00Z'),
    ('ORD-1003', 2, 'pending',   2500,   'USD', '2024-05-20T11:45:00Z'),
    ('ORD-1004', 2, 'refunded',  7500,   'USD', '2024-03-02T09:10:00Z'),
    ('ORD-1005', 3, 'paid',      150000, 'USD', '2024-05-28T13:00:00Z');

INSERT OR IGNORE INTO payments
    (id, order_id, kind, amount_cents, method, status, created_at) VALUES
    ('PAY-5001', 'ORD-1001', 'charge', 4999,   'card', 'succeeded', '2024-04-01T10:00:05Z'),
    ('PAY-5002', 'ORD-1002', 'charge', 12900,  'paypal', 'succeeded', '2024-05-12T16:20:09Z'),
    ('PAY-5003', 'ORD-1003', 'charge', 2500,   'card', 'failed', '2024-05-20T11:45:30Z'),
    ('PAY-5004', 'ORD-1004', 'charge', 7500,   'card', 'succeeded', '2024-03-02T09:10:02Z'),
    ('PAY-5005', 'ORD-1004', 'refund', 7500,   'card', 'succeeded', '2024-03-09T12:00:00Z'),
    ('PAY-5006', 'ORD-1005', 'charge', 150000, 'bank_transfer', 'succeeded',
        '2024-05-29T09:00:00Z');
"""
