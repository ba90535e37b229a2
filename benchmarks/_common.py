"""What every benchmark script shares: the ``RESULT`` line that run_all.py reads, and versions."""

from __future__ import annotations

import argparse
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def metric(
    name: str, value: float, unit: str, target: str | None = None, met: bool | None = None
) -> dict[str, Any]:
    """One figure of the ``RESULT`` line; ``met`` is None for a figure without target."""
    return {"name": name, "value": round(value, 4), "unit": unit, "target": target, "met": met}


def print_result(bench: str, backend: str | None, metrics: list[dict[str, Any]]) -> None:
    """Print the machine-readable last line, ``RESULT {...}``, that run_all.py collects."""
    print("RESULT " + json.dumps({"bench": bench, "backend": backend, "metrics": metrics}))


def installed_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def versions(*dists: str) -> str:
    """``"anyio 4.16.0, trio 0.35.0"``: for the header every script prints."""
    return ", ".join(f"{dist} {installed_version(dist)}" for dist in dists)


def machine(backend: str | None = None) -> str:
    """``"Python 3.11.7 (CPython), backend trio, 2 cores, Linux"``: the header's first line."""
    import os
    import platform

    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        + (f"backend {backend}, " if backend else "")
        + f"{os.cpu_count()} cores, {platform.system()}"
    )


def timed_runs_parser(description: str | None) -> argparse.ArgumentParser:
    """``--backend``, ``--repeat`` and ``--seconds``: for scripts that time runs of calls."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument(
        "--seconds", type=float, default=0.2, help="approximate length of one run (default 0.2)"
    )
    return parser


def parse_timed_runs(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args
