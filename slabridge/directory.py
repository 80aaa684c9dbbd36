"""Customers and their contracts: the customers file, the contracts folder, look-ups.

:func:`load` reads every ``*.yaml`` and ``*.yml`` in the contracts folder and the customers
file and returns a :class:`Directory` plus every problem found, each phrased
``file:line: key.path: message``. A CRM plugin may supply customers instead by
implementing ``slabridge_resolve_customer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, ValidationError, model_validator

from . import yamlfile
from .calendar import HolidaySpec
from .contract import Contract, Route, Strict, cross_check
from .timeparse import OUT_OF_RANGE, computable


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value):
        raise ValueError("not one e-mail address (like dana@acme.example): it would never match a requester")
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.fullmatch(value):
        raise ValueError("not a domain (like acme.example, without @ or https://): it would never match a requester")
    return value


_DOMAIN = re.compile(r"[^\s@/:,;<>]+\.[^\s@/:,;<>.]+")
_ADDRESS = re.compile(r"[^\s@,;<>]+@" + _DOMAIN.pattern)
Email = Annotated[str, AfterValidator(_address)]
Domain = Annotated[str, AfterValidator(_domain)]


class Term(Strict):
    start: date
    end: date | None = None


class Region(Strict):
    country: str
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> "Region":
        HolidaySpec(country=self.country, subdivision=self.subdivision)  # raises with the reason
        return self


class AddonPurchase(Strict):
    users: int | None = Field(default=None, ge=1)


class PlannedEvent(Strict):
    """A window the customer planned (a new server, a hardware replacement, an upgrade)."""

    kind: str = Field(min_length=1, description="e.g. new_server, hardware_replacement, software_upgrade, os_upgrade")
    starts: datetime = Field(alias="from")
    ends: datetime = Field(alias="to")
    note: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> "PlannedEvent":
        if self.starts.tzinfo is None or self.ends.tzinfo is None:
            raise ValueError("from and to need a UTC offset (e.g. 2026-03-10T22:00:00-05:00)")
        if self.ends <= self.starts:
            raise ValueError(f"the planned event ends ({self.ends.isoformat()}) before it starts")
        if not (computable(self.starts) and computable(self.ends)):
            raise ValueError(f"the planned event is {OUT_OF_RANGE}")
        return self

    def active(self, when: datetime) -> bool:
        return self.starts <= when < self.ends


class Incidents(Strict):
    balance: int = Field(ge=0, description="unused incidents at the start of the contract year")
    year_start: date


class Customer(Strict):
    id: str
    name: str
    contract: str
    plan: str = "standard"
    addons: dict[str, AddonPurchase] = Field(default_factory=dict)
    organizations: dict[str, list[str]] = Field(default_factory=dict, description="vendor -> organization ids")
    domains: list[Domain] = Field(default_factory=list)
    designated_users: list[Email] = Field(default_factory=list, description="e-mails, in order of designation")
    administrators: list[Email] = Field(default_factory=list, description="licensed administrators / customer contacts")
    contacts: list[Email] = Field(default_factory=list)
    tam: Route | None = None
    term: Term
    good_standing: bool = True
    region: Region | None = None
    incidents: Incidents | None = None
    planned_events: list[PlannedEvent] = Field(default_factory=list)

    def has(self, email: str | None, people: list[str]) -> bool:
        return bool(email) and email.lower() in _lowered(tuple(people))

    def listed(self) -> list[str]:
        """Designated users, then the contacts not among them (as compared: in any case), in file order: whom
        an add-on's tier of users counts."""
        designated = _lowered(tuple(self.designated_users))
        return self.designated_users + [c for c in self.contacts if c.lower() not in designated]


@lru_cache(maxsize=1024)
def _lowered(people: tuple[str, ...]) -> frozenset[str]:
    """A list of e-mails as compared (remembered: each decision asks about the same lists again)."""
    return frozenset(p.lower() for p in people)


class CustomersFile(Strict):
    customers: list[Customer]


