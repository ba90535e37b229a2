from __future__ import annotations

import inspect

import jaf_plugins
from jaf_plugins import _errors

SPEC_NAMES = {
    "Plugin", "ToolPlugin", "AgentPlugin", "IntegrationPlugin", "PluginMetadata",
    "PluginDependency", "PluginStatus", "PluginContext", "PluginConfig", "PluginManager",
    "PluginEvent", "EventHandler", "Tool", "Agent", "hookspec", "hookimpl", "JafPluginsError",
}  # fmt: skip


def test_all_is_complete_and_importable() -> None:
    assert len(set(jaf_plugins.__all__)) == len(jaf_plugins.__all__)  # order: ruff RUF022
    assert set(jaf_plugins.__all__) >= SPEC_NAMES
    for name in jaf_plugins.__all__:
        assert hasattr(jaf_plugins, name), name
    # Submodules imported on demand (``cli``, the pytest plugin ``testing``) and what pytest's
    # assertion rewriting adds (``@py_builtins``) are not API.
    public = {n for n in vars(jaf_plugins) if n[0] not in "_@"}
    assert public - set(jaf_plugins.__all__) <= {"cli", "testing"}


def test_public_classes_report_the_public_module() -> None:
    for name in jaf_plugins.__all__:
        obj = getattr(jaf_plugins, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "jaf_plugins", name


def test_every_error_is_exported_under_the_root_and_drawn_in_the_tree() -> None:
    errors = [
        obj for obj in vars(_errors).values() if inspect.isclass(obj) and issubclass(obj, Exception)
    ]
    assert len(errors) > 10
    for error in errors:
        assert issubclass(error, jaf_plugins.JafPluginsError)
        assert error.__name__ in jaf_plugins.__all__
        assert error.__name__ in (_errors.__doc__ or ""), f"{error.__name__} missing from tree"


def test_error_message_names_plugin_distribution_and_fix() -> None:
    error = jaf_plugins.PluginLoadError(
        "importing 'x:Y' failed", plugin="x", distribution="jaf-x", hint="install x"
    )
    assert str(error) == "plugin 'x' (distribution 'jaf-x'): importing 'x:Y' failed. Fix: install x"
    assert isinstance(jaf_plugins.ToolValidationError("m"), ValueError)
    assert isinstance(jaf_plugins.PluginTimeoutError("m"), TimeoutError)
    assert isinstance(jaf_plugins.PluginNotFoundError("m"), LookupError)


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert jaf_plugins.__version__ == version("jaf-plugins")
