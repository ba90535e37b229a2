"""Host and per-plugin settings: one source priority, and errors that say where a value came from.

Priority, highest first: constructor arguments > environment variables > ``.env`` > TOML
(``jaf-plugins.toml``, else ``[tool.jaf-plugins]`` in ``pyproject.toml``) > defaults.
pydantic-settings reads the environment and ``.env`` (it knows field names, aliases and JSON
for complex fields); the layers are merged here so that every value keeps its origin, which
is what an error message names.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

import pydantic

from ._errors import SettingsError

ENV_PREFIX = "JAF_PLUGINS_"
SETTINGS_FILE = "jaf-plugins.toml"
PYPROJECT_TABLE = ("tool", "jaf-plugins")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


@functools.lru_cache(maxsize=4096)  # asked at every start of every plugin
def plugin_env_prefix(plugin: str) -> str:
    """``email_plugin`` → ``JAF_PLUGINS__EMAIL_PLUGIN__`` (other characters become ``_``)."""
    return f"{ENV_PREFIX}_{re.sub(r'[^0-9A-Za-z]', '_', plugin).upper()}__"


# -- where values come from ---------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One source's values, and how to name (and change) the source of each key."""

    values: Mapping[str, Any]
    origin: Callable[[str], str]
    fix: Callable[[str], str]


@dataclass
class SettingsFiles:
    """The ``.env`` and TOML files of one manager, read once (``refresh()`` re-reads)."""

    env_file: Path
    settings_file: Path | None = None
    table: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    _variables: tuple[dict[str, str], dict[str, str]] | None = None

    def variables(self) -> tuple[dict[str, str], dict[str, str]]:
        """``JAF_PLUGINS_*`` variables of the environment and of ``.env``, upper-cased.

        Read once per refresh: scanning the whole environment for every plugin made
        starting thousands of plugins spend most of its time here.
        """
        if self._variables is None:
            environ = {k.upper(): v for k, v in os.environ.items() if _ours(k)}
            dotenv = {k.upper(): v for k, v in _read_dotenv(self.env_file).items() if _ours(k)}
            self._variables = (environ, {k: v for k, v in dotenv.items() if v is not None})
        return self._variables

    @classmethod
    def find(
        cls,
        env_file: str | os.PathLike[str] | None,
        settings_file: str | os.PathLike[str] | None,
    ) -> SettingsFiles:
        files = cls(Path(env_file) if env_file else Path(".env"))
        if settings_file:
            files.settings_file = Path(settings_file)
            if not files.settings_file.is_file():
                raise SettingsError(
                    f"settings file {str(files.settings_file)!r} does not exist",
                    hint="correct the settings_file= argument or JAF_PLUGINS_SETTINGS_FILE",
                )
        files.refresh()
        return files

    def refresh(self) -> None:
        """Read the files and the environment again (before plugins start, and on reload)."""
        self.table, self.label, self._variables = {}, "", None
        path = self.settings_file or next(
            (p for p in (Path(SETTINGS_FILE), Path("pyproject.toml")) if p.is_file()), None
        )
        if path is None or not path.is_file():
            return
        document = _parsed_toml(path)
        table: Any = document
        self.label = str(path)
        if path.name == "pyproject.toml":
            for key in PYPROJECT_TABLE:
                table = table.get(key, {}) if isinstance(table, dict) else {}
            self.label = f"[tool.jaf-plugins] of {path}"
        # A copy: plugins get parts of it as their config, and the parsed file is cached.
        self.table = copy.deepcopy(table) if isinstance(table, dict) else {}

    def host_layer(self) -> Layer:
        values = {k: v for k, v in self.table.items() if k != "plugins"}
        return Layer(
            values,
            origin=lambda key: f"{key!r} in {self.label}",
            fix=lambda key: f"correct {key!r} in {self.label}",
        )

    def plugin_values(self, plugin: str) -> dict[str, Any]:
        """The plugin's table of the settings file (``[plugins.<name>]``), or ``{}``."""
        plugins = self.table.get("plugins", {})
        values = plugins.get(plugin, {}) if isinstance(plugins, dict) else {}
        return values if isinstance(values, dict) else {}

    def plugin_layer(self, plugin: str) -> Layer:
        where = f"[plugins.{plugin}] of {self.label}"
        return Layer(
            self.plugin_values(plugin),
            origin=lambda key: f"{key!r} in {where}",
            fix=lambda key: f"correct {key!r} in {where}",
        )


