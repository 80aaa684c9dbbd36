"""The plugin manager: built-in rules, entry-point plugins, per-vendor enabling.

:class:`Plugins` is the only caller of the hooks; everything else asks it. The rule phases
are called through :func:`dispatcher`: pluggy's implementations as plain calls.
Entry points of the ``slabridge`` group are loaded unless blocked by
``SLABRIDGE_PLUGINS_BLOCK`` or left out of ``SLABRIDGE_PLUGINS_ALLOW`` (both
comma-separated entry-point names).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .config import Settings
from .connectors import Connector
from .models import TicketEvent
from .rules import BUILTIN_RULES

GROUP = "slabridge"


class _Manager(pluggy.PluginManager):
    """pluggy's manager, telling its owner whenever the registered plugins change (see :func:`dispatcher`)."""

    def __init__(self, project_name: str, changed: Callable[[], None]):
        super().__init__(project_name)
        self._changed = changed

    def register(self, plugin, name=None):
        try:
            return super().register(plugin, name)
        finally:
            self._changed()

    def unregister(self, plugin=None, name=None):
        try:
            return super().unregister(plugin, name)
        finally:
            self._changed()

    def set_blocked(self, name):
        try:
            return super().set_blocked(name)
        finally:
            self._changed()


def dispatcher(hook: pluggy.HookCaller, flatten: bool = False) -> Callable[..., Any]:
    """One hook's implementations as one plain function, in pluggy's order and with its ``firstresult`` rule.

    The rule phases run on every decision; pluggy's general call path (tracing, wrappers, argument
    checks) cost about a tenth of a decision, and a loop picking each implementation's arguments out
    of the call's keywords a twentieth. So the calls are written out once, as source compiled here:
    ``f0(event, contract)``, then ``f1(event, customer=customer)`` if the first answered None, and so
    on (the way :mod:`dataclasses` writes ``__init__``). It takes the spec's parameters by position or
    by name. With ``flatten``, the lists the implementations return are joined into one (``None`` and
    empty lists left out). A hook with a wrapper goes through pluggy. :class:`Plugins` rebuilds them
    whenever a plugin is registered, unregistered or blocked.
    """
    names = hook.spec.argnames
    impls = hook.get_hookimpls()
    if any(i.hookwrapper or i.wrapper for i in impls):
        return _through_pluggy(hook, names, flatten)
    return _written_out(hook.name, names, list(reversed(impls)), bool(hook.spec.opts.get("firstresult")), flatten)


def _written_out(hook: str, names: tuple[str, ...], impls: list, firstresult: bool,
                 flatten: bool) -> Callable[..., Any]:
    """A function of the spec's parameters that calls each implementation with the arguments it takes."""
    lines = [f"def dispatch({', '.join(names)}):"]
    if not firstresult:
        lines.append("    results = []")
    for index, impl in enumerate(impls):
        arguments = [*impl.argnames, *(f"{n}={n}" for n in impl.kwargnames if n in names)]
        lines.append(f"    result = f{index}({', '.join(arguments)})")
        if firstresult:
            lines += ["    if result is not None:", "        return result"]
        elif flatten:  # the try costs nothing until a plugin answers something other than a list
            lines += ["    if result:", "        try:", "            results += result", "        except TypeError:",
                      f"            raise not_a_list({hook!r}, {_label(impl)!r}, result) from None"]
        else:
            lines += ["    if result is not None:", "        results.append(result)"]
    lines.append("    return None" if firstresult else "    return results")
    namespace = {f"f{index}": impl.function for index, impl in enumerate(impls)} | {"not_a_list": _not_a_list}
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from identifiers only
    return namespace["dispatch"]


def _through_pluggy(hook: pluggy.HookCaller, names: tuple[str, ...], flatten: bool) -> Callable[..., Any]:
    """The hook called through pluggy (its wrappers), by position or by name like :func:`_written_out`."""
    def dispatch(*args, **kwargs):
        result = hook(**dict(zip(names, args)), **kwargs)
        if not flatten:
            return result
        joined: list = []
        for batch in result:
            if batch:
                try:
                    joined += batch
                except TypeError:
                    raise _not_a_list(hook.name, "a plugin", batch) from None
        return joined
    return dispatch


def _label(impl: pluggy.HookImpl) -> str:
    """A plugin as its author knows it: its registered name, or its class where it was registered unnamed."""
    plugin = impl.plugin
    if not impl.plugin_name.isdigit():  # pluggy names an unnamed plugin by its id
        return impl.plugin_name
    kind = plugin if isinstance(plugin, type) else type(plugin)
    return f"{kind.__module__}.{kind.__qualname__}"


