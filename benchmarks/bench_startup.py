"""Startup benchmark: listing 500 installed plugins, and ``import jaf_plugins``, in fresh processes.

Generates, in a temporary folder, a site folder with 500 plugin distributions (``.dist-info``
folders with ``METADATA`` and an ``entry_points.txt`` in the group ``jaf.plugins``) among 300
other distributions (other entry-point groups, or none), in two variants:

* ``raising``     every plugin module raises as soon as it is imported (listing must not);
* ``importable``  every plugin module is a trivial no-op class (for pluggy and stevedore,
  which import every plugin they find).

Every figure is the wall time of a fresh interpreter (``subprocess.run``) that has the site
folder on ``PYTHONPATH``. The interpreter is a throwaway venv whose ``site-packages`` holds only
jaf-plugins' own dependency closure, pluggy and stevedore (links to the running environment's
copies), so plugins installed in the running environment cannot leak into the figures.
Each repeat runs every case once, back to back; figures are medians over ``--repeat`` rounds,
and "over bare" is the median of each round's difference with that round's ``python -c pass``.

Usage: ``python benchmarks/bench_startup.py [--repeat N] [--plugins 500] [--others 300]``

Exits non-zero if a listing does not return exactly the generated plugins (and those the
environment already had), if a listing imported a plugin module, if pluggy or stevedore did
not load exactly the generated plugins, or if a timed process fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from _common import installed_version, metric, print_result
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

GROUP = "jaf.plugins"
PREFIX = "jafbench_plugin_"
TARGET_WARM_MS = 15.0  # warm listing over bare python
TARGET_WARM_STDLIB = 0.3  # warm listing / stdlib listing (costs over bare)
TARGET_COLD_STDLIB = 1.1  # cold listing / stdlib listing (costs over bare)
TARGET_IMPORT_MS = 40.0  # import jaf_plugins over bare python

DESCRIPTION = "\n".join(
    f"Paragraph {i} of a long description, as real distributions ship their README here. "
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."
    for i in range(20)
)

# What each fresh process runs. ``{group}`` is filled in; every listing materializes what it
# returns, as a caller would.
CODE = {
    "bare": "pass",
    "import": "import jaf_plugins",
    "import_manager": "from jaf_plugins import PluginManager",
    "jaf": "import jaf_plugins\nplugins = jaf_plugins.installed_plugins({group!r})",
    "stdlib": (
        "from importlib.metadata import entry_points\n"
        "found = [(ep.name, ep.value, ep.dist.name) for ep in entry_points(group={group!r})]"
    ),
    "stdlib_names": (
        "from importlib.metadata import entry_points\n"
        "found = [(ep.name, ep.value) for ep in entry_points(group={group!r})]"
    ),
    "pluggy": (
        "import pluggy\npm = pluggy.PluginManager('jaf')\npm.load_setuptools_entrypoints({group!r})"
    ),
    "stevedore": (
        "from stevedore import ExtensionManager\n"
        "mgr = ExtensionManager(namespace={group!r}, invoke_on_load=False)"
    ),
}

# Run once per cache state, untimed: what each listing returned and which modules it imported.
CHECK = {
    "jaf": (
        "import json, sys, jaf_plugins\n"
        "found = [list(p) for p in jaf_plugins.installed_plugins({group!r})]\n"
        "imported = sorted(m for m in sys.modules if m.startswith({prefix!r}))\n"
        "print(json.dumps({{'found': found, 'imported': imported}}))"
    ),
    "stdlib": (
        "import json, sys\n"
        "from importlib.metadata import entry_points\n"
        "found = [[ep.name, ep.value, ep.dist.name] for ep in entry_points(group={group!r})]\n"
        "imported = sorted(m for m in sys.modules if m.startswith({prefix!r}))\n"
        "print(json.dumps({{'found': found, 'imported': imported}}))"
    ),
    "pluggy": (
        "import json, pluggy\n"
        "pm = pluggy.PluginManager('jaf')\n"
        "pm.load_setuptools_entrypoints({group!r})\n"
        "found = [[name, None, None] for name, _ in pm.list_name_plugin()]\n"
        "print(json.dumps({{'found': found, 'imported': []}}))"
    ),
    "stevedore": (
        "import json\n"
        "from stevedore import ExtensionManager\n"
        "mgr = ExtensionManager(namespace={group!r}, invoke_on_load=False)\n"
        "found = [[e.name, e.entry_point.value, None] for e in mgr]\n"
        "print(json.dumps({{'found': found, 'imported': []}}))"
    ),
}


class BenchFailure(Exception):
    pass


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    code: str
    site: str  # "raising" or "importable"
    cache: str = ""  # "", "jaf-cold", "jaf-warm", "stevedore-cold", "stevedore-warm"


@dataclass
class Layout:
    root: Path
    python: Path
    sites: dict[str, Path]
    cwd: Path
    jaf_warm: Path
    xdg_warm: Path
    cold: Path
    preexisting: list[str] = field(default_factory=list)


# -- the fake site --------------------------------------------------------------------------


def write_site(site: Path, plugins: int, others: int, *, importable: bool) -> None:
    site.mkdir(parents=True)
    for i in range(plugins):
        module = f"{PREFIX}{i:03d}"
        dist = f"jafbench-plugin-{i:03d}"
        extra = "\n[console_scripts]\njafbench-{i:03d} = {module}:main\n" if i % 10 == 0 else ""
        _dist_info(
            site,
            dist,
            f"1.{i % 10}.0",
            f"Benchmark plugin {i:03d}",
            f"[{GROUP}]\nplugin_{i:03d} = {module}:Plugin\n" + extra.format(i=i, module=module),
            top_level=module,
        )
        if importable:
            body = f'"""No-op benchmark plugin {i:03d}."""\n\n\nclass Plugin:\n    """Nothing."""\n'
        else:
            body = f'raise RuntimeError("{module} was imported: listing must not import")\n'
        (site / f"{module}.py").write_text(body)
    for i in range(others):
        module = f"jafbench_other_{i:03d}"
        if i % 3 == 0:
            eps = f"[console_scripts]\nother-{i:03d} = {module}:main\n"
        elif i % 3 == 1:
            eps = f"[pytest11]\nother_{i:03d} = {module}\n\n[other.group]\nx = {module}:x\n"
        else:
            eps = None
        _dist_info(site, f"jafbench-other-{i:03d}", f"2.0.{i}", f"Other {i:03d}", eps, module)
        package = site / module
        package.mkdir()
        (package / "__init__.py").write_text(f'"""Other distribution {i:03d}."""\n')


def _dist_info(
    site: Path, dist: str, version: str, summary: str, entry_points: str | None, top_level: str
) -> None:
    folder = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: {dist}\n"
        f"Version: {version}\n"
        f"Summary: {summary}\n"
        "Author-email: Bench <bench@example.invalid>\n"
        "License: MIT\n"
        "Classifier: Programming Language :: Python :: 3\n"
        "Requires-Python: >=3.10\n"
        "Requires-Dist: jaf-plugins>=0.1\n"
        "Description-Content-Type: text/markdown\n"
        "\n" + DESCRIPTION + "\n"
    )
    if entry_points is not None:
        (folder / "entry_points.txt").write_text(entry_points)
    (folder / "top_level.txt").write_text(top_level + "\n")
    (folder / "INSTALLER").write_text("pip\n")
    (folder / "WHEEL").write_text("Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n")
    (folder / "RECORD").write_text(f"{folder.name}/METADATA,,\n")


# -- the interpreter: a venv holding only the host's dependencies ------------------------------


def make_interpreter(target: Path, with_stevedore: bool) -> tuple[Path, list[str]]:
    """A venv (no pip) whose site-packages links jaf-plugins' runtime closure, pluggy and
    stevedore from the running environment. Returns its python and the distributions."""
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(target)
    python = target / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    roots = ["jaf-plugins", "pluggy"] + (["stevedore"] if with_stevedore else [])
    names = []
    for dist in _closure(roots):
        names.append(f"{dist.metadata['Name']} {dist.version}")
        for top in _top_levels(dist):
            link = site / top.name
            if not link.exists():
                link.symlink_to(top)
    import jaf_plugins  # the editable install's package folder, not its import hook

    link = site / "jaf_plugins"
    if not link.exists():
        link.symlink_to(Path(jaf_plugins.__file__).parent)
    return python, sorted(names)


def _closure(roots: list[str]) -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(seen.values())


def _top_levels(dist: metadata.Distribution) -> list[Path]:
    """The distribution's top-level files and folders in site-packages, its ``.dist-info``
    included; editable installs' hooks (``.pth``, ``__editable__``) left out."""
    base = Path(str(dist.locate_file("")))
    found: set[str] = set()
    for file in dist.files or []:
        top = file.parts[0]
        if top in ("..", "__pycache__") or top.endswith(".pth") or "__editable__" in top:
            continue
        found.add(top)
    return [base / top for top in sorted(found) if (base / top).exists()]