_PARSED: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}


def _parsed_toml(path: Path) -> dict[str, Any]:
    """The TOML document at ``path``, parsed again only when the file changed: parsing is
    most of what reading settings costs at every start and reload."""
    try:
        found = path.stat()
        stamp = (found.st_mtime_ns, found.st_size, found.st_ino)
        where = os.path.abspath(path)
        cached = _PARSED.get(where)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised on 3.10 only
            import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
        document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError included
        raise SettingsError(
            f"cannot read settings file {str(path)!r}: {exc}",
            hint="fix the TOML syntax at the position given",
        ) from None
    _PARSED[where] = (stamp, document)
    return document


def argument_layer(values: Mapping[str, Any], spell: Callable[[str], str]) -> Layer:
    return Layer(values, origin=spell, fix=lambda key: f"pass a valid value in {spell(key)}")


def environment_layers(
    model: type[pydantic.BaseModel], prefix: str, files: SettingsFiles
) -> list[Layer]:
    """The environment and the ``.env`` file, for the fields of ``model``."""
    from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

    env_file = files.env_file
    # The sources only read a class's fields; any pydantic model will do.
    settings_cls = cast("type[BaseSettings]", model)
    options: dict[str, Any] = {
        "env_prefix": prefix,
        "case_sensitive": False,
        "env_nested_delimiter": "__",
    }
    known = _keys(model)
    environ = _only(EnvSettingsSource(settings_cls, **options)(), known)
    dotenv = (
        _only(DotEnvSettingsSource(settings_cls, env_file=env_file, **options)(), known)
        if env_file.is_file()
        else {}
    )
    return [
        Layer(
            environ,
            origin=lambda key: f"environment variable {prefix}{key.upper()}",
            fix=lambda key: f"set {prefix}{key.upper()} to a valid value, or unset it",
        ),
        Layer(
            dotenv,
            origin=lambda key: f"{prefix}{key.upper()} in {env_file}",
            fix=lambda key: f"correct {prefix}{key.upper()} in {env_file}",
        ),
    ]


def _ours(key: str) -> bool:
    return key.upper().startswith(ENV_PREFIX)


def _prefixed(variables: Mapping[str, str], prefix: str) -> dict[str, Any]:
    if not variables:  # no JAF_PLUGINS_* variable at all: the usual case
        return {}
    size = len(prefix)
    return {
        key[size:].lower(): value
        for key, value in variables.items()
        if key.startswith(prefix) and len(key) > size
    }


