"""Hot reload against real files: edit a plugin, reload it, and see only the new behaviour."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import pytest

from jaf_plugins import (
    Plugin,
    PluginContext,
    PluginManager,
    PluginStatus,
    ReloadError,
    hookimpl,
)

if TYPE_CHECKING:
    from conftest import Site

ECHO = """
    import json, pathlib
    from jaf_plugins import Plugin, Tool

    JOURNAL = pathlib.Path({journal!r})
    VERSION = {version!r}

    def note(*words):
        with JOURNAL.open("a") as f:
            f.write(json.dumps(list(words)) + "\\n")

    class EchoPlugin(Plugin):
        def __init__(self):
            super().__init__()
            self.metadata.name = "echo"
            self.metadata.version = {semver!r}
            self.serving = False

        async def initialize(self, context):
            note("initialize", VERSION)
            context.add_cleanup(lambda: note("cleanup", VERSION))
            return {init_result}

        async def activate(self):
            self.serving = True
            return True

        async def deactivate(self):
            self.serving = False
            note("deactivate", VERSION)
            return True

        def get_tools(self):
            @Tool(name="echo", description="Which version answers")
            async def echo(text: str) -> str:
                import anyio
                answer = VERSION if self.serving else "not serving"
                await anyio.sleep(0.002)
                # A call that started on this instance must finish on a live instance.
                return f"{{answer}}:{{text}}" if self.serving else f"dead:{{text}}"
            return [echo]