class Directory:
    """Contracts by id and customers with look-ups by vendor organization, e-mail and domain."""

    def __init__(self, contracts: dict[str, Contract], customers: list[Customer]):
        self.contracts = contracts
        self.customers = {c.id: c for c in customers}
        self._by_org = {(v, o): c for c in customers for v, ids in c.organizations.items() for o in ids}
        self._by_email = {e.lower(): c for c in customers
                          for e in (*c.designated_users, *c.administrators, *c.contacts)}
        self._by_domain = {d.lower(): c for c in customers for d in c.domains}
        self.ledger = lambda customer_id: []  # (epoch, delta, reason) rows; the worker binds the store's
        self.stored_events = lambda customer_id: []  # planned events added at run time; the worker binds the store's

    @classmethod
    def empty(cls) -> "Directory":
        return cls({}, [])

    def find(self, vendor: str, organization: str | None, email: str | None,
             also: tuple[str, ...] = ()) -> tuple[Customer | None, str]:
        """The customer and how it was found ('organization', 'e-mail', 'domain' or 'none'); ``also``: further
        organization ids of the ticket, tried in order after ``organization``."""
        for known in (organization, *also):
            if known and (vendor, known) in self._by_org:
                return self._by_org[(vendor, known)], "organization"
        if email:
            if email.lower() in self._by_email:
                return self._by_email[email.lower()], "e-mail"
            domain = email.rpartition("@")[2].lower()
            if domain in self._by_domain:
                return self._by_domain[domain], "domain"
        return None, "none"

    def planned_kinds(self, customer: Customer, when: datetime) -> tuple[str, ...]:
        """The kinds of the customer's planned events active at ``when`` (customers file and database)."""
        events = [*customer.planned_events, *self.stored_events(customer.id)]
        return tuple(sorted({e.kind for e in events if e.active(when)})) if events else ()

    def contract_for(self, customer: Customer | None) -> Contract | None:
        return self.contracts.get(customer.contract) if customer else None

    def billed_customer(self, vendor: str, organization: str | None, email: str | None,
                        also: tuple[str, ...] = ()) -> str | None:
        """The id of the customer these name, if its contract bills incidents (a ledger its tickets share)."""
        customer, _ = self.find(vendor, organization, email, also)
        contract = self.contract_for(customer)
        return customer.id if contract is not None and contract.billing is not None else None


CONTRACT_FILES = ("*.yaml", "*.yml")


def contract_files(contracts_dir: str | Path | None) -> list[Path]:
    folder = Path(contracts_dir) if contracts_dir else None
    return sorted(p for pattern in CONTRACT_FILES for p in folder.glob(pattern)) if folder and folder.is_dir() else []


def load(contracts_dir: str | Path | None, customers_file: str | Path | None,
         vendors: Collection[str] | None = None) -> tuple[Directory, list[str]]:
    """Load and check everything; the directory holds what loaded, the list says what did not.

    With ``vendors`` (the installed connectors), a customer's ``organizations`` may only name those.
    A contract that does not load is reported once, not again for each of its customers.
    """
    problems: list[str] = []
    contracts: dict[str, Contract] = {}
    broken: set[str] = set()
    where: dict[str, Path] = {}
    for path in contract_files(contracts_dir):
        contract = _load_contract(path, problems)
        if contract is None:
            broken |= {path.stem, _declared_id(path)}
            continue
        if contract.id in contracts:
            problems.append(f"{path}: id: contract {contract.id!r} is also defined in {where[contract.id]}")
            continue
        contracts[contract.id], where[contract.id] = contract, path
    if contracts_dir and not Path(contracts_dir).is_dir():
        problems.append(f"{contracts_dir}: contracts folder not found")
    customers = (_load_customers(Path(customers_file), contracts, problems, broken - set(contracts), vendors)
                 if customers_file else [])
    return Directory(contracts, customers), problems


def _declared_id(path: Path) -> str:
    try:
        data, _ = yamlfile.load(path)
    except yamlfile.FileProblem:
        return path.stem
    return str(data.get("id")) if isinstance(data, dict) and data.get("id") else path.stem


def route_group_problems(contracts_dir: str | Path | None, customers_file: str | Path | None,
                         resolve: Callable[[str, str | None], str | None]) -> list[str]:
    """Every ``route.group`` (contracts) and ``tam.group`` (customers) that ``resolve(name, vendor)`` cannot
    map to a vendor's id, as ``file:line: key.path: message``; ``vendor`` is None for a name used by all."""
    files = contract_files(contracts_dir)
    if customers_file and Path(customers_file).is_file():
        files.append(Path(customers_file))
    found = []
    for path in files:
        try:
            data, lines = yamlfile.load(path)
        except yamlfile.FileProblem:
            continue  # reported by load()
        for loc, group in _route_groups(data, ()):
            per_vendor = group.items() if isinstance(group, dict) else [(None, group)]
            for vendor, name in per_vendor:
                message = resolve(str(name), vendor) if name is not None else None
                if message:
                    found.append(_located(path, lines, loc + ((vendor,) if vendor else ()), message))
    return found


