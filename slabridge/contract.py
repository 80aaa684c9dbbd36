"""The contract language: one YAML file per support agreement.

Every clause may carry ``source:`` (the agreement text it encodes) and
``reading:`` (how an ambiguous term was read). This module is the schema;
:func:`cross_check` finds what the schema alone cannot (a target naming an
unknown calendar, a vendor value mapped to two levels, ...).
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cached_property
from string import Formatter
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .calendar import CalendarSpec, known_zone, parse_duration



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clause(Strict):
    source: str | None = None
    reading: str | None = None


def _duration(value):
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    return parse_duration(value) if isinstance(value, str) else value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


MAX_DURATION = timedelta(days=3650)


def _bounded(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("a duration cannot be negative")
    if value > MAX_DURATION:
        raise ValueError(f"a duration of more than {MAX_DURATION.days} days is not a service commitment")
    return value


def _template(*names: str) -> AfterValidator:
    """A text whose ``{placeholders}`` are only ``names``: any other would fail each decision that fills it in."""
    allowed = ", ".join(f"{{{n}}}" for n in names)

    def check(value: str) -> str:
        try:
            wrong = [f"{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
                     for _, field, spec, conversion in Formatter().parse(value)
                     if field is not None and (field not in names or spec or conversion)]
        except ValueError as exc:
            raise ValueError(f"{exc} (placeholders: {allowed}; write {{{{ and }}}} for a brace)") from None
        if wrong:
            raise ValueError(f"placeholder {wrong[0]} is not one of {allowed} (write each as it is, and {{{{ and "
                             "}} for a brace)")
        return value
    return AfterValidator(check)


Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_bounded)]
Regex = Annotated[str, AfterValidator(_regex)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class Route(Strict):
    """Where a ticket goes: a group and/or an assignee, per vendor or for all."""

    group: str | dict[str, str] | None = None
    assignee: str | dict[str, str] | None = None

    def for_vendor(self, vendor: str) -> tuple[str | None, str | None]:
        pick = lambda v: v.get(vendor) if isinstance(v, dict) else v  # noqa: E731
        return pick(self.group), pick(self.assignee)


# --- severity -----------------------------------------------------------------


class Level(Clause):
    """One severity level; ``priorities`` maps each vendor's values to it (the first is written back)."""

    definition: str
    priorities: dict[str, list[str]] = Field(default_factory=dict)


def _lowered_values(fields: dict[str, list[str]]) -> dict[str, frozenset[str]]:
    return {name: frozenset(v.lower() for v in values) for name, values in fields.items()}


class Match(Strict):
    """Conditions on a ticket; every condition given must hold."""

    phrases: list[Phrase] = Field(default_factory=list, description=(
        "any of these, on word stems (case and punctuation ignored); '...' allows up to 6 words between parts"))
    patterns: list[Regex] = Field(default_factory=list, description="any of these regular expressions")
    fields: dict[str, list[str]] = Field(default_factory=dict, description="custom field -> accepted values")
    levels: list[str] = Field(default_factory=list, description="the customer's designated level is one of these")
    statuses: list[str] = Field(default_factory=list)
    window: str | None = Field(default=None, description="'calendar.window': the event falls in this window")
    tags: list[str] = Field(default_factory=list, description="the ticket has one of these tags")
    planned_events: list[str] = Field(default_factory=list, description=(
        "a planned event of one of these kinds ('*': any) is active for the customer when the ticket arrived"))

    @cached_property
    def accepted(self) -> dict[str, frozenset[str]]:
        """``fields`` with each field's accepted values lower-cased, as compared."""
        return _lowered_values(self.fields)

    @cached_property
    def accepted_statuses(self) -> frozenset[str]:
        return frozenset(s.lower() for s in self.statuses)


class ClassificationRule(Clause):
    """If ``when`` holds and no ``unless`` does, the ticket has ``level`` (and/or ``request_type``)."""

    id: str
    when: Match
    unless: list[Match] = Field(default_factory=list)
    level: str | None = None
    request_type: str | None = None


