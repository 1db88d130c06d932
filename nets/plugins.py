"""One plugin mechanism for every family: problems, strategies, pre-screens, surrogates,
devices and data sets.

A :class:`Registry` maps names to plugins of one family. Plugins come from three places,
looked up in this order:

1. built-ins and plugins registered in code (``registry.register(name, plugin)``, or
   ``registry.register_lazy(name, "package.module:attribute")`` to import on first use);
2. Python entry points in the group ``segevo.<family>`` of any installed distribution, e.g.
   in the plugin package's ``pyproject.toml``::

       [project.entry-points."segevo.surrogates"]
       knn = "my_package.knn:KNNSurrogate"

   Entry points are listed at the first lookup (``importlib.metadata``) and each one is
   imported only when its name is asked for, so a broken third-party plugin fails with a
   :class:`PluginLoadError` naming its distribution and entry point, and only for lookups of
   that name.

Errors share one format: an unknown name raises :class:`UnknownPluginError` ("unknown
surrogate 'x'; known: a, b"), unknown keyword options raise :class:`UnknownOptionError`
("unknown option(s) ['y'] for surrogate 'x'; allowed: a, b"); both are ``ValueError``.

This module sits in ``segevo.nets`` (the lowest Python package) so that ``surrogates``,
``devices`` and ``engine`` can all use it; it imports nothing from segevo.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

__all__ = [
    "ENTRY_POINT_PREFIX",
    "PluginError",
    "PluginLoadError",
    "Registry",
    "UnknownOptionError",
    "UnknownPluginError",
    "callable_plugin",
    "check_options",
    "keyword_options",
    "refresh_entry_points",
]

T = TypeVar("T")

ENTRY_POINT_PREFIX = "segevo."
"""Entry point groups are ``segevo.<family>``: ``segevo.problems``, ``segevo.strategies``,
``segevo.prescreens``, ``segevo.surrogates``, ``segevo.devices``, ``segevo.datasets``,
``segevo.spaces``."""


class PluginError(ValueError):
    """A plugin name, option or entry point is wrong."""


class UnknownPluginError(PluginError):
    """No plugin of that family has this name."""


class UnknownOptionError(PluginError):
    """A plugin was given keyword options it does not take."""


class PluginLoadError(PluginError):
    """A plugin (typically a third-party entry point) could not be imported or is not a
    valid plugin of its family."""


def unknown_name_message(kind: str, name: object, known: Iterable[str], hint: str = "") -> str:
    """The one wording of an unknown plugin name: ``unknown <kind> 'x'; known: a, b``."""
    listed = ", ".join(known) or "(none)"
    return f"unknown {kind} {name!r}; known: {listed}{hint}"


def check_options(kind: str, name: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """Raise :class:`UnknownOptionError` when ``given`` holds names outside ``allowed``."""
    allowed_set = set(allowed)
    unknown = sorted(set(given) - allowed_set)
    if unknown:
        listed = ", ".join(sorted(allowed_set)) or "(none)"
        raise UnknownOptionError(
            f"unknown option(s) {unknown} for {kind} {name!r}; allowed: {listed}"
        )


def callable_plugin(description: str) -> Callable[[str, Any], Any]:
    """An ``adapt`` for families whose plugins are factories: the plugin itself when it is
    callable, else :class:`PluginError` saying ``description`` (what a plugin must be)."""

    def adapt(name: str, plugin: Any) -> Any:
        if not callable(plugin):
            raise PluginError(f"{description}, got {type(plugin).__name__} for {name!r}")
        return plugin

    return adapt


def keyword_options(factory: Callable[..., Any]) -> list[str] | None:
    """The keyword-only parameters a factory (or a class, through its bases' ``__init__``)
    takes, sorted; None when it takes arbitrary ``**keywords`` that cannot be listed."""
    if isinstance(factory, type):
        targets: list[Any] = [
            vars(klass)["__init__"] for klass in factory.__mro__ if "__init__" in vars(klass)
        ]
    else:
        targets = [factory]
    names: set[str] = set()
    for target in targets:
        try:
            parameters = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):  # a builtin without a signature
            return None
        names.update(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return sorted(names)
    return None


@dataclass
class _Entry:
    """One name's plugin: loaded (``plugin``), or loaded on first use by ``load``."""

    origin: str
    plugin: Any = None
    load: Callable[[], Any] | None = None
    error: PluginLoadError | None = None
    from_entry_point: bool = False


_REGISTRIES: weakref.WeakSet[Registry[Any]] = weakref.WeakSet()


def refresh_entry_points() -> None:
    """Forget the entry points every registry has listed, so the next lookup lists them
    again (after installing a plugin package into a running interpreter, and in tests)."""
    for registry in list(_REGISTRIES):
        registry.refresh_entry_points()


def _import_target(target: str) -> Any:
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'package.module:attribute', got {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _distribution(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown distribution"
    name = dist.metadata["Name"] if dist.metadata is not None else None
    return f"distribution {name or '?'!r} {dist.version or ''}".rstrip()


class Registry(Generic[T]):
    """Plugins of one family by name; thread-safe.

    Args:
        family: the plural family name; entry points are read from ``segevo.<family>``.
        kind: the singular noun used in messages (``"data set"``, ``"pre-screen"``).
        adapt: turns what an entry point (or a lazy target) loads into a ``T`` and checks it,
            raising ``ValueError``/``TypeError`` when it is no valid plugin; it also checks
            what ``register`` is given. Default: accept anything.
        name_rule: ``(check, description)``; a name failing ``check`` is refused with
            "<kind> name must be <description>".
        builtins: called once, before the first lookup, to register the built-in plugins
            (lets a family register them lazily, without import cycles).
        order: ``names()`` sorted, or in registration order (then entry points, sorted).
        hint: appended to the unknown-name message (e.g. how a spec is written).
    """

    def __init__(
        self,
        family: str,
        kind: str,
        *,
        adapt: Callable[[str, Any], T] | None = None,
        name_rule: tuple[Callable[[str], bool], str] | None = None,
        builtins: Callable[[], None] | None = None,
        order: Literal["sorted", "registered"] = "sorted",
        hint: str = "",
    ) -> None:
        self.family = family
        self.kind = kind
        self.group = ENTRY_POINT_PREFIX + family
        self.hint = hint
        self._adapt = adapt
        self._name_rule = name_rule
        self._builtins = builtins
        self._order = order
        self._entries: dict[str, _Entry] = {}
        self._entry_points: dict[str, _Entry] | None = None
        self._lock = threading.RLock()
        _REGISTRIES.add(self)

    # -- registering --------------------------------------------------------------------

    def check_name(self, name: object) -> str:
        """``name`` when it is a valid plugin name for this family; else ValueError."""
        if self._name_rule is not None:
            check, description = self._name_rule
            if not isinstance(name, str) or not check(name):
                raise PluginError(f"{self.kind} name must be {description}, got {name!r}")
        elif not isinstance(name, str) or not name:
            raise PluginError(f"{self.kind} name must be a non-empty string, got {name!r}")
        return name

    def register(self, name: str, plugin: Any, *, replace: bool = False) -> None:
        """Make ``plugin`` available as ``name``; a taken name raises unless ``replace``."""
        self.check_name(name)
        adapted = self._adapt(name, plugin) if self._adapt is not None else plugin
        self._add(name, _Entry(origin="registered in code", plugin=adapted), replace)

    def register_lazy(self, name: str, target: str, *, replace: bool = False) -> None:
        """Register ``"package.module:attribute"``, imported (and adapted) on first use."""
        self.check_name(name)
        self._add(
            name, _Entry(origin=f"built-in {target}", load=lambda: _import_target(target)), replace
        )

    def _add(self, name: str, entry: _Entry, replace: bool) -> None:
        self._ensure_builtins()
        with self._lock:
            if name in self._entries and not replace:
                raise PluginError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Remove a plugin registered in code (for plugins that clean up, and tests)."""
        self._ensure_builtins()
        with self._lock:
            if name not in self._entries:
                raise UnknownPluginError(unknown_name_message(self.kind, name, self.names()))
            del self._entries[name]

    # -- looking up ---------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every name a lookup accepts: built-in, registered and entry-point plugins."""
        self._ensure_builtins()
        with self._lock:
            own = list(self._entries)
            extra = sorted(set(self._discover()) - set(own))
        if self._order == "sorted":
            return sorted([*own, *extra])
        return [*own, *extra]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def find(self, name: str) -> T | None:
        """The plugin called ``name``, or None when there is none (a broken one raises
        :class:`PluginLoadError`)."""
        self._ensure_builtins()
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                entry = self._discover().get(name)
        if entry is None:
            return None
        # Imported outside the lock: a plugin module may look up other plugins as it loads.
        return self._load(name, entry)

    def get(self, name: str) -> T:
        """The plugin called ``name``; :class:`UnknownPluginError` lists the known names."""
        plugin = self.find(name) if isinstance(name, str) else None
        if plugin is None:
            raise self.unknown(name)
        return plugin

    def unknown(self, name: object, hint: str | None = None) -> UnknownPluginError:
        """The error for an unknown ``name`` (for callers that parse names themselves)."""
        return UnknownPluginError(
            unknown_name_message(self.kind, name, self.names(), self.hint if hint is None else hint)
        )

    def refresh_entry_points(self) -> None:
        """List the entry points again at the next lookup."""
        with self._lock:
            self._entry_points = None

    # -- internals ----------------------------------------------------------------------

    def _ensure_builtins(self) -> None:
        builtins = self._builtins
        if builtins is not None:
            with self._lock:
                if self._builtins is not None:
                    self._builtins = None
                    builtins()

    def _load(self, name: str, entry: _Entry) -> T:
        if entry.error is not None:
            raise entry.error
        load = entry.load
        if load is not None:
            try:
                loaded = load()
                plugin = self._adapt(name, loaded) if self._adapt is not None else loaded
            except Exception as exc:
                if not entry.from_entry_point:
                    raise  # a built-in that does not load is a bug in segevo: show it as is
                entry.error = PluginLoadError(
                    f"{self.kind} plugin {name!r} could not be loaded from {entry.origin}: "
                    f"{type(exc).__name__}: {exc}"
                )
                entry.error.__cause__ = exc
                raise entry.error from exc
            entry.plugin, entry.load = plugin, None
        return entry.plugin  # type: ignore[no-any-return]

    def _discover(self) -> dict[str, _Entry]:
        """Entry points of this family's group, listed once (caller holds the lock)."""
        if self._entry_points is not None:
            return self._entry_points
        found: dict[str, list[tuple[str, importlib.metadata.EntryPoint]]] = {}
        for entry_point in importlib.metadata.entry_points(group=self.group):
            origin = (
                f"entry point '{entry_point.name} = {entry_point.value}' in group "
                f"{self.group!r} of {_distribution(entry_point)}"
            )
            same = found.setdefault(entry_point.name, [])
            if all(ep.value != entry_point.value for _, ep in same):  # one dist on two paths
                same.append((origin, entry_point))
        entries: dict[str, _Entry] = {}
        for name, candidates in found.items():
            if name in self._entries:
                warnings.warn(
                    f"ignoring {candidates[0][0]}: {self.kind} {name!r} is built in or "
                    "registered already",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            try:
                self.check_name(name)
            except PluginError as exc:
                warnings.warn(f"ignoring {candidates[0][0]}: {exc}", RuntimeWarning, stacklevel=3)
                continue
            origin, entry_point = candidates[0]
            entry = _Entry(origin=origin, load=entry_point.load, from_entry_point=True)
            if len(candidates) > 1:
                entry.error = PluginLoadError(
                    f"{self.kind} {name!r} is defined by several entry points: "
                    + "; ".join(o for o, _ in candidates)
                    + ". Uninstall all but one."
                )
            entries[name] = entry
        self._entry_points = entries
        return entries