# -- running ------------------------------------------------------------------------------


def environment(layout: Layout, case: Case) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAF_PLUGINS_", "PYTHON"))}
    env["PYTHONPATH"] = str(layout.sites[case.site])
    env["JAF_PLUGINS_CACHE_DIR"] = str(layout.jaf_warm)
    env["XDG_CACHE_HOME"] = str(layout.xdg_warm)
    if case.cache == "jaf-cold":
        env["JAF_PLUGINS_CACHE_DIR"] = tempfile.mkdtemp(dir=layout.cold)
    elif case.cache == "stevedore-cold":
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(dir=layout.cold)
    return env


def run(layout: Layout, case: Case, code: str) -> tuple[float, str]:
    env = environment(layout, case)
    command = [str(layout.python), "-c", code]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=layout.cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise BenchFailure(f"{case.label}: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return elapsed, proc.stdout


def check(layout: Layout, case: Case, expected: dict[str, tuple[str, str]], strict: bool) -> int:
    """Run ``case``'s check once; returns how many entries it found. ``expected`` maps each
    generated plugin's name to its (target, distribution); ``strict``: exactly those plus
    the environment's own, with the same targets and distributions."""
    kind = case.key.split("_")[0]
    _, out = run(layout, case, CHECK[kind].format(group=GROUP, prefix=PREFIX))
    document = json.loads(out)
    if document["imported"]:
        raise BenchFailure(f"{case.label} imported plugin modules: {document['imported'][:5]}")
    found = {row[0]: row for row in document["found"]}
    if len(found) != len(document["found"]):
        raise BenchFailure(f"{case.label}: duplicate names in the listing")
    mine = {name for name in found if name.startswith("plugin_")}
    if mine != set(expected):
        missing, extra = set(expected) - mine, mine - set(expected)
        raise BenchFailure(
            f"{case.label}: {len(mine)} generated plugins found, expected {len(expected)} "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]})"
        )
    others = sorted(set(found) - mine)
    if strict:
        if others != layout.preexisting:
            raise BenchFailure(f"{case.label}: other entries {others}, expected none")
        for name, (target, dist) in expected.items():
            if (found[name][1], found[name][2]) != (target, dist):
                raise BenchFailure(f"{case.label}: {name} listed as {found[name][1:3]}")
    elif others:
        raise BenchFailure(f"{case.label}: loaded entries not generated: {others}")
    return len(found)