def _read_dotenv(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # python-dotenv, a dependency of pydantic-settings

    return dict(dotenv_values(path))


def _keys(model: type[pydantic.BaseModel]) -> set[str]:
    keys = set()
    for name, info in model.model_fields.items():
        keys |= {
            name.lower(),
            *(a.lower() for a in (info.alias, info.validation_alias) if isinstance(a, str)),
        }
    return keys


def _only(values: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key.lower() in keys}


# -- merging and validating ---------------------------------------------------------------


def merge(layers: list[Layer]) -> tuple[dict[str, Any], dict[str, Layer]]:
    """Layers highest priority first → merged values, and the layer each top-level key won in.

    Nested tables merge key by key, so a sub-field from the environment keeps the TOML
    file's other sub-fields.
    """
    won: dict[str, Layer] = {}
    for layer in reversed(layers):
        won.update(dict.fromkeys(layer.values, layer))
    return merge_values([layer.values for layer in layers]), won


def merge_values(sources: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Mappings highest priority first → one, nested tables merged key by key."""
    merged: dict[str, Any] = {}
    if not any(sources):  # the usual case for a plugin's settings, at every start
        return merged
    for values in reversed(sources):
        for key, value in values.items():
            merged[key] = _deep_merge(merged.get(key), value)
    return merged


def _deep_merge(lower: Any, higher: Any) -> Any:
    if isinstance(lower, dict) and isinstance(higher, dict):
        return {**lower, **{k: _deep_merge(lower.get(k), v) for k, v in higher.items()}}
    return higher


def validate(
    model: type[ModelT],
    layers: list[Layer],
    *,
    missing: Callable[[str], str],
    what: str = "settings",
) -> tuple[ModelT, dict[str, Any]]:
    """Validate the merged layers with ``model``; a ``SettingsError`` names every bad field,
    where its value came from and what was expected. Secret values are never shown."""
    values, won = merge(layers)
    try:
        return model.model_validate(values), values
    except pydantic.ValidationError as exc:
        problems, fixes = [], []
        secret = _secret_fields(model)
        for error in exc.errors(include_url=False):
            loc = [str(part) for part in error["loc"]]
            key = loc[0] if loc else ""
            dotted = ".".join(loc) or "(settings)"
            layer = won.get(key) or won.get(key.lower())
            if error["type"] == "missing" or layer is None:
                problems.append(f"{dotted} is required but not set")
                fixes.append(missing(key))
                continue
            shown = "" if key in secret else f" (got {error.get('input')!r})"
            problems.append(f"{dotted} from {layer.origin(key)}: {error['msg']}{shown}")
            fixes.append(layer.fix(key))
        raise SettingsError(
            f"invalid {what}: " + "; ".join(problems),
            hint="; ".join(dict.fromkeys(fixes)),
        ) from None


def _secret_fields(model: type[pydantic.BaseModel]) -> set[str]:
    return {name for name, info in model.model_fields.items() if _is_secret(info.annotation)}


def _is_secret(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(
        annotation, (pydantic.SecretStr, pydantic.SecretBytes)
    ):
        return True
    return any(_is_secret(arg) for arg in get_args(annotation))


def masked(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with secrets replaced by pydantic's mask (for anything that is shown)."""
    return {
        key: str(value) if isinstance(value, (pydantic.SecretStr, pydantic.SecretBytes)) else value
        for key, value in values.items()
    }


# -- the host's own settings --------------------------------------------------------------


class HostSettings(pydantic.BaseModel):
    """How the host finds and runs plugins (see the README's settings table)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    load: str | None = None
    block: str = ""
    autoload: bool = True
    timeout: float = pydantic.Field(30.0, gt=0)
    event_timeout: float = pydantic.Field(30.0, gt=0)

    @pydantic.field_validator("load", "block", mode="before")
    @classmethod
    def _join_lists(cls, value: Any) -> Any:
        # A TOML file or an argument gives a list; the environment gives "a,b".
        if isinstance(value, (list, tuple, set, frozenset)):
            return ",".join(str(item) for item in value)
        return value

    @property
    def allowlist(self) -> frozenset[str] | None:
        return None if self.load is None else _names(self.load)

    @property
    def blocklist(self) -> frozenset[str]:
        return _names(self.block)


def _names(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def load_host_settings(files: SettingsFiles, **arguments: Any) -> HostSettings:
    given = {key: value for key, value in arguments.items() if value is not None}
    layers = [
        argument_layer(given, lambda key: f"PluginManager({key}=...)"),
        *environment_layers(HostSettings, ENV_PREFIX, files),
        files.host_layer(),
    ]
    settings, _ = validate(
        HostSettings,
        layers,
        missing=lambda key: f"set {ENV_PREFIX}{key.upper()}",
        what="host settings",
    )
    return settings


def path_setting(argument: str | os.PathLike[str] | None, variable: str) -> str | None:
    """A settings-file location: from its argument, else its environment variable."""
    if argument is not None:
        return os.fspath(argument)
    return os.environ.get(ENV_PREFIX + variable) or None


# -- one plugin's settings ----------------------------------------------------------------


def load_plugin_settings(
    plugin: str,
    model: type[pydantic.BaseModel] | None,
    arguments: Mapping[str, Any],
    files: SettingsFiles,
) -> tuple[pydantic.BaseModel | None, dict[str, Any]]:
    """The plugin's validated settings (``None`` without a model) and its namespace's values."""
    prefix = plugin_env_prefix(plugin)
    if model is None:
        # Nothing to validate, so no source to name: merge the raw values, cheaply (most
        # plugins declare no model, and this runs for each of them at every start).
        environ, dotenv = files.variables()
        sources = [arguments, _prefixed(environ, prefix), _prefixed(dotenv, prefix)]
        return None, merge_values([*sources, files.plugin_values(plugin)])
    layers = [
        argument_layer(
            arguments, lambda key: f"PluginManager(config={{{plugin!r}: {{{key!r}: ...}}}})"
        ),
        *environment_layers(model, prefix, files),
        files.plugin_layer(plugin),
    ]
    settings, _ = validate(
        model,
        layers,
        missing=lambda key: (
            f"set {prefix}{key.upper()}, or {key!r} under [plugins.{plugin}] in {SETTINGS_FILE}"
        ),
    )
    return settings, {name: getattr(settings, name) for name in type(settings).model_fields}
