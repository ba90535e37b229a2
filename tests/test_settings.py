"""Namespaced settings from real sources: arguments, environment variables, a ``.env`` file and
a TOML file, in that priority, with errors that name the plugin, the field and the source."""

from __future__ import annotations

import json
import logging
import os
import textwrap
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaf_plugins import (
    Plugin,
    PluginContext,
    PluginManager,
    PluginStatus,
    SettingsError,
)
from jaf_plugins._settings import SettingsFiles, load_plugin_settings


class MailSettings(pydantic.BaseModel):
    host: str = "localhost"
    port: int = 25
    sender: str = "noreply@example.com"
    tls: bool = False
    username: str
    password: pydantic.SecretStr


class MailPlugin(Plugin):
    settings_model = MailSettings

    def __init__(self) -> None:
        super().__init__()
        self.metadata.name = "mail"
        self.seen: PluginContext | None = None

    async def initialize(self, context: PluginContext) -> bool:
        self.seen = context
        return True


class PlainPlugin(Plugin):
    """Declares no settings model: it gets the raw values of its namespace."""

    def __init__(self, name: str = "plain") -> None:
        super().__init__()
        self.metadata.name = name
        self.seen: PluginContext | None = None

    async def initialize(self, context: PluginContext) -> bool:
        self.seen = context
        return True


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: where the host looks for ``.env`` and TOML files."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


async def start(pm: PluginManager, *plugins: Plugin) -> PluginManager:
    for plugin in plugins:
        await pm.load_plugin(plugin.metadata.name, plugin)
    await pm.activate_all()
    return pm


def settings_of(plugin: MailPlugin | PlainPlugin) -> Any:
    assert plugin.seen is not None, "initialize never ran"
    return plugin.seen.settings


# -- where values come from -------------------------------------------------------------------


