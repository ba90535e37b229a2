"""Run every benchmark and print one table of the ratios against their targets.

Runs each script of this folder in its own process (activation, events, reload, startup,
scaling, tools), shows its output as it goes, reads the ``RESULT {...}`` line each prints
last, and ends with one table: every figure with its target, ``met`` or ``MISSED``.

Usage::

    python benchmarks/run_all.py                      # asyncio, each script's defaults
    python benchmarks/run_all.py --backend all        # asyncio, then trio where a script has one
    python benchmarks/run_all.py --quick --only startup tools
    python benchmarks/run_all.py --quiet --json results.json

``--quick`` uses shorter settings (still a median of at least 3 runs, 5 for startup): for a
smoke test, not for figures to record. Exits 1 if a script failed (a correctness check, or no
``RESULT`` line), 0 otherwise, even when targets are missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import installed_version

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Script:
    name: str
    file: str
    has_backend: bool
    quick: tuple[str, ...]


SCRIPTS = (
    Script("activation", "bench_activation.py", True, ("--repeat", "3")),
    Script("events", "bench_events.py", True, ("--repeat", "3", "--seconds", "0.05")),
    Script("reload", "bench_reload.py", True, ("--edits", "20")),
    Script("startup", "bench_startup.py", False, ("--repeat", "5")),
    Script("scaling", "bench_scaling.py", True, ("--repeat", "3")),
    Script("tools", "bench_tools.py", True, ("--repeat", "3", "--seconds", "0.05")),
)


@dataclass
class Outcome:
    script: Script
    backend: str | None
    returncode: int
    seconds: float
    result: dict[str, Any] | None


def run(script: Script, backend: str | None, quick: bool, quiet: bool) -> Outcome:
    command = [sys.executable, str(HERE / script.file)]
    if backend is not None:
        command += ["--backend", backend]
    if quick:
        command += list(script.quick)
    title = f"{script.name}" + (f" ({backend})" if backend else "")
    print(f"==> {title}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            try:
                result = json.loads(line[len("RESULT ") :])
            except ValueError:
                print(f"run_all: unreadable RESULT line from {script.file}", flush=True)
        elif not quiet:
            print(line, end="", flush=True)
    returncode = proc.wait()
    seconds = time.perf_counter() - started
    if quiet and returncode != 0:
        print(f"    {script.file} exited with {returncode}", flush=True)
    print(f"<== {title}: exit {returncode}, {seconds:.0f} s\n", flush=True)
    return Outcome(script, backend, returncode, seconds, result)


def _format(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "µs":
        return f"{value:.1f} µs"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:g} {unit}"


def table(outcomes: list[Outcome], show_info: bool) -> tuple[list[str], int, int]:
    """The summary's lines, and how many targets were met and missed."""
    rows: list[tuple[str, ...]] = []
    met = missed = 0
    for outcome in outcomes:
        bench, backend = outcome.script.name, outcome.backend or "-"
        if outcome.returncode != 0 or outcome.result is None:
            why = f"exit {outcome.returncode}" + ("" if outcome.result else ", no RESULT line")
            rows.append((bench, backend, "(script)", "", "", f"FAILED: {why}"))
        for metric in (outcome.result or {}).get("metrics", []):
            if metric["met"] is None:
                if not show_info:
                    continue
                state = "(info)"
            elif metric["met"]:
                state, met = "met", met + 1
            else:
                state, missed = "MISSED", missed + 1
            value = _format(metric["value"], metric["unit"])
            rows.append((bench, backend, metric["name"], value, metric["target"] or "", state))
    header = ("benchmark", "backend", "figure", "value", "target", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i == 3 else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return lines, met, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--backend",
        choices=["asyncio", "trio", "all"],
        default="asyncio",
        help="for scripts that take --backend; 'all' runs them on asyncio, then trio",
    )
    parser.add_argument("--quick", action="store_true", help="shorter settings (smoke test)")
    parser.add_argument(
        "--only", nargs="+", choices=[s.name for s in SCRIPTS], help="run only these"
    )
    parser.add_argument("--quiet", action="store_true", help="hide the scripts' own output")
    parser.add_argument("--info", action="store_true", help="also list figures without target")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every RESULT to FILE")
    args = parser.parse_args(argv)

    backends = ["asyncio", "trio"] if args.backend == "all" else [args.backend]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    print(
        f"{started}; Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} cores, {platform.system()}"
        + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "")
    )
    print(
        ", ".join(
            f"{name} {installed_version(name)}"
            for name in ("jaf-plugins", "anyio", "trio", "pluggy", "pydantic", "stevedore")
        )
    )
    print()

    outcomes = []
    for script in SCRIPTS:
        if args.only and script.name not in args.only:
            continue
        for backend in backends if script.has_backend else [None]:
            outcomes.append(run(script, backend, args.quick, args.quiet))

    lines, met, missed = table(outcomes, args.info)
    failed = [o for o in outcomes if o.returncode != 0 or o.result is None]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print("=" * len(lines[0]))
    print("\n".join(lines))
    print()
    print(
        f"targets: {met} met, {missed} missed; scripts failed: {len(failed)}"
        + (f"; load average at the end {load[0]:.2f}" if load else "")
        + (" (--quick: not for recording)" if args.quick else "")
    )
    if args.json is not None:
        document = {
            "started": started,
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "quick": args.quick,
            "runs": [
                {
                    "bench": o.script.name,
                    "backend": o.backend,
                    "returncode": o.returncode,
                    "seconds": round(o.seconds, 1),
                    "result": o.result,
                }
                for o in outcomes
            ],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