"""


class Folder:
    """A plugin folder with an ``echo.py`` whose version we rewrite, and a journal file the
    plugin appends its lifecycle steps to (it survives module purges)."""

    def __init__(self, root: Path) -> None:
        self.path = root / "plugins"
        self.path.mkdir()
        self.journal_path = root / "journal.jsonl"
        self.journal_path.touch()

    def write_echo(self, version: str, *, semver: str = "1.0.0", init_result: str = "True") -> None:
        self.write(
            "echo.py",
            ECHO.format(
                journal=str(self.journal_path),
                version=version,
                semver=semver,
                init_result=init_result,
            ),
        )

    def write(self, relative: str, source: str) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
        return path

    def journal(self) -> list[list[str]]:
        return [json.loads(line) for line in self.journal_path.read_text().splitlines()]


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path)


async def answer(pm: PluginManager, text: str = "hi") -> str:
    tool = pm.get_tool("echo")
    assert tool is not None, "no echo tool"
    return str(await tool(text))


@pytest.fixture
async def running(folder: Folder) -> AsyncIterator[PluginManager]:
    folder.write_echo("v1")
    pm = PluginManager(enable_hot_reload=True)
    await pm.load_plugins_from_directory(folder.path)
    async with pm:
        assert await answer(pm) == "v1:hi"
        yield pm


# -- reload_plugin ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_reload_runs_the_new_code_and_retires_the_old_instance(
    running: PluginManager, folder: Folder
) -> None:
    old = running.get_plugin("echo")
    folder.write_echo("v2")

    new = await running.reload_plugin("echo")

    assert await answer(running) == "v2:hi"
    assert new is running.get_plugin("echo") and new is not old
    assert running.get_status("echo") is PluginStatus.ACTIVE
    assert old is not None and old.status is PluginStatus.INACTIVE
    # The new instance started before the old one stopped: no moment without an echo tool.
    assert folder.journal() == [
        ["initialize", "v1"],
        ["initialize", "v2"],
        ["deactivate", "v1"],
        ["cleanup", "v1"],
    ]


@pytest.mark.anyio
async def test_an_edit_within_the_same_second_and_size_is_still_seen(
    running: PluginManager, folder: Folder
) -> None:
    """Same length, same mtime second: a stale ``.pyc`` must not be used."""
    for version in ("v2", "v3", "v4"):
        folder.write_echo(version)
        await running.reload_plugin("echo")
        assert await answer(running) == f"{version}:hi"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ("syntax", "SyntaxError"),
        ("init-false", "initialize returned False"),
        ("init-raises", "initialize raised RuntimeError: no database"),
        ("bad-version", "is not a PEP 440 version"),
    ],
)
async def test_a_failed_reload_leaves_the_old_version_answering(
    running: PluginManager, folder: Folder, edit: str, says: str
) -> None:
    if edit == "syntax":
        folder.write("echo.py", folder.path.joinpath("echo.py").read_text() + "\ndef broken(:\n")
    elif edit == "init-false":
        folder.write_echo("v2", init_result="False")
    elif edit == "init-raises":
        folder.write_echo("v2", init_result="(_ for _ in ()).throw(RuntimeError('no database'))")
    else:
        folder.write_echo("v2", semver="two")

    with pytest.raises(ReloadError) as caught:
        await running.reload_plugin("echo")

    assert says in str(caught.value)
    assert str(caught.value).startswith("plugin 'echo'")
    assert await answer(running) == "v1:hi"
    assert running.get_status("echo") is PluginStatus.ACTIVE
    assert running.get_error("echo") is None
    if edit.startswith("init"):  # what the half-built instance set up was released
        assert folder.journal()[-1] == ["cleanup", "v2"]
    # A good edit afterwards reloads normally.
    folder.write_echo("v3")
    await running.reload_plugin("echo")
    assert await answer(running) == "v3:hi"


@pytest.mark.anyio
async def test_an_installed_entry_point_plugin_is_imported_again(site: Site) -> None:
    """The entry point's whole package is re-imported, helpers included, and nothing of the
    old module (its tools) stays in the registry."""
    package = site.package(
        "stamps",
        {
            "__init__.py": """
                from jaf_plugins import Tool, ToolPlugin
                from .ink import COLOUR

                @Tool(name="stamp", description="Stamp a text")
                def stamp(text: str) -> str:
                    return f"{COLOUR}:{text}"

                class StampPlugin(ToolPlugin):
                    tools = [stamp]
            """,
            "ink.py": 'COLOUR = "red"\n',
        },
    )
    site.distribution("jaf-test-stamps", "1.0.0", {"stamps": f"{package}:StampPlugin"})
    async with PluginManager(autoload=True, load=["stamps"]) as pm:
        old_tool = pm.get_tool("stamp")
        assert old_tool is not None and old_tool("x") == "red:x"
        (site.root / package / "ink.py").write_text('COLOUR = "blue"\n')

        await pm.reload_plugin("stamps")

        new_tool = pm.get_tool("stamp")
        assert new_tool is not None and new_tool("x") == "blue:x"
        assert [t for t in pm.list_tools() if t is old_tool] == []
        assert pm.get_info("stamps").distribution == "jaf-test-stamps"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_helper_modules_of_a_plugin_package_are_imported_again(folder: Folder) -> None:
    folder.write(
        "shouter/__init__.py",
        """
        from jaf_plugins import Tool, ToolPlugin
        from .helpers import shout

        class ShouterPlugin(ToolPlugin):
            def get_tools(self):
                return [Tool(shout, name="shout", description="Shout")]
        """,
    )
    folder.write("shouter/helpers.py", "def shout(text: str) -> str:\n    return text.upper()\n")
    pm = PluginManager()
    await pm.load_plugins_from_directory(folder.path)
    async with pm:
        assert pm.get_tool("shout")("hi") == "HI"  # type: ignore[misc]
        folder.write(
            "shouter/helpers.py", "def shout(text: str) -> str:\n    return text.upper() + '!'\n"
        )
        await pm.reload_plugin("shouter_plugin")
        tool = pm.get_tool("shout")
        assert tool is not None and tool("hi") == "HI!"


@pytest.mark.anyio
async def test_dependents_are_rebound_in_order_and_unrelated_plugins_keep_running(
    folder: Folder,
) -> None:
    folder.write(
        "base.py",
        """
        from jaf_plugins import Plugin
        GENERATION = 1

        class BasePlugin(Plugin):
            def __init__(self):
                super().__init__()
                self.metadata.name = "base"
                self.metadata.version = "1.0"
                self.generation = GENERATION
        """,
    )
    started: list[str] = []

    class User(Plugin):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.metadata.name = name
            self.metadata.dependencies = ["base>=1.0"] if name != "bystander" else []
            self.base: Any = None

        async def initialize(self, context: PluginContext) -> bool:
            started.append(self.metadata.name)
            if self.metadata.name != "bystander":
                self.base = context.get_dependency("base")
            return True

    pm = PluginManager()
    await pm.load_plugins_from_directory(folder.path)
    for name in ("user", "bystander"):
        await pm.load_plugin(name, User(name))
    async with pm:
        user = pm.get_plugin("user")
        assert isinstance(user, User) and user.base.generation == 1
        folder.write("base.py", folder.path.joinpath("base.py").read_text().replace("= 1", "= 2"))
        started.clear()

        new_base = await pm.reload_plugin("base")

        assert started == ["user"]  # bystander was not restarted
        assert user.base is new_base and user.base.generation == 2
        assert pm.activation_order.index("base") < pm.activation_order.index("user")

        # A new version that breaks a dependent's constraint is refused.
        folder.write(
            "base.py", folder.path.joinpath("base.py").read_text().replace('"1.0"', '"0.9"')
        )
        with pytest.raises(
            ReloadError, match=r"does not satisfy 'user', which requires base>=1\.0"
        ):
            await pm.reload_plugin("base")
        assert pm.get_plugin("base") is new_base


@pytest.mark.anyio
async def test_settings_are_validated_before_anything_is_torn_down(
    folder: Folder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    folder.write(
        "greeter.py",
        """
        import pydantic
        from jaf_plugins import Plugin, Tool

        class Settings(pydantic.BaseModel):
            greeting: str = "hello"
            repeat: int = 1

        class GreeterPlugin(Plugin):
            settings_model = Settings

            async def initialize(self, context):
                self.settings = context.settings
                return True

            def get_tools(self):
                @Tool(name="greet", description="Greet")
                def greet(name: str) -> str:
                    return " ".join([f"{self.settings.greeting} {name}"] * self.settings.repeat)
                return [greet]
        """,
    )
    pm = PluginManager()
    await pm.load_plugins_from_directory(folder.path)
    async with pm:
        assert pm.get_tool("greet")("ada") == "hello ada"  # type: ignore[misc]

        (tmp_path / "jaf-plugins.toml").write_text('[plugins.greeter_plugin]\ngreeting = "hi"\n')
        await pm.reload_plugin("greeter_plugin")
        assert pm.get_tool("greet")("ada") == "hi ada"  # type: ignore[misc]

        monkeypatch.setenv("JAF_PLUGINS__GREETER_PLUGIN__REPEAT", "many")
        with pytest.raises(ReloadError, match="JAF_PLUGINS__GREETER_PLUGIN__REPEAT"):
            await pm.reload_plugin("greeter_plugin")
        assert pm.get_tool("greet")("ada") == "hi ada"  # type: ignore[misc]


@pytest.mark.anyio
async def test_reloads_are_announced_by_hooks_and_events(
    running: PluginManager, folder: Folder
) -> None:
    heard: list[tuple[str, Any]] = []

    class Listener(Plugin):
        @hookimpl
        def on_plugin_reloaded(self, name: str, plugin: Plugin) -> None:
            heard.append(("hook reloaded", name))

        @hookimpl
        def on_plugin_reload_failed(self, name: str, reason: str) -> None:
            heard.append(("hook failed", name))

        async def activate(self) -> bool:
            self.register_event_handler("plugin.*", lambda e: heard.append((e.name, e.data)))
            return True

    await running.load_plugin("listener", Listener())
    await running.activate_plugin("listener")
    folder.write_echo("v2")
    await running.reload_plugin("echo")
    folder.write_echo("v3", init_result="False")
    with pytest.raises(ReloadError):
        await running.reload_plugin("echo")

    assert [entry[0] for entry in heard] == [
        "hook reloaded",
        "plugin.reloaded",
        "hook failed",
        "plugin.reload_failed",
    ]
    assert heard[1][1] == {"plugin": "echo"}
    assert "initialize returned False" in heard[3][1]["reason"]


@pytest.mark.anyio
async def test_a_plugin_given_as_an_instance_is_restarted_in_place() -> None:
    starts: list[int] = []

    class Counter(Plugin):
        async def initialize(self, context: PluginContext) -> bool:
            starts.append(1)
            return True

    plugin = Counter()
    async with PluginManager() as pm:
        await pm.load_plugin("counter", plugin)
        await pm.activate_plugin("counter")
        assert await pm.reload_plugin("counter") is plugin
        assert len(starts) == 2
        assert pm.get_status("counter") is PluginStatus.ACTIVE


@pytest.mark.anyio
async def test_a_plugin_that_failed_to_import_loads_once_its_file_is_fixed(folder: Folder) -> None:
    folder.write("echo.py", "def broken(:\n")
    pm = PluginManager()
    await pm.load_plugins_from_directory(folder.path)
    async with pm:
        assert pm.get_status("echo") is PluginStatus.FAILED
        folder.write_echo("v2")
        await pm.reload_plugin("echo")
        assert pm.get_status("echo") is PluginStatus.ACTIVE
        assert await answer(pm) == "v2:hi"


@pytest.mark.anyio
async def test_reload_all_plugins_reports_each_outcome(
    running: PluginManager, folder: Folder
) -> None:
    folder.write(
        "other.py", "from jaf_plugins import Plugin\nclass OtherPlugin(Plugin):\n    pass\n"
    )
    await running.load_plugins_from_directory(folder.path)
    await running.activate_plugin("other_plugin")
    folder.write_echo("v2", init_result="False")

    results = await running.reload_all_plugins()

    assert results["other_plugin"] is None
    assert "initialize returned False" in (results["echo"] or "")
    assert await answer(running) == "v1:hi"


@pytest.mark.anyio
async def test_unknown_and_builtin_plugins_are_clear_errors(running: PluginManager) -> None:
    with pytest.raises(LookupError, match="no plugin named 'nope'"):
        await running.reload_plugin("nope")
    with pytest.raises(ReloadError, match="built-in plugins cannot be reloaded"):
        await running.reload_plugin("core")


# -- no call is lost --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_calls_during_repeated_reloads_all_succeed_on_a_whole_version(
    running: PluginManager, folder: Folder
) -> None:
    """Callers hammer the tool while it is reloaded ten times: every call is answered, by
    the old or the new version, never by a half-built or deactivated instance."""
    answers: list[str] = []
    failures: list[BaseException] = []
    done = anyio.Event()

    async def caller(index: int) -> None:
        while not done.is_set():
            try:
                answers.append(await answer(running, str(index)))
            except Exception as exc:  # any failure is what this test exists to catch
                failures.append(exc)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for index in range(8):
            tg.start_soon(caller, index)
        for generation in range(2, 12):
            folder.write_echo(f"v{generation}")
            await running.reload_plugin("echo")
            await anyio.sleep(0.01)
        done.set()

    assert failures == []
    versions = {text.split(":")[0] for text in answers}
    assert versions <= {f"v{n}" for n in range(1, 12)}, versions
    assert "v11" in versions and len(answers) > 100


# -- the file watcher -------------------------------------------------------------------------


async def eventually(check: Callable[[], Any]) -> None:
    """Poll ``check`` until it is true; the watcher gives no signal a test could wait on."""
    with anyio.fail_after(10):
        while True:
            try:
                if await check():
                    return
            except Exception:
                pass
            await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_the_file_watcher_reloads_loads_and_unloads(
    running: PluginManager, folder: Folder
) -> None:
    running.start_file_watcher(folder.path)
    await anyio.sleep(0.2)  # let the watcher start

    folder.write_echo("v2")

    async def new_version_answers() -> bool:
        return await answer(running) == "v2:hi"

    await eventually(new_version_answers)

    folder.write("echo.py", folder.path.joinpath("echo.py").read_text() + "\ndef broken(:\n")
    failed = anyio.Event()

    class Watcher(Plugin):
        async def activate(self) -> bool:
            self.register_event_handler("plugin.reload_failed", lambda e: failed.set())
            return True

    await running.load_plugin("watcher", Watcher())
    await running.activate_plugin("watcher")
    folder.write("echo.py", folder.path.joinpath("echo.py").read_text() + "\n# touch\n")
    with anyio.fail_after(10):
        await failed.wait()
    assert await answer(running) == "v2:hi"

    folder.write(
        "newcomer.py", "from jaf_plugins import Plugin\nclass NewcomerPlugin(Plugin):\n    pass\n"
    )

    async def newcomer_active() -> bool:
        return running.get_status("newcomer_plugin") is PluginStatus.ACTIVE

    await eventually(newcomer_active)

    folder.path.joinpath("newcomer.py").unlink()

    async def newcomer_gone() -> bool:
        return running.get_status("newcomer_plugin") is None

    await eventually(newcomer_gone)


STAGED_EDIT = [("pkg/a.py", 'X = "a2"\n'), ("pkg/b.py", 'Y = "b2"\n')]


@pytest.mark.anyio
async def test_several_files_of_one_plugin_changed_together_reload_it_once(folder: Folder) -> None:
    folder.write(
        "pkg/__init__.py",
        """
        import pathlib
        from jaf_plugins import Plugin
        from . import a, b

        class PkgPlugin(Plugin):
            async def initialize(self, context):
                with pathlib.Path(__file__).parent.parent.parent.joinpath("starts").open("a") as f:
                    f.write(a.X + b.Y + "\\n")
                return True
        """,
    )
    folder.write("pkg/a.py", 'X = "a1"\n')
    folder.write("pkg/b.py", 'Y = "b1"\n')
    starts = folder.path.parent / "starts"
    pm = PluginManager(enable_hot_reload=True)
    await pm.load_plugins_from_directory(folder.path)
    async with pm:
        pm.start_file_watcher(folder.path)
        await anyio.sleep(0.2)
        # One edit touching two files, as a save-all or a git checkout does: both land within
        # microseconds, however loaded the machine is.
        staged = [folder.write(f"{name}.new", text) for name, text in STAGED_EDIT]
        for path in staged:
            os.replace(path, path.with_suffix(""))

        async def reloaded() -> bool:
            return starts.read_text().splitlines()[-1] == "a2b2"

        await eventually(reloaded)
        await anyio.sleep(0.3)  # a second reload would land here
        assert starts.read_text().splitlines() == ["a1b1", "a2b2"]


def test_the_file_watcher_needs_hot_reload_enabled(tmp_path: Path) -> None:
    with pytest.raises(ReloadError, match=r"PluginManager\(enable_hot_reload=True\)"):
        PluginManager().start_file_watcher(tmp_path)


@pytest.mark.anyio
async def test_the_watcher_stops_when_the_manager_exits(folder: Folder) -> None:
    folder.write_echo("v1")
    pm = PluginManager(enable_hot_reload=True)
    await pm.load_plugins_from_directory(folder.path)
    async with pm:
        pm.start_file_watcher(folder.path)
        await anyio.sleep(0.3)
    steps_at_exit = folder.journal()
    folder.write_echo("v2")
    await anyio.sleep(0.5)  # a running watcher would have reloaded by now
    assert folder.journal() == steps_at_exit
    assert pm.get_status("echo") is PluginStatus.INACTIVE