class RequestType(Clause):
    """What a kind of request (incident, feature request, service request) gets."""

    kind: Literal["incident", "feature_request", "service_request"]
    tags: list[str] = Field(default_factory=list)
    route: Route | None = None
    reply: str | None = None
    note: str | None = None
    close: bool = False
    billable: bool = Field(default=False, description=(
        "a marker for whoever reads the contract (charges come from billing; tag the ticket to show it)"))
    sla: bool = True


class Appeal(Clause):
    phrases: list[Phrase] = Field(default_factory=list)
    unless: list[Phrase] = Field(default_factory=list, description=(
        "phrases that, in the same sentence as an appeal phrase, say the customer does not appeal "
        "(\"not ... =appeal\": \"I do not want to appeal\"); another sentence's appeal still counts"))
    fields: dict[str, list[str]] = Field(default_factory=dict)
    tag: str
    route: Route | None = None
    note: str
    freeze: bool = True

    @cached_property
    def accepted(self) -> dict[str, frozenset[str]]:
        """``fields`` with each field's accepted values lower-cased, as compared."""
        return _lowered_values(self.fields)


class Reclassification(Clause):
    """May support change the level the customer designated, and how is the customer told."""

    allowed: bool = True
    direction: Literal["any", "raise_only", "lower_only"] = "any"
    tag: str
    reply: Annotated[str, _template("designated", "decided", "reason")] = Field(
        description="placeholders: {designated}, {decided}, {reason}")
    appeal: Appeal | None = None
    agent_changes: Literal["follow", "raise_only"] = Field(default="follow", description=(
        "an agent's own priority change: 'follow' takes it as the ticket's level (recorded, never undone); "
        "'raise_only' follows a raise, restores a lowering once with an internal note, and follows it if "
        "the agent lowers again"))


class PhiPolicy(Clause):
    """Text that looks like PHI: tag and warn internally; the matched text is never repeated."""

    patterns: dict[str, Regex]
    tag: str
    note: Annotated[str, _template("kinds")] = Field(description="placeholder: {kinds}, the kinds of PHI seen")
    redact_in_logs: Literal[True] = Field(default=True, description=(
        "always true: slabridge never writes ticket text to its logs, and this cannot be turned off"))


# --- entitlement -----------------------------------------------------------------


class Plan(Clause):
    designated_users_cap: int | None = Field(default=None, ge=1)
    queue_tag: str | None = None
    standard_queue_tag: str | None = None
    tam: bool = False
    tags: list[str] = Field(default_factory=list)


class Addon(Clause):
    """A purchasable add-on, e.g. 24/7 coverage sold in tiers of N users."""

    coverage: str
    tier_size: int | None = Field(default=None, ge=1)
    max_users: int | None = Field(default=None, ge=1, description="above this, custom pricing")
    tag: str | None = None


class Check(Clause):
    check: Literal["within_term", "good_standing", "administrator", "contact_email", "incidents_available"]
    reply: str | None = Field(default=None, description="public reply to a requester who fails the check")
    term_day: Literal["opened", "event"] = Field(default="opened", description=(
        "within_term: the day judged, in the contract's time zone: the day the ticket was opened (it keeps the "
        "agreement it was opened under), or the day of each event"))

    @model_validator(mode="after")
    def _term_day_of_the_term(self) -> "Check":
        if self.term_day != "opened" and self.check != "within_term":
            raise ValueError(f"term_day is for the within_term check, not {self.check}")
        return self


class EntitlementPolicy(Clause):
    checks: list[Check] = Field(default_factory=list)
    not_entitled_tag: str = "sla_not_entitled"
    default_coverage: str = "business_hours"


# --- SLA ---------------------------------------------------------------------------