@pytest.mark.anyio
async def test_each_source_in_priority_order(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """arguments > environment > .env > TOML > defaults: each field below is set by every
    source down to the one that should win it."""
    write(
        workdir / "jaf-plugins.toml",
        """
        [plugins.mail]
        host = "toml.example"
        port = 2525
        sender = "toml@example.com"
        username = "toml-user"
        password = "toml-secret"
        """,
    )
    write(
        workdir / ".env",
        """
        JAF_PLUGINS__MAIL__PORT=2526
        JAF_PLUGINS__MAIL__USERNAME=dotenv-user
        JAF_PLUGINS__MAIL__PASSWORD=dotenv-secret
        """,
    )
    monkeypatch.setenv("JAF_PLUGINS__MAIL__USERNAME", "env-user")
    monkeypatch.setenv("JAF_PLUGINS__MAIL__PASSWORD", "env-secret")
    plugin = MailPlugin()

    async with await start(
        PluginManager(config={"mail": {"password": "argument-secret"}}), plugin
    ) as pm:
        assert pm.get_status("mail") is PluginStatus.ACTIVE
        settings = settings_of(plugin)
        assert isinstance(settings, MailSettings)
        assert settings.password.get_secret_value() == "argument-secret"
        assert settings.username == "env-user"
        assert settings.port == 2526  # from .env, converted to int
        assert settings.host == "toml.example"
        assert settings.sender == "toml@example.com"
        assert settings.tls is False  # default


@pytest.mark.anyio
async def test_pyproject_table_is_read_when_there_is_no_jaf_plugins_toml(workdir: Path) -> None:
    write(
        workdir / "pyproject.toml",
        """
        [project]
        name = "my-agent"

        [tool.jaf-plugins.plugins.mail]
        username = "pyproject-user"
        password = "s3cret"
        port = 587
        """,
    )
    plugin = MailPlugin()
    async with await start(PluginManager(), plugin):
        assert (settings_of(plugin).username, settings_of(plugin).port) == ("pyproject-user", 587)


@pytest.mark.anyio
async def test_jaf_plugins_toml_wins_over_pyproject(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[tool.jaf-plugins.plugins.plain]\nfrom_file = "pyproject"\n')
    write(workdir / "jaf-plugins.toml", '[plugins.plain]\nfrom_file = "jaf-plugins.toml"\n')
    plugin = PlainPlugin()
    async with await start(PluginManager(), plugin):
        assert plugin.seen is not None
        assert dict(plugin.seen.config) == {"from_file": "jaf-plugins.toml"}


@pytest.mark.anyio
@pytest.mark.parametrize("via", ["argument", "environment"])
async def test_settings_and_env_files_can_be_named(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    conf = workdir / "conf"
    conf.mkdir()
    toml = write(conf / "agents.toml", '[plugins.mail]\nusername = "named-toml"\n')
    env = write(conf / "secrets.env", "JAF_PLUGINS__MAIL__PASSWORD=from-named-env\n")
    if via == "argument":
        pm = PluginManager(settings_file=toml, env_file=env)
    else:
        monkeypatch.setenv("JAF_PLUGINS_SETTINGS_FILE", str(toml))
        monkeypatch.setenv("JAF_PLUGINS_ENV_FILE", str(env))
        pm = PluginManager()
    plugin = MailPlugin()
    async with await start(pm, plugin):
        settings = settings_of(plugin)
        assert settings.username == "named-toml"
        assert settings.password.get_secret_value() == "from-named-env"


@pytest.mark.anyio
async def test_plugin_names_that_are_not_identifiers_get_underscored_env_names(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAF_PLUGINS__ACME_MAIL_V2__REGION", "eu")
    plugin = PlainPlugin("acme-mail.v2")
    async with await start(PluginManager(), plugin):
        assert plugin.seen is not None
        assert dict(plugin.seen.config) == {"region": "eu"}


class PoolSettings(pydantic.BaseModel):
    size: int = 5
    recycle: int = 3600


class DatabaseSettings(pydantic.BaseModel):
    dsn: str = "sqlite:///:memory:"
    pool: PoolSettings = PoolSettings()
    replicas: list[str] = []


class DatabasePlugin(PlainPlugin):
    settings_model = DatabaseSettings


@pytest.mark.anyio
async def test_nested_and_complex_fields(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A nested field from the environment (``__`` separates levels) keeps the TOML file's
    other nested fields; a list is JSON in the environment."""
    write(workdir / "jaf-plugins.toml", "[plugins.db.pool]\nsize = 20\nrecycle = 60\n")
    monkeypatch.setenv("JAF_PLUGINS__DB__POOL__SIZE", "50")
    monkeypatch.setenv("JAF_PLUGINS__DB__REPLICAS", json.dumps(["r1", "r2"]))
    plugin = DatabasePlugin("db")
    async with await start(PluginManager(), plugin):
        settings = settings_of(plugin)
        assert settings.pool == PoolSettings(size=50, recycle=60)
        assert settings.replicas == ["r1", "r2"]
        assert plugin.seen is not None
        assert dict(plugin.seen.config.get_namespace("pool")) == {"size": 50, "recycle": 60}


@pytest.mark.anyio
async def test_a_module_plugin_declares_settings_with_a_module_attribute(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    module = types.ModuleType("weather_module")
    exec(
        textwrap.dedent(
            """
            import pydantic
            from jaf_plugins import hookimpl

            class settings_model(pydantic.BaseModel):
                units: str = "metric"

            seen = []

            @hookimpl
            def initialize(context):
                seen.append(context.settings)
            """
        ),
        module.__dict__,
    )
    monkeypatch.setenv("JAF_PLUGINS__WEATHER__UNITS", "imperial")
    async with PluginManager() as pm:
        await pm.load_plugin("weather", module)
        await pm.activate_all()
        assert [s.units for s in module.seen] == ["imperial"]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_invalid_env_value_fails_that_plugin_only_and_names_the_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAF_PLUGINS__MAIL__USERNAME", "ada")
    monkeypatch.setenv("JAF_PLUGINS__MAIL__PASSWORD", "pw")
    monkeypatch.setenv("JAF_PLUGINS__MAIL__PORT", "twenty-five")
    mail, plain = MailPlugin(), PlainPlugin()

    async with await start(PluginManager(), mail, plain) as pm:
        assert pm.get_status("plain") is PluginStatus.ACTIVE
        assert pm.get_status("mail") is PluginStatus.FAILED
        assert mail.seen is None, "initialize must not run with invalid settings"
        assert pm.get_error("mail") == (
            "plugin 'mail': invalid settings: port from environment variable "
            "JAF_PLUGINS__MAIL__PORT: Input should be a valid integer, unable to parse string "
            "as an integer (got 'twenty-five'). Fix: set JAF_PLUGINS__MAIL__PORT to a valid "
            "value, or unset it"
        )


@pytest.mark.anyio
async def test_missing_required_fields_say_how_to_set_them(workdir: Path) -> None:
    async with await start(PluginManager(), MailPlugin()) as pm:
        error = pm.get_error("mail")
    assert error == (
        "plugin 'mail': invalid settings: username is required but not set; password is "
        "required but not set. Fix: set JAF_PLUGINS__MAIL__USERNAME, or 'username' under "
        "[plugins.mail] in jaf-plugins.toml; set JAF_PLUGINS__MAIL__PASSWORD, or 'password' "
        "under [plugins.mail] in jaf-plugins.toml"
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("toml", "port from 'port' in [plugins.mail] of jaf-plugins.toml"),
        ("dotenv", "port from JAF_PLUGINS__MAIL__PORT in .env"),
        ("argument", "port from PluginManager(config={'mail': {'port': ...}})"),
    ],
)
async def test_errors_name_the_file_or_argument_a_bad_value_came_from(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    monkeypatch.setenv("JAF_PLUGINS__MAIL__USERNAME", "ada")
    monkeypatch.setenv("JAF_PLUGINS__MAIL__PASSWORD", "pw")
    config: dict[str, dict[str, Any]] = {}
    if source == "toml":
        write(workdir / "jaf-plugins.toml", '[plugins.mail]\nport = "x"\n')
    elif source == "dotenv":
        write(workdir / ".env", "JAF_PLUGINS__MAIL__PORT=x\n")
    else:
        config = {"mail": {"port": "x"}}
    async with await start(PluginManager(config=config), MailPlugin()) as pm:
        error = pm.get_error("mail") or ""
    assert expected in error
    assert "(got 'x')" in error


@pytest.mark.anyio
async def test_secrets_never_appear_in_logs_reprs_errors_or_listings(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "hunter2-do-not-print"
    monkeypatch.setenv("JAF_PLUGINS__MAIL__USERNAME", "ada")
    monkeypatch.setenv("JAF_PLUGINS__MAIL__PASSWORD", secret)
    good = MailPlugin()
    async with await start(PluginManager(), good) as pm:
        assert good.seen is not None
        shown = [
            repr(good.seen.settings),
            str(good.seen.settings),
            repr(good.seen.config),
            str(dict(good.seen.config)),
            json.dumps([info.to_dict() for info in pm.list_plugins()], default=str),
            repr(pm),
        ]
        assert good.seen.settings.password.get_secret_value() == secret

    class StrictSettings(MailSettings):
        password: pydantic.SecretStr = pydantic.Field(min_length=64)

    class StrictPlugin(MailPlugin):
        settings_model = StrictSettings

    async with await start(PluginManager(), StrictPlugin()) as pm:
        error = pm.get_error("mail") or ""
        shown += [error, pm.get_traceback("mail") or ""]
        assert "password from environment variable JAF_PLUGINS__MAIL__PASSWORD" in error
    shown.append(caplog.text)
    assert [text for text in shown if secret in text] == []


@pytest.mark.anyio
async def test_a_plugin_cannot_read_another_plugins_namespace(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        workdir / "jaf-plugins.toml",
        """
        [plugins.alpha]
        colour = "red"

        [plugins.beta]
        token = "beta-only"
        """,
    )
    alpha, beta = PlainPlugin("alpha"), PlainPlugin("beta")
    async with await start(PluginManager(config={"beta": {"extra": 1}}), alpha, beta):
        assert alpha.seen is not None and beta.seen is not None
        assert dict(alpha.seen.config) == {"colour": "red"}
        assert dict(beta.seen.config) == {"token": "beta-only", "extra": 1}
        for name in ("beta", "plugin_beta", "plugins"):
            assert dict(alpha.seen.config.get_namespace(name)) == {}
        # The spec's isolation example asks for its own namespace by "plugin_<name>".
        assert alpha.seen.config.get_namespace("plugin_alpha") is alpha.seen.config


def test_broken_toml_is_a_clear_error_at_construction(workdir: Path) -> None:
    write(workdir / "jaf-plugins.toml", "[plugins.mail\nport = 1\n")
    with pytest.raises(SettingsError) as caught:
        PluginManager()
    assert "cannot read settings file 'jaf-plugins.toml'" in str(caught.value)
    assert "line 1" in str(caught.value)


def test_a_named_settings_file_that_does_not_exist_is_an_error(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAF_PLUGINS_SETTINGS_FILE", "nowhere.toml")
    with pytest.raises(SettingsError, match=r"settings file 'nowhere\.toml' does not exist"):
        PluginManager()


# -- the host's own settings ------------------------------------------------------------------


def test_host_settings_come_from_the_same_sources(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workdir / "jaf-plugins.toml", 'block = ["a", "b"]\ntimeout = 5\nevent_timeout = 7\n')
    write(workdir / ".env", "JAF_PLUGINS_TIMEOUT=6\n")
    monkeypatch.delenv("JAF_PLUGINS_AUTOLOAD")
    pm = PluginManager(event_timeout=8)
    assert pm.settings.blocklist == {"a", "b"}
    assert (pm.settings.timeout, pm.settings.event_timeout, pm.settings.autoload) == (6, 8, True)


def test_an_unknown_host_setting_in_the_toml_file_is_an_error(workdir: Path) -> None:
    write(workdir / "jaf-plugins.toml", 'blok = ["a"]\n')
    with pytest.raises(SettingsError) as caught:
        PluginManager()
    assert "blok from 'blok' in jaf-plugins.toml: Extra inputs are not permitted" in str(
        caught.value
    )


@pytest.mark.anyio
async def test_each_plugin_logs_to_its_own_child_logger(workdir: Path) -> None:
    alpha = PlainPlugin("alpha")
    async with await start(PluginManager(), alpha):
        assert alpha.seen is not None
        assert alpha.seen.logger.name == "jaf.plugins.alpha"
        assert alpha.logger.name == "jaf.plugins.alpha"


# -- priority, as a property ------------------------------------------------------------------

SOURCES = ("argument", "environment", "dotenv", "toml")  # highest priority first


class ProbeSettings(pydantic.BaseModel):
    host: str = "localhost"
    sender: str = "noreply@example.com"
    username: str = "anonymous"


@settings(max_examples=40, deadline=None)
@given(
    present=st.dictionaries(
        st.sampled_from(["host", "sender", "username"]),
        st.sets(st.sampled_from(SOURCES)),
    )
)
def test_the_highest_priority_source_that_sets_a_field_wins(
    present: dict[str, set[str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """For any choice of which sources set which fields, each field has the value of the
    highest-priority source that sets it, else its default."""
    folder = tmp_path_factory.mktemp("priority")
    arguments, dotenv, toml, environ = {}, [], [], {}
    for field, sources in present.items():
        if "argument" in sources:
            arguments[field] = f"argument-{field}"
        if "environment" in sources:
            environ[f"JAF_PLUGINS__MAIL__{field.upper()}"] = f"environment-{field}"
        if "dotenv" in sources:
            dotenv.append(f"JAF_PLUGINS__MAIL__{field.upper()}=dotenv-{field}")
        if "toml" in sources:
            toml.append(f'{field} = "toml-{field}"')
    (folder / ".env").write_text("\n".join(dotenv) + "\n")
    (folder / "jaf-plugins.toml").write_text("[plugins.mail]\n" + "\n".join(toml) + "\n")
    saved = {key: os.environ.get(key) for key in environ}
    os.environ.update(environ)
    try:
        files = SettingsFiles.find(folder / ".env", folder / "jaf-plugins.toml")
        model, _ = load_plugin_settings("mail", ProbeSettings, arguments, files)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    defaults = ProbeSettings().model_dump()
    for field in ("host", "sender", "username"):
        winner = next((s for s in SOURCES if s in present.get(field, set())), None)
        expected = f"{winner}-{field}" if winner else defaults[field]
        assert getattr(model, field) == expected, (field, present)