def _route_groups(node, loc: tuple):
    """(location of ``group``, its value) for every route-like mapping (``route``, ``tam``) in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("route", "tam") and isinstance(value, dict) and value.get("group") is not None:
                yield loc + (key, "group"), value["group"]
            yield from _route_groups(value, loc + (key,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _route_groups(item, loc + (i,))


def _load_contract(path: Path, problems: list[str]) -> Contract | None:
    try:
        data, lines = yamlfile.load(path)
        contract = Contract.model_validate(data)
    except yamlfile.FileProblem as exc:
        problems.append(str(exc))
        return None
    except ValidationError as exc:
        problems.extend(yamlfile.problems(path, exc, lines))
        return None
    found = cross_check(contract)
    problems.extend(_located(path, lines, loc, message) for loc, message in found)
    return None if found else contract


def _load_customers(path: Path, contracts: dict[str, Contract], problems: list[str], broken: set[str] = frozenset(),
                    vendors: Collection[str] | None = None) -> list[Customer]:
    try:
        data, lines = yamlfile.load(path)
        customers = CustomersFile.model_validate(data).customers
    except yamlfile.FileProblem as exc:
        problems.append(str(exc))
        return []
    except ValidationError as exc:
        problems.extend(yamlfile.problems(path, exc, lines))
        return []
    found: list[tuple[tuple, str]] = []
    seen_ids: set[str] = set()
    owners: dict[tuple[str, str], str] = {}
    domains: dict[str, str] = {}
    emails: dict[str, str] = {}
    waiting: dict[str, int] = {}  # customers of a contract that did not load: reported once
    for i, customer in enumerate(customers):
        loc = ("customers", i)
        if customer.id in seen_ids:
            found.append((loc + ("id",), f"customer id {customer.id!r} is used twice"))
        seen_ids.add(customer.id)
        for k, domain in enumerate(customer.domains):
            if domain.lower() in domains:
                found.append((loc + ("domains", k), f"domain {domain} also belongs to {domains[domain.lower()]}: "
                                                    "an e-mail there could not tell the two apart"))
            domains.setdefault(domain.lower(), customer.id)
        for key in ("designated_users", "administrators", "contacts"):
            for k, email in enumerate(getattr(customer, key)):
                owner = emails.setdefault(email.lower(), customer.id)
                if owner != customer.id:
                    found.append((loc + (key, k), f"e-mail {email} also belongs to {owner}: a ticket without an "
                                                  "organization could not tell the two apart"))
        for vendor, ids in customer.organizations.items():
            if vendors is not None and vendor not in vendors:
                found.append((loc + ("organizations", vendor), f"no installed connector is called {vendor!r} "
                                                               f"(installed: {', '.join(sorted(vendors)) or 'none'})"))
            for k, org in enumerate(ids):
                if (vendor, org) in owners:
                    found.append((loc + ("organizations", vendor, k),
                                  f"{vendor} organization {org} also belongs to {owners[(vendor, org)]}"))
                owners[(vendor, org)] = customer.id
        contract = contracts.get(customer.contract)
        if contract is None and customer.contract in broken:
            waiting[customer.contract] = waiting.get(customer.contract, 0) + 1
            continue
        if contract is None:
            found.append((loc + ("contract",), f"unknown contract {customer.contract!r} (loaded: "
                                               f"{', '.join(sorted(contracts)) or 'none'})"))
            continue
        found.extend(_customer_problems(customer, contract, loc))
    problems.extend(_located(path, lines, loc, message) for loc, message in found)
    problems.extend(f"{path}: {n} customer(s) of contract {name!r} not checked: the contract did not load (above)"
                    for name, n in sorted(waiting.items()))
    return customers if not found and not waiting else [c for c in customers if c.contract in contracts]


def _customer_problems(customer: Customer, contract: Contract, loc: tuple) -> list[tuple[tuple, str]]:
    found = []
    plan = contract.plans.get(customer.plan)
    if plan is None:
        found.append((loc + ("plan",), f"contract {contract.id} has no plan {customer.plan!r} "
                                       f"(plans: {', '.join(contract.plans)})"))
    elif plan.designated_users_cap and len(customer.designated_users) > plan.designated_users_cap:
        found.append((loc + ("designated_users",), f"{len(customer.designated_users)} designated users, but plan "
                                                   f"{customer.plan} allows up to {plan.designated_users_cap}"))
    if plan is not None and plan.tam and customer.tam is None and any(s.to_tam for s in contract.escalation.ladder):
        found.append((loc + ("plan",), f"plan {customer.plan} of contract {contract.id} comes with a Technical "
                                       "Account Manager, whom its escalation ladder assigns: give tam (a group and/or "
                                       "an assignee per vendor)"))
    for name, purchase in customer.addons.items():
        addon = contract.addons.get(name)
        if addon is None:
            found.append((loc + ("addons", name), f"contract {contract.id} has no add-on {name!r}"))
        elif addon.max_users and purchase.users and purchase.users > addon.max_users:
            found.append((loc + ("addons", name, "users"), f"{purchase.users} users is above the {addon.max_users} "
                                                           f"that add-on {name} is sold for (custom pricing: define "
                                                           f"an add-on of its own in contract {contract.id})"))
        elif addon.tier_size and purchase.users and purchase.users % addon.tier_size:
            found.append((loc + ("addons", name, "users"), f"{purchase.users} users is not a tier of "
                                                           f"{addon.tier_size}"))
    if customer.term.end and customer.term.end < customer.term.start:
        found.append((loc + ("term", "end"), f"the term ends ({customer.term.end}) before it starts "
                                             f"({customer.term.start})"))
    if contract.billing and customer.incidents is None and any(
            c.check == "incidents_available" for c in contract.entitlement.checks):
        found.append((loc + ("incidents",), f"contract {contract.id} bills incidents: give a balance and year_start"))
    return found


def _located(path: Path, lines: yamlfile.Lines, loc: tuple, message: str) -> str:
    line = yamlfile.line_of(lines, loc)
    return f"{path}{f':{line}' if line else ''}: {yamlfile.key_path(loc)}: {message}"