class Metric(Clause):
    """How a metric's clock runs; the kind fixes what starts and stops it."""

    kind: Literal["acknowledgement", "first_response", "next_response", "resolution_estimate",
                  "critical_notification", "periodic_update", "scheduled_visit", "resolution", "milestone"]
    human_only: bool = True
    start_tags: list[str] = Field(default_factory=list, description="start when one of these tags appears")
    start_field: str | None = Field(default=None, description="start at the instant in this custom field")
    advance: Duration | None = Field(default=None, description="only if booked at least this long ahead")
    date_only: Literal["not_started", "start_of_day"] = Field(default="not_started", description=(
        "a start field holding a day without a time (a date field): do not start (an internal note asks for the "
        "time), or start at that day's first instant in the contract's time zone (a business calendar counts "
        "from its opening)"))
    pause_statuses: list[str] = Field(default_factory=list, description="in any case, as every status is compared")
    stop_statuses: list[str] = Field(default_factory=list, description="in any case")
    stop_tags: list[str] = Field(default_factory=list, description="e.g. a tag agents add when an ETA was given")
    field: str | None = Field(default=None, description="name in the vendor's field mapping for the deadline")

    @cached_property
    def pausing(self) -> frozenset[str]:
        """``pause_statuses`` lower-cased, as compared."""
        return frozenset(s.lower() for s in self.pause_statuses)

    @cached_property
    def stopping(self) -> frozenset[str]:
        """``stop_statuses`` lower-cased, as compared."""
        return frozenset(s.lower() for s in self.stop_statuses)


class Target(Clause):
    """One commitment: metric x severity (x plan, coverage, arrival window) -> duration on a calendar."""

    metric: str
    levels: list[str] = Field(default_factory=list, description="empty: every level")
    plans: list[str] = Field(default_factory=list)
    coverage: list[str] = Field(default_factory=list)
    arrival_window: str | None = Field(default=None, description="'calendar.window' the ticket arrived in")
    request_types: list[str] = Field(default_factory=list)
    within: Duration
    calendar: str
    average: bool = Field(default=False, description="an average commitment, reported as an average")
    at: Literal["end_of_business_day"] | None = None


class Step(Clause):
    level: str
    trigger: Literal["warning", "breach"]
    metrics: list[str] = Field(default_factory=list)
    levels: list[str] = Field(default_factory=list, description="severity levels it applies to; empty: all")
    after: Duration = timedelta(0)
    calendar: str | None = Field(default=None, description=(
        "measure 'after' in this calendar's open time (say business hours); none: elapsed time"))
    route: Route | None = None
    to_tam: bool = Field(default=False, description="assign to the customer's Technical Account Manager")
    priority: str | None = Field(default=None, description="severity level whose vendor priority is set")
    note: str


class EscalationPolicy(Clause):
    warning_at: Fraction = 0.75
    warning_tag: str = "sla_at_risk"
    breach_tag: str = "sla_breached"
    ladder: list[Step] = Field(default_factory=list)


# --- billing -----------------------------------------------------------------------


class AppointmentCharge(Clause):
    first_minutes: int = Field(ge=1)
    first_incidents: int = Field(ge=0)
    then_minutes: int = Field(ge=1)
    then_incidents: int = Field(ge=0)


class Billing(Clause):
    per_ticket: int = Field(default=1, ge=0)
    charge_on: Literal["first_decision", "first_support_reply"] = Field(default="first_decision", description=(
        "when a ticket's incident is charged: when triage first decides it is a support request, or when "
        "support first replies to it in public"))
    appointment_field: str = Field(default="appointment_minutes",
                                   description="custom field agents set to a concluded appointment's minutes")
    appointment: AppointmentCharge | None = None
    appointment_changes: Literal["correct", "charge_again"] = Field(default="correct", description=(
        "a new value of the appointment field for an appointment already charged (the same label, or plain "
        "minutes again): correct charges or gives back the difference; charge_again charges it as a further "
        "appointment"))
    rollover_cap: int | None = Field(default=None, ge=0)
    exhausted_reply: str | None = Field(default=None, description=(
        "public reply when the incidents_available check refuses and gives no reply of its own"))


def _language(value: str) -> str:
    from .phrases import LANGUAGES

    if value not in LANGUAGES:
        raise ValueError(f"no stemmer for {value!r} (known: {', '.join(sorted(LANGUAGES))})")
    return value


def _phrase(value: str) -> str:
    from .phrases import GAP, phrase_parts

    parts = phrase_parts(value)
    if not any(parts) or (GAP in value and not all(parts)):
        raise ValueError(f"phrase {value!r} has no words to match (or an empty part around '{GAP}')")
    return value


