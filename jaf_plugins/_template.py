"""``jaf-plugins new NAME``: a ready-to-publish plugin project, rendered from the template
shipped in this package (``jaf_plugins/templates/plugin/``) with :class:`string.Template`.

Why not cookiecutter or copier: they are one more tool for every plugin author to install,
with its own dependencies and configuration language, to fill in a handful of files with
half a dozen names. And a template that ships inside the jaf-plugins wheel is versioned with
the host it targets: ``jaf-plugins new`` always writes a project for the host you have
installed (its ``jaf-plugins>=major.minor`` requirement, its test kit, its hooks), never a
template fetched from elsewhere that may have moved on, or not yet.

Template files end in ``.tmpl`` (so linters and pytest leave them alone) and use
``$name`` / ``${name}`` placeholders, ``$$`` for a literal ``$``; :data:`FILES` says where
each one goes. Rendering is strict: an unknown placeholder is an error, not a silent ``$x``.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from packaging.version import Version

from ._version import __version__

FILES: tuple[tuple[str, str], ...] = (
    ("pyproject.toml.tmpl", "pyproject.toml"),
    ("README.md.tmpl", "README.md"),
    ("gitignore.tmpl", ".gitignore"),
    ("ci.yml.tmpl", ".github/workflows/ci.yml"),
    ("__init__.py.tmpl", "${package}/__init__.py"),
    ("py.typed.tmpl", "${package}/py.typed"),
    ("test_plugin.py.tmpl", "tests/test_${plugin_name}.py"),
)
"""(template file in ``templates/plugin/``, path in the new project). The template folder is
flat: a data folder is a "package" to setuptools, each one to declare in pyproject.toml."""

RESERVED = frozenset({"core", "tools"})
"""Plugin names taken by the host's built-in plugins."""

MAX_LENGTH = 40
"""Keeps the sample tool's name (``<plugin>_greet``) within the 64 characters models accept."""

_PREFIXES = ("jaf-plugins-", "jaf_plugins_")
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_RULE = (
    "use lower-case letters and digits, starting with a letter, with words separated by "
    "one '-' or '_' (e.g. 'acme-weather')"
)


class TemplateError(ValueError):
    """A name that cannot become a project, or a directory that must not be written to."""


@dataclass(frozen=True)
class PluginProject:
    """Every name the project uses, derived from one NAME (``acme-weather``)."""

    name: str
    """``acme-weather``"""
    distribution: str
    """``jaf-plugins-acme-weather``: what ``pip install`` takes."""
    package: str
    """``jaf_plugins_acme_weather``: what ``import`` takes."""
    plugin_name: str
    """``acme_weather``: the entry point, and the plugin's name in the host."""
    class_name: str
    """``AcmeWeatherPlugin``"""
    title: str
    """``Acme Weather``"""
    tool_name: str
    """``acme_weather_greet``: the sample tool, prefixed so it clashes with no other plugin's."""
    env_prefix: str
    """``JAF_PLUGINS__ACME_WEATHER__``: the plugin's settings in the environment."""
    host_requirement: str
    """``jaf-plugins>=0.1``: the installed host's major.minor."""
    host_version: str


def parse_name(raw: str) -> PluginProject:
    """The project for ``raw`` (``acme-weather``, ``acme_weather`` or
    ``jaf-plugins-acme-weather``), or ``TemplateError`` saying what is wrong with it."""
    name = raw.strip()
    for prefix in _PREFIXES:
        if name.lower().startswith(prefix):
            name = name[len(prefix) :]
    if not name:
        raise TemplateError(f"invalid plugin name {raw!r}: it is empty; {_RULE}")
    if not _NAME.fullmatch(name):
        reason = "it has characters other than letters, digits, '-' and '_'"
        if _NAME.fullmatch(name.lower()):
            reason = f"it has upper-case letters (did you mean {name.lower()!r}?)"
        elif "." in name:
            reason = "'.' cannot be part of a Python package name"
        elif not name[0].isalpha():
            reason = "it must start with a letter"
        elif re.search(r"[-_]{2}|[-_]$", name):
            reason = "words must be separated by one '-' or '_', with none at the end"
        raise TemplateError(f"invalid plugin name {raw!r}: {reason}; {_RULE}")
    if len(name) > MAX_LENGTH:
        raise TemplateError(
            f"invalid plugin name {raw!r}: longer than {MAX_LENGTH} characters; choose a "
            "shorter one (tool names must fit in 64 characters)"
        )
    words = re.split(r"[-_]", name)
    plugin_name = "_".join(words)
    if plugin_name in RESERVED:
        raise TemplateError(
            f"invalid plugin name {raw!r}: {plugin_name!r} is the name of a plugin built into "
            "the host; choose another name"
        )
    host = Version(__version__)
    return PluginProject(
        name="-".join(words),
        distribution="jaf-plugins-" + "-".join(words),
        package="jaf_plugins_" + plugin_name,
        plugin_name=plugin_name,
        class_name="".join(w.capitalize() for w in words)
        + ("" if words[-1] == "plugin" else "Plugin"),
        title=" ".join(w.capitalize() for w in words),
        tool_name=f"{plugin_name}_greet",
        env_prefix=f"JAF_PLUGINS__{plugin_name.upper()}__",
        host_requirement=f"jaf-plugins>={host.major}.{host.minor}",
        host_version=__version__,
    )


def render(project: PluginProject) -> dict[str, str]:
    """Every file of the project: ``{relative path: content}``."""
    names = asdict(project)
    root = resources.files(__package__ or "jaf_plugins") / "templates" / "plugin"
    files: dict[str, str] = {}
    for source, destination in FILES:
        text = (root / source).read_text(encoding="utf-8")
        try:
            path = string.Template(destination).substitute(names)
            files[path] = string.Template(text).substitute(names)
        except (KeyError, ValueError) as exc:  # a bug in the template, not the user's
            raise RuntimeError(f"template {source}: bad placeholder: {exc}") from exc
    return files


def create_project(project: PluginProject, directory: str | Path | None = None) -> Path:
    """Write the project into ``directory`` (default ``./<distribution>``), which must not
    exist or be empty; returns it."""
    target = Path(directory if directory is not None else project.distribution)
    if target.is_file():
        raise TemplateError(f"{target} is a file; choose another --directory")
    if target.is_dir() and any(target.iterdir()):
        raise TemplateError(
            f"{target} already exists and is not empty: nothing was written. Choose another "
            "NAME or --directory, or remove it first"
        )
    files = render(project)  # everything rendered before anything is written
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8", newline="\n")
    return target


def next_steps(project: PluginProject, target: Path) -> str:
    """What ``jaf-plugins new`` prints once the project exists."""
    files = "\n".join(f"  {string.Template(dest).substitute(asdict(project))}" for _, dest in FILES)
    return f"""\
Created {target}/ for the plugin {project.plugin_name!r} \
(distribution {project.distribution}, package {project.package}):
{files}

Next steps:
  cd {target}
  git init                                    # the CI workflow runs on GitHub
  python -m pip install -e '.[test]'          # in a virtual environment
  python -m pytest                            # conformance suite + the sample tool's tests
  # then replace the sample tool {project.tool_name!r} in {project.package}/__init__.py
  # with your own, and describe it in README.md (settings, tools)
  python -m build && python -m twine upload dist/*   # publish: see README.md, "Publish"
"""