def _not_a_list(hook: str, plugin: str, result: Any) -> TypeError:
    """A list phase's implementation answered something other than a list (or None): say which and what."""
    return TypeError(f"{plugin}'s {hook} returned a {type(result).__name__}, not a list (return [it], or None)")


PHASES = {  # Plugins' attribute: the hook it calls, and whether the lists its implementations return are joined
    "resolve_customer": ("slabridge_resolve_customer", False),
    "entitlement": ("slabridge_entitlement", False),
    "classify": ("slabridge_classify", False),
    "deadlines": ("slabridge_deadlines", True),
    "escalations": ("slabridge_escalations", True),
    "actions": ("slabridge_actions", False),
}


class Plugins:
    """The registered plugins, their connectors, and the rule phases the engine calls.

    Each phase of :data:`PHASES` is an attribute taking its hook's parameters (:mod:`slabridge.hookspecs`),
    by position or by name: ``plugins.entitlement(event, customer, contract, now, state, directory)``.
    ``deadlines`` and ``escalations`` return one list, joined from every implementation's.
    """

    def __init__(self, settings: Settings | None = None, environ: dict[str, str] | None = None,
                 extra: tuple[object, ...] = (), load_entry_points: bool = True):
        self.settings = settings or Settings()
        environ = os.environ if environ is None else environ
        self.pm = _Manager(GROUP, self._forget_phases)
        self.pm.add_hookspecs(hookspecs)
        self.versions: dict[str, str] = {}
        for rule in BUILTIN_RULES:
            self.pm.register(rule(self.settings), name=f"builtin.{rule.name}")
        if load_entry_points:
            self._load_entry_points(_names(environ.get("SLABRIDGE_PLUGINS_ALLOW")),
                                    _names(environ.get("SLABRIDGE_PLUGINS_BLOCK")) or set())
        for plugin in extra:
            self.pm.register(plugin)
        self.pm.check_pending()
        self.connectors: dict[str, Connector] = {}
        self.pm.hook.slabridge_register_connectors(register=self._register_connector)

    def _load_entry_points(self, allow: set[str] | None, block: set[str]) -> None:
        for ep in entry_points(group=GROUP):
            if ep.name in block or (allow is not None and ep.name not in allow):
                self.pm.set_blocked(ep.name)
                continue
            if self.pm.get_plugin(ep.name) is not None:
                continue
            self.pm.register(ep.load(), name=ep.name)
            self.versions[ep.name] = ep.dist.version if ep.dist else "?"

    def _register_connector(self, connector: Connector) -> None:
        if connector.name in self.connectors:
            raise ValueError(f"two connectors are called {connector.name!r}")
        self.connectors[connector.name] = connector

    # --- connectors -------------------------------------------------------

    def enabled_connector(self, vendor: str) -> Connector | None:
        """The connector for ``vendor`` if it is installed and enabled in configuration."""
        connector = self.connectors.get(vendor)
        return connector if connector and self.settings.vendor(vendor).enabled else None

    def enrich(self, event: TicketEvent, lookups: Any) -> TicketEvent:
        """The event with what its connector looks up filled in (see ``Connector.enrich``)."""
        connector = self.connectors.get(event.vendor)
        return connector.enrich(event, lookups, self.settings.vendor(event.vendor)) if connector else event

    # --- rule phases ------------------------------------------------------

    def __getattr__(self, name: str) -> Callable[..., Any]:
        """A rule phase (:data:`PHASES`) as its :func:`dispatcher`, made on first use and kept as an attribute
        until the plugins change: the engine's calls reach the implementations with no call in between."""
        phase = PHASES.get(name)
        if phase is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        dispatch = self.__dict__[name] = dispatcher(getattr(self.pm.hook, phase[0]), flatten=phase[1])
        return dispatch

    def _forget_phases(self) -> None:
        for name in PHASES:
            self.__dict__.pop(name, None)

    # --- introspection ----------------------------------------------------

    def describe(self) -> list[dict[str, Any]]:
        """Every registered plugin: name, version, hooks, enabled state."""
        rows = []
        for name, plugin in sorted(self.pm.list_name_plugin(), key=lambda item: item[0]):
            if plugin is None:
                continue
            vendors = [c for c, conn in self.connectors.items() if type(conn).__module__.startswith(
                getattr(plugin, "__package__", None) or "\0")]
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or ())
            enabled = all(self.settings.vendor(v).enabled for v in vendors) if vendors else True
            rows.append({"name": name, "version": self.versions.get(name, _builtin_version()),
                         "hooks": hooks, "connectors": vendors, "enabled": enabled})
        return rows


def _names(value: str | None) -> set[str] | None:
    return None if value is None else {n.strip() for n in value.split(",") if n.strip()}


def _builtin_version() -> str:
    from . import __version__

    return __version__