Phrase = Annotated[str, AfterValidator(_phrase)]


class Contract(Clause):
    id: str
    name: str
    seed: str | None = None
    language: Annotated[str, AfterValidator(_language)] = Field(
        default="english", description="the language of the contract's phrases and its tickets (word stems)")
    calendars: dict[str, CalendarSpec] = Field(min_length=1)
    timezone: Annotated[str | None, AfterValidator(lambda v: v and known_zone(v))] = Field(
        default=None, description="the time zone the agreement's dates are days of (a customer's term, the "
        "contract year of prepaid incidents); default: its calendars' zone, where they share one")
    levels: dict[str, Level] = Field(min_length=1, description="severity levels, highest first")
    default_level: str
    level_tags: dict[str, str] = Field(default_factory=dict, description="level -> tag, e.g. P1 -> sla_p1")
    classification: list[ClassificationRule] = Field(default_factory=list)
    request_types: dict[str, RequestType] = Field(default_factory=dict)
    reclassification: Reclassification | None = None
    phi: PhiPolicy | None = None
    plans: dict[str, Plan] = Field(default_factory=lambda: {"standard": Plan()})
    addons: dict[str, Addon] = Field(default_factory=dict)
    entitlement: EntitlementPolicy = Field(default_factory=EntitlementPolicy)
    metrics: dict[str, Metric] = Field(default_factory=dict)
    targets: list[Target] = Field(default_factory=list)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    billing: Billing | None = None

    @model_validator(mode="after")
    def _one_zone_for_dates(self) -> "Contract":
        zones = sorted({calendar.timezone for calendar in self.calendars.values()})
        if self.timezone is None and len(zones) > 1:
            raise ValueError(f"its calendars are in several time zones ({', '.join(zones)}): set timezone, the one "
                             "the agreement's dates (a customer's term, the contract year) are days of")
        return self

    # --- compiled once, on first use: what the rules look up on every decision ---------------

    @cached_property
    def dates_zone(self) -> ZoneInfo:
        """The zone whose days the agreement's dates name (see ``timezone``)."""
        return ZoneInfo(self.timezone or next(iter(self.calendars.values())).timezone)

    @cached_property
    def level_by_priority(self) -> dict[tuple[str, str], str]:
        """(vendor, priority value lower-cased) -> the level it means (the first level listing it)."""
        found: dict[tuple[str, str], str] = {}
        for name, level in self.levels.items():
            for vendor, values in level.priorities.items():
                for value in values:
                    found.setdefault((vendor, value.lower()), name)
        return found

    @cached_property
    def watched_tags(self) -> frozenset[str]:
        """The tags any classification rule looks at."""
        return frozenset(t for rule in self.classification for m in (rule.when, *rule.unless) for t in m.tags)

    @cached_property
    def targets_by_metric(self) -> dict[str, list[Target]]:
        """Each metric's targets, in the contract's order (the first whose conditions hold applies)."""
        found: dict[str, list[Target]] = {name: [] for name in self.metrics}
        for target in self.targets:
            found.setdefault(target.metric, []).append(target)
        return found

    @cached_property
    def target_index(self) -> dict[tuple, tuple[Target, ...]]:
        """What :meth:`targets_for` found, by its arguments (filled as they are asked for)."""
        return {}

    def targets_for(self, metric: str, level: str | None, plan: str | None, coverage: str | None,
                    request_type: str | None) -> tuple[Target, ...]:
        """The metric's targets whose level, plan, coverage and request type conditions hold, in order
        (each may still name an arrival window)."""
        key = (metric, level, plan, coverage, request_type)
        found = self.target_index.get(key)
        if found is None:
            if len(self.target_index) >= 4096:  # a plugin's own levels or plans could be any text
                self.target_index.clear()
            found = self.target_index[key] = tuple(
                t for t in self.targets_by_metric.get(metric, ())
                if (not t.levels or level in t.levels) and (not t.plans or plan in t.plans)
                and (not t.coverage or coverage in t.coverage)
                and (not t.request_types or request_type in t.request_types))
        return found


Problem = tuple[tuple, str]


