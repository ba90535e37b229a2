"""The ``jaf-plugins`` command's host: its options, the manager they build, loading with or
without importing, starting with progress, tracing, logging and one-line errors.

Nothing here imports rich at module level: the command imports it only to draw.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import click

from ._errors import JafPluginsError
from ._manager import PluginManager
from ._plugin import PluginStatus

TRACE_ENV = "JAF_PLUGINS_TRACE"
SETTLED = frozenset({PluginStatus.ACTIVE, PluginStatus.FAILED, PluginStatus.SKIPPED})


@dataclass
class Options:
    """The group's options: what every command builds its manager from."""

    load: str | None = None
    block: str | None = None
    autoload: bool | None = None
    plugins_dirs: tuple[Path, ...] = ()
    settings_file: str | None = None
    env_file: str | None = None
    verbose: bool = False
    trace: bool = False
    quiet: bool = False
    _cleanups: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def manager(self) -> PluginManager:
        """A manager as these options describe it; arguments left ``None`` come from the
        ``JAF_PLUGINS_*`` environment, ``.env`` and the settings file, as in the library."""
        return PluginManager(
            load=self.load,
            block=self.block,
            autoload=self.autoload,
            settings_file=self.settings_file,
            env_file=self.env_file,
        )


# -- loading and starting ---------------------------------------------------------------------


async def load_everything(pm: PluginManager, options: Options) -> None:
    """Import every allowed plugin (directories first, then entry points) without starting
    any: what ``async with PluginManager()`` does before activation."""
    for directory in options.plugins_dirs:
        await pm.load_plugins_from_directory(directory)
    if pm.settings.autoload:
        await pm.discover()


@contextlib.asynccontextmanager
async def running_host(options: Options) -> AsyncIterator[PluginManager]:
    """Load and start every plugin (with a progress display), yield, then stop them all."""
    pm = options.manager()
    try:
        await load_everything(pm, options)
        await start_with_progress(pm, options)
        yield pm
    finally:
        await pm.deactivate_all()


async def start_with_progress(pm: PluginManager, options: Options) -> None:
    """``pm.activate_all()``, showing each plugin as it settles: a progress bar on a
    terminal, one plain line per plugin otherwise (both on stderr)."""
    from ._lifecycle import is_startable

    records = pm._registry.records
    names = [name for name, rec in records.items() if is_startable(rec)]
    if options.quiet or not names:
        await pm.activate_all()
        return
    report = _progress_reporter(len(names), options)
    seen: set[str] = set()
    started = time.perf_counter()

    def sweep() -> None:
        now = time.perf_counter() - started
        settled = [
            name
            for name in names
            if name not in seen and (rec := records.get(name)) is not None and rec.status in SETTLED
        ]
        order = {name: i for i, name in enumerate(pm._lifecycle.activation_order)}
        for name in sorted(settled, key=lambda n: order.get(n, len(order))):
            seen.add(name)
            report.settled(name, records[name].status, now)

    with report:
        async with anyio.create_task_group() as tg:

            async def poll() -> None:
                while True:
                    await anyio.sleep(0.02)
                    sweep()

            tg.start_soon(poll)
            try:
                await pm.activate_all()
            finally:
                tg.cancel_scope.cancel()
        sweep()


class _Reporter:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def __enter__(self) -> _Reporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def settled(self, name: str, status: PluginStatus, seconds: float) -> None:
        self.done += 1


class _PlainReporter(_Reporter):
    """Not a terminal: one line per plugin, so logs and CI output stay readable."""

    def __enter__(self) -> _Reporter:
        click.echo(f"starting {self.total} plugin{'s' if self.total != 1 else ''}", err=True)
        return self

    def settled(self, name: str, status: PluginStatus, seconds: float) -> None:
        super().settled(name, status, seconds)
        width = len(str(self.total))
        click.echo(
            f"  [{self.done:>{width}}/{self.total}] {name}: {status.value} ({seconds:.2f}s)",
            err=True,
        )


