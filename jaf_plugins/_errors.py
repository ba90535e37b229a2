"""Every error jaf-plugins raises or records, under one root.

::

    JafPluginsError
    ├── PluginLoadError              importing or constructing a plugin failed
    ├── PluginValidationError        bad name, version, metadata or hook signature (ValueError)
    │   └── DuplicatePluginError     a second plugin under a name already taken
    ├── PluginNotFoundError          no plugin of that name (LookupError)
    ├── SettingsError                a host or plugin setting is invalid (ValueError)
    ├── DependencyError              the dependency graph cannot be satisfied
    │   ├── MissingDependencyError   a required dependency is not loaded
    │   ├── DependencyVersionError   the loaded version does not match the constraint
    │   ├── DependencyCycleError     plugins depend on each other in a ring
    │   └── DependencyFailedError    a dependency failed or was skipped, so this one is skipped
    ├── LifecycleError               initialize/activate/deactivate raised or returned False
    │   ├── PluginTimeoutError       ...or ran past its timeout (also TimeoutError)
    │   └── ReloadError              a reload failed; the previous version keeps running
    ├── ToolError
    │   ├── ToolDefinitionError      a function cannot become a tool (TypeError)
    │   ├── ToolValidationError      arguments do not match the tool's schema (ValueError)
    │   └── ToolConflictError        a bare tool name is offered by two plugins (LookupError)
    └── EventError
        └── EventDepthError          handlers emitting events recursed past the limit

Each error carries ``plugin`` and ``distribution`` (``None`` when unknown) and a ``hint``
saying how to fix it; ``str(error)`` puts all of them in one line.
"""

from __future__ import annotations


class JafPluginsError(Exception):
    """Root of every jaf-plugins error."""

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        distribution: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.plugin = plugin
        self.distribution = distribution
        self.hint = hint
        super().__init__(self._render())

    def about(self, plugin: str | None, distribution: str | None = None) -> JafPluginsError:
        """The same error, attributed to ``plugin`` (from ``distribution``)."""
        return type(self)(self.message, plugin=plugin, distribution=distribution, hint=self.hint)

    def _render(self) -> str:
        where = ""
        if self.plugin is not None:
            where = f"plugin {self.plugin!r}"
            if self.distribution:
                where += f" (distribution {self.distribution!r})"
            where += ": "
        text = where + self.message
        if self.hint:
            text += f". Fix: {self.hint}"
        return text


class PluginLoadError(JafPluginsError):
    """Importing or constructing a plugin failed."""


class PluginValidationError(JafPluginsError, ValueError):
    """A plugin's name, version, metadata or hook signatures are invalid."""


class DuplicatePluginError(PluginValidationError):
    """A plugin name is already taken by another plugin."""


class PluginNotFoundError(JafPluginsError, LookupError):
    """No plugin of that name is known to the manager."""


class SettingsError(JafPluginsError, ValueError):
    """A host or plugin setting is invalid; the message names the field and its source."""


class DependencyError(JafPluginsError):
    """The plugin's dependencies cannot be satisfied."""


class MissingDependencyError(DependencyError):
    """A required dependency is not loaded."""


class DependencyVersionError(DependencyError):
    """A dependency is loaded at a version outside the required range."""


class DependencyCycleError(DependencyError):
    """Plugins depend on each other in a cycle."""


class DependencyFailedError(DependencyError):
    """A required dependency failed or was skipped."""


class LifecycleError(JafPluginsError):
    """A lifecycle step raised, returned False, or timed out."""


class PluginTimeoutError(LifecycleError, TimeoutError):
    """A lifecycle step ran past its timeout."""


class ReloadError(LifecycleError):
    """A reload failed; the previous version keeps running."""


class ToolError(JafPluginsError):
    """Root of tool errors."""


class ToolDefinitionError(ToolError, TypeError):
    """A function cannot be turned into a tool."""


class ToolValidationError(ToolError, ValueError):
    """Arguments do not match the tool's parameter schema."""


class ToolConflictError(ToolError, LookupError):
    """A bare tool (or agent) name is offered by more than one plugin."""


class EventError(JafPluginsError):
    """Root of event errors."""


class EventDepthError(EventError):
    """Handlers emitting further events recursed past the depth limit."""