def cross_check(contract: Contract) -> list[Problem]:
    """Every reference that points nowhere, as (key path, message)."""
    found: list[Problem] = []
    levels, calendars = set(contract.levels), contract.calendars
    windows = {f"{c}.{w}" for c, spec in calendars.items() for w in spec.windows}
    coverages = [contract.entitlement.default_coverage, *(a.coverage for a in contract.addons.values())]

    def level(loc, name):
        if name is not None and name not in levels:
            found.append((loc, f"unknown severity level {name!r} (levels: {', '.join(contract.levels)})"))

    def window(loc, name):
        if name is not None and name not in windows:
            found.append((loc, f"unknown window {name!r} (known: {', '.join(sorted(windows)) or 'none'})"))

    level(("default_level",), contract.default_level)
    for name in contract.level_tags:
        level(("level_tags", name), name)
    seen: dict[tuple[str, str], str] = {}
    for name, spec in contract.levels.items():
        for vendor, values in spec.priorities.items():
            for i, value in enumerate(values):
                key = (vendor, value.lower())
                if key in seen and seen[key] != name:
                    found.append((("levels", name, "priorities", vendor, i),
                                  f"{vendor} priority {value!r} is already mapped to {seen[key]}"))
                seen[key] = name
    for i, rule in enumerate(contract.classification):
        loc = ("classification", i)
        level(loc + ("level",), rule.level)
        if rule.request_type and rule.request_type not in contract.request_types:
            found.append((loc + ("request_type",), f"unknown request type {rule.request_type!r}"))
        for j, match in enumerate([rule.when, *rule.unless]):
            sub = loc + (("when",) if j == 0 else ("unless", j - 1))
            window(sub + ("window",), match.window)
            for k, name in enumerate(match.levels):
                level(sub + ("levels", k), name)
    for i, target in enumerate(contract.targets):
        loc = ("targets", i)
        if target.metric not in contract.metrics:
            found.append((loc + ("metric",), f"unknown metric {target.metric!r} (defined: "
                                             f"{', '.join(contract.metrics) or 'none'})"))
        if target.calendar not in calendars:
            found.append((loc + ("calendar",), f"unknown calendar {target.calendar!r} (defined: "
                                               f"{', '.join(calendars)})"))
        for k, name in enumerate(target.levels):
            level(loc + ("levels", k), name)
        for k, plan in enumerate(target.plans):
            if plan not in contract.plans:
                found.append((loc + ("plans", k), f"unknown plan {plan!r}"))
        for k, coverage in enumerate(target.coverage):
            if coverage not in coverages:
                found.append((loc + ("coverage", k), f"unknown coverage {coverage!r} (the default_coverage and the "
                                                     f"add-ons': {', '.join(dict.fromkeys(coverages))})"))
        window(loc + ("arrival_window",), target.arrival_window)
        for k, kind in enumerate(target.request_types):
            if kind not in contract.request_types:
                found.append((loc + ("request_types", k), f"unknown request type {kind!r}"))
    for i, step in enumerate(contract.escalation.ladder):
        level(("escalation", "ladder", i, "priority"), step.priority)
        for k, name in enumerate(step.levels):
            level(("escalation", "ladder", i, "levels", k), name)
        for k, metric in enumerate(step.metrics):
            if metric not in contract.metrics:
                found.append((("escalation", "ladder", i, "metrics", k), f"unknown metric {metric!r}"))
        if step.calendar is not None and step.calendar not in calendars:
            found.append((("escalation", "ladder", i, "calendar"), f"unknown calendar {step.calendar!r} "
                                                                   f"(defined: {', '.join(calendars)})"))
    for name, addon in contract.addons.items():
        if addon.max_users and addon.tier_size and addon.max_users % addon.tier_size:
            found.append((("addons", name, "max_users"), f"{addon.max_users} is not a multiple of the tier size "
                                                         f"{addon.tier_size}"))
    needs_billing = any(c.check == "incidents_available" for c in contract.entitlement.checks)
    if needs_billing and contract.billing is None:
        found.append((("entitlement", "checks"), "the incidents_available check needs a billing section"))
    return found