def cases(with_stevedore: bool) -> list[Case]:
    rows = [
        Case("bare", "python -c pass", CODE["bare"], "raising"),
        Case("import", "import jaf_plugins", CODE["import"], "raising"),
        Case(
            "import_manager",
            "from jaf_plugins import PluginManager",
            CODE["import_manager"],
            "raising",
        ),
        Case("jaf_warm", "jaf installed_plugins(), warm cache", CODE["jaf"], "raising", "jaf-warm"),
        Case("jaf_cold", "jaf installed_plugins(), cold cache", CODE["jaf"], "raising", "jaf-cold"),
        Case("stdlib", "stdlib entry_points(): name, value, dist", CODE["stdlib"], "raising"),
        Case("stdlib_names", "stdlib entry_points(): name, value", CODE["stdlib_names"], "raising"),
        Case("pluggy", "pluggy load_setuptools_entrypoints*", CODE["pluggy"], "importable"),
    ]
    if with_stevedore:
        rows += [
            Case(
                "stevedore_cold",
                "stevedore ExtensionManager*, cold",
                CODE["stevedore"],
                "importable",
                "stevedore-cold",
            ),
            Case(
                "stevedore_warm",
                "stevedore ExtensionManager*, warm",
                CODE["stevedore"],
                "importable",
                "stevedore-warm",
            ),
        ]
    return [Case(c.key, c.label, c.code.format(group=GROUP), c.site, c.cache) for c in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=11, help="rounds (median; at least 5)")
    parser.add_argument("--plugins", type=int, default=500, help="plugin distributions")
    parser.add_argument("--others", type=int, default=300, help="other distributions")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    if not 1 <= args.plugins <= 999 or not 0 <= args.others <= 999:
        parser.error("--plugins must be 1-999 and --others 0-999")

    with_stevedore = installed_version("stevedore") != "not installed"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{os.cpu_count()} cores, {platform.system()}, load average {load:.2f}"
    )
    print(
        f"jaf-plugins {installed_version('jaf-plugins')}, pluggy {installed_version('pluggy')}, "
        f"stevedore {installed_version('stevedore')}"
    )

    root = Path(tempfile.mkdtemp(prefix="jaf-bench-startup-"))
    try:
        return _bench(root, args, with_stevedore)
    except BenchFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _bench(root: Path, args: argparse.Namespace, with_stevedore: bool) -> int:
    started = time.perf_counter()
    python, dists = make_interpreter(root / "venv", with_stevedore)
    sites = {"raising": root / "site-raising", "importable": root / "site-importable"}
    for variant, site in sites.items():
        write_site(site, args.plugins, args.others, importable=variant == "importable")
    layout = Layout(
        root=root,
        python=python,
        sites=sites,
        cwd=root / "cwd",
        jaf_warm=root / "jaf-cache",
        xdg_warm=root / "xdg-cache",
        cold=root / "cold",
    )
    for folder in (layout.cwd, layout.jaf_warm, layout.xdg_warm, layout.cold):
        folder.mkdir()
    print(
        f"interpreter: a venv with {len(dists)} distributions ({', '.join(dists)}); "
        f"site folder on PYTHONPATH: {args.plugins} plugin distributions in {GROUP!r} among "
        f"{args.others} others (generated in {time.perf_counter() - started:.1f} s)"
    )
    # What the environment lists without the generated site, e.g. the host's own plugins.
    bare_env = Case("env", "environment", "", "raising")
    env = environment(layout, bare_env) | {"PYTHONPATH": ""}
    proc = subprocess.run(
        [layout.python, "-c", CHECK["stdlib"].format(group=GROUP, prefix=PREFIX)],
        env=env,
        cwd=layout.cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    layout.preexisting = sorted(row[0] for row in json.loads(proc.stdout)["found"])
    if layout.preexisting:
        print(f"the interpreter itself has {GROUP!r} entry points: {layout.preexisting}")

    all_cases = cases(with_stevedore)
    by_key = {case.key: case for case in all_cases}
    # Untimed: write bytecode caches, warm the OS's file cache, fill the warm caches (after
    # the bytecode, which changes folder modification times stevedore's cache key uses).
    for case in all_cases:
        run(layout, case, case.code)
    run(layout, by_key["jaf_warm"], by_key["jaf_warm"].code)
    if with_stevedore:
        run(layout, by_key["stevedore_warm"], by_key["stevedore_warm"].code)

    expected = {
        f"plugin_{i:03d}": (f"{PREFIX}{i:03d}:Plugin", f"jafbench-plugin-{i:03d}")
        for i in range(args.plugins)
    }
    checked = []
    for key, strict in (
        ("jaf_cold", True),
        ("jaf_warm", True),
        ("stdlib", True),
        ("pluggy", False),
        ("stevedore_cold", False),
        ("stevedore_warm", False),
    ):
        if key in by_key:
            checked.append(f"{key} {check(layout, by_key[key], expected, strict)}")
    if not list(layout.jaf_warm.iterdir()):
        raise BenchFailure("the warm jaf cache folder is empty")

    times: dict[str, list[float]] = {case.key: [] for case in all_cases}
    for _ in range(args.repeat):
        for case in all_cases:
            times[case.key].append(run(layout, case, case.code)[0])
    return report(times, by_key, args, with_stevedore, checked)


def report(
    times: dict[str, list[float]],
    by_key: dict[str, Case],
    args: argparse.Namespace,
    with_stevedore: bool,
    checked: list[str],
) -> int:
    bare = times["bare"]

    def over(key: str) -> list[float]:
        return [(t - b) * 1e3 for t, b in zip(times[key], bare, strict=True)]

    def ratio(key: str, base: str) -> float:
        return statistics.median(
            (t - b) / (s - b) for t, s, b in zip(times[key], times[base], bare, strict=True)
        )

    def whole(key: str, base: str) -> float:
        return statistics.median(t / s for t, s in zip(times[key], times[base], strict=True))

    print()
    print(f"{'fresh process (median of ' + str(args.repeat) + ')':<44}{'ms':>8}{'over bare':>11}")
    for key, case in by_key.items():
        ms = statistics.median(times[key]) * 1e3
        extra = "" if key == "bare" else f"{statistics.median(over(key)):>8.1f} ms"
        print(f"{case.label:<44}{ms:>8.1f}{extra:>11}")
    if not with_stevedore:
        print(f"{'stevedore ExtensionManager':<44}  not installed (pip install -e '.[bench]')")
    print("* imports every plugin: run on the variant whose plugin modules are trivial classes")

    warm_ms = statistics.median(over("jaf_warm"))
    import_ms = statistics.median(over("import"))
    manager_ms = statistics.median(over("import_manager"))
    warm_stdlib = ratio("jaf_warm", "stdlib")
    cold_stdlib = ratio("jaf_cold", "stdlib")
    targets = [
        ("warm listing over bare", warm_ms, "ms", "<=", TARGET_WARM_MS),
        ("warm / stdlib (over bare)", warm_stdlib, "x", "<=", TARGET_WARM_STDLIB),
        ("cold / stdlib (over bare)", cold_stdlib, "x", "<=", TARGET_COLD_STDLIB),
        ("import jaf_plugins over bare", import_ms, "ms", "<=", TARGET_IMPORT_MS),
    ]
    info = [
        ("from jaf_plugins import PluginManager over bare", manager_ms, "ms"),
        ("warm / stdlib (whole process)", whole("jaf_warm", "stdlib"), "x"),
        ("cold / stdlib (whole process)", whole("jaf_cold", "stdlib"), "x"),
        ("cold / stdlib names only (over bare)", ratio("jaf_cold", "stdlib_names"), "x"),
        ("pluggy / stdlib (over bare)", ratio("pluggy", "stdlib"), "x"),
    ]
    if with_stevedore:
        info += [
            ("stevedore cold / stdlib (over bare)", ratio("stevedore_cold", "stdlib"), "x"),
            ("stevedore warm / stdlib (over bare)", ratio("stevedore_warm", "stdlib"), "x"),
            ("jaf warm / stevedore warm (over bare)", ratio("jaf_warm", "stevedore_warm"), "x"),
        ]
    print()
    metrics = []
    for label, value, unit, op, limit in targets:
        met = value <= limit
        shown = f"{value:.1f} ms" if unit == "ms" else f"{value:.3f}x"
        print(f"{label:<48}{shown:>11}  target {op} {limit:g}{unit}: {'met' if met else 'MISSED'}")
        metrics.append(metric(label, value, unit, f"{op} {limit:g}{unit}", met))
    for label, value, unit in info:
        shown = f"{value:.1f} ms" if unit == "ms" else f"{value:.3f}x"
        print(f"{label:<48}{shown:>11}  (info)")
        metrics.append(metric(label, value, unit, None, None))
    print()
    print(f"checked (entries found): {', '.join(checked)}")
    print(
        f"every listing returned exactly the {args.plugins} generated plugins "
        "(and the interpreter's own), and imported none of them: ok"
    )
    print_result("startup", None, metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