class _RichReporter(_Reporter):
    """A terminal: a transient progress bar naming the last plugin that settled."""

    def __enter__(self) -> _Reporter:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("starting plugins"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.__enter__()
        self._task = self._progress.add_task("", total=self.total)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.__exit__(None, None, None)
        if self.total:
            click.echo(f"started {self.done} of {self.total} plugins", err=True)

    def settled(self, name: str, status: PluginStatus, seconds: float) -> None:
        super().settled(name, status, seconds)
        self._progress.update(self._task, completed=self.done, description=f"{name}: {status}")


def _progress_reporter(total: int, options: Options) -> _Reporter:
    # The tracer and --verbose logs write to stderr too: a live bar would garble them.
    if _is_terminal(sys.stderr) and not (options.trace or options.verbose):
        return _RichReporter(total)
    return _PlainReporter(total)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- tracing --------------------------------------------------------------------------------


def install_tracer(options: Options) -> None:
    """``--trace`` / ``JAF_PLUGINS_TRACE=1``: every hook call, its plugin, arguments and
    duration, on stderr."""
    from ._calling import set_tracer

    set_tracer(_trace_line)
    options._cleanups.append(lambda: set_tracer(None))


def _trace_line(
    plugin: str,
    hook: str,
    kwargs: Mapping[str, Any],
    seconds: float,
    error: BaseException | None,
) -> None:
    arguments = ", ".join(f"{key}={short_repr(value)}" for key, value in kwargs.items())
    outcome = f" raised {type(error).__name__}: {error}" if error is not None else ""
    click.echo(f"trace {plugin}.{hook}({arguments}) {seconds * 1000:.3f} ms{outcome}", err=True)


def short_repr(value: Any, limit: int = 80) -> str:
    from ._context import PluginContext

    text = f"<PluginContext {value.name!r}>" if isinstance(value, PluginContext) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- logging ----------------------------------------------------------------------------------


class _Stderr:
    """Resolves ``sys.stderr`` at each write, so a progress display or a test runner that
    swaps it still gets the lines."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _OneLineFormatter(logging.Formatter):
    """``log LEVEL logger: message``; an exception adds ``: Type: message`` rather than a
    traceback, unless verbose."""

    def __init__(self, verbose: bool) -> None:
        super().__init__("log %(levelname)s %(name)s: %(message)s")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if self.verbose or not record.exc_info:
            return super().format(record)
        exc = record.exc_info[1]
        plain = logging.makeLogRecord({**vars(record), "exc_info": None, "exc_text": None})
        return f"{super().format(plain)}: {type(exc).__name__}: {exc}"


def install_logging(options: Options) -> None:
    """Plugins' warnings and errors on stderr, one line each. The host's own error records
    (logger ``jaf.plugins``) are left out unless verbose: every command reports those
    itself, with their fix."""
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(_OneLineFormatter(options.verbose))
    if not options.verbose:
        handler.addFilter(lambda record: record.name != "jaf.plugins")
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO if options.verbose else logging.WARNING)

    def remove() -> None:
        root.removeHandler(handler)
        root.setLevel(previous)

    options._cleanups.append(remove)


# -- errors -----------------------------------------------------------------------------------


def headline(exc: BaseException) -> str:
    """What went wrong, in one line, without the fix."""
    if isinstance(exc, JafPluginsError):
        where = ""
        if exc.plugin is not None:
            where = f"plugin {exc.plugin!r}"
            if exc.distribution:
                where += f" (distribution {exc.distribution!r})"
            where += ": "
        return where + exc.message
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fix_of(exc: BaseException) -> str | None:
    if not isinstance(exc, JafPluginsError):
        return None
    return cli_hint(exc.hint, exc.plugin)


_API_TRACEBACK = re.compile(
    r"its traceback is in pm\.get_traceback\(name\)"
    r"|see the traceback \(manager\.get_traceback\(name\), or jaf-plugins info NAME --verbose\)"
)


def cli_hint(hint: str | None, plugin: str | None) -> str | None:
    """A fix as a command-line user applies it: the library's hints point at
    ``pm.get_traceback(name)``, here the traceback is one ``--verbose`` away."""
    if hint is None:
        return None
    command = f"jaf-plugins info {plugin or 'NAME'} --verbose"
    return _API_TRACEBACK.sub(f"see its traceback: {command}", hint)


def unwrap(exc: BaseException) -> BaseException:
    """The one error inside (nested) exception groups of one, as task groups raise them."""
    while True:
        inner = getattr(exc, "exceptions", None)  # BaseExceptionGroup (or its backport)
        if not isinstance(inner, tuple) or len(inner) != 1:
            return exc
        exc = inner[0]


class CommandFailed(click.ClickException):
    """An error reported as ``error: ...`` and ``  fix: ...`` lines; the traceback only
    with ``--verbose``."""

    def __init__(self, error: BaseException, *, verbose: bool) -> None:
        self.error = unwrap(error)
        self.verbose = verbose
        super().__init__(headline(self.error))

    def show(self, file: IO[Any] | None = None) -> None:
        echo = click.echo
        if self.verbose:
            echo("".join(traceback.format_exception(self.error)).rstrip(), err=True)
        echo(f"error: {self.message}", err=True)
        fix = fix_of(self.error)
        if fix:
            echo(f"  fix: {fix}", err=True)
        elif not self.verbose:
            echo("  (run with --verbose for the traceback)", err=True)
