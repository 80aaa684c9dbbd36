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
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .config import Settings
from .connectors import Connector
from .models import Decision, TicketEvent
from .rules import BUILTIN_RULES
from .verdicts import Classification, Deadline, Entitlement, Escalation

GROUP = "slabridge"


class _Manager(pluggy.PluginManager):
    """pluggy's manager, counting changes to the registered plugins (see :func:`dispatcher`)."""

    generation = 0

    def register(self, plugin, name=None):
        self.generation += 1
        return super().register(plugin, name)

    def unregister(self, plugin=None, name=None):
        self.generation += 1
        return super().unregister(plugin, name)

    def set_blocked(self, name):
        self.generation += 1
        return super().set_blocked(name)


def dispatcher(hook: pluggy.HookCaller) -> Callable[..., Any]:
    """One hook's implementations as one plain function, in pluggy's order and with its ``firstresult`` rule.

    The rule phases run on every decision; pluggy's general call path (tracing, wrappers, argument
    checks) cost about a tenth of a decision, and a loop picking each implementation's arguments out
    of the call's keywords a twentieth. So the calls are written out once, as source compiled here:
    ``f0(event, contract)``, then ``f1(event, customer=customer)`` if the first answered None, and so
    on (the way :mod:`dataclasses` writes ``__init__``). A hook with a wrapper is left to pluggy.
    :class:`Plugins` rebuilds them whenever a plugin is registered, unregistered or blocked.
    """
    impls = hook.get_hookimpls()
    if any(i.hookwrapper or i.wrapper for i in impls):
        return hook
    return _written_out(hook.spec.argnames, list(reversed(impls)), bool(hook.spec.opts.get("firstresult")))


def _written_out(names: tuple[str, ...], impls: list, firstresult: bool) -> Callable[..., Any]:
    """A function of the spec's parameters that calls each implementation with the arguments it takes."""
    lines = [f"def dispatch({', '.join(names)}):"]
    if not firstresult:
        lines.append("    results = []")
    for index, impl in enumerate(impls):
        arguments = [*impl.argnames, *(f"{n}={n}" for n in impl.kwargnames if n in names)]
        lines.append(f"    result = f{index}({', '.join(arguments)})")
        lines.append("    if result is not None:")
        lines.append("        return result" if firstresult else "        results.append(result)")
    lines.append("    return None" if firstresult else "    return results")
    namespace = {f"f{index}": impl.function for index, impl in enumerate(impls)}
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from identifiers only
    return namespace["dispatch"]


class Plugins:
    def __init__(self, settings: Settings | None = None, environ: dict[str, str] | None = None,
                 extra: tuple[object, ...] = (), load_entry_points: bool = True):
        self.settings = settings or Settings()
        environ = os.environ if environ is None else environ
        self.pm = _Manager(GROUP)
        self._dispatch: dict[str, Callable[..., Any]] = {}
        self._generation = -1
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

    def _hook(self, name: str) -> Callable[..., Any]:
        if self._generation != self.pm.generation:
            self._dispatch, self._generation = {}, self.pm.generation
        dispatch = self._dispatch.get(name)
        if dispatch is None:
            dispatch = self._dispatch[name] = dispatcher(getattr(self.pm.hook, name))
        return dispatch

    def resolve_customer(self, event: TicketEvent, directory: Any) -> Any | None:
        return self._hook("slabridge_resolve_customer")(event=event, directory=directory)

    def entitlement(self, event: TicketEvent, customer: Any, contract: Any, now: datetime, state,
                    directory: Any = None) -> Entitlement:
        return self._hook("slabridge_entitlement")(event=event, customer=customer, contract=contract, now=now,
                                                  state=state, directory=directory)

    def classify(self, event: TicketEvent, entitlement: Entitlement, contract: Any, now: datetime,
                 state) -> Classification:
        return self._hook("slabridge_classify")(event=event, entitlement=entitlement, contract=contract, now=now,
                                               state=state)

    def deadlines(self, event, entitlement, classification, contract, now, state, customer=None) -> list[Deadline]:
        results = self._hook("slabridge_deadlines")(event=event, entitlement=entitlement, state=state,
                                                    customer=customer, classification=classification,
                                                    contract=contract, now=now)
        return [d for batch in results if batch for d in batch]

    def escalations(self, event, deadlines, customer, contract, now, state) -> list[Escalation]:
        results = self._hook("slabridge_escalations")(event=event, deadlines=deadlines, customer=customer,
                                                     contract=contract, now=now, state=state)
        return [e for batch in results if batch for e in batch]

    def actions(self, decision: Decision) -> Decision:
        return self._hook("slabridge_actions")(decision=decision)

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
