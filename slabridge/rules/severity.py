"""Which severity a ticket really has, what kind of request it is, and telling the customer.

The customer's designated level is the first vendor priority slabridge saw.
Classification rules may decide another level; the contract says whether and
in which direction support may reclassify, what the customer is told, and how
an appeal freezes further automatic reclassification.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from slabridge import hookimpl
from slabridge.models import Reason
from slabridge.verdicts import Classification

from slabridge.phrases import first_phrase

from .matching import (by_support, calendars_for, field_holds, first_pattern, is_requester, level_of, matches,
                       new_comment, own_words, sentences, ticket_text, vendor_priority)


class SeverityRules:
    name = "severity"

    def __init__(self, settings=None):
        pass

    @hookimpl(trylast=True)
    def slabridge_classify(self, event, entitlement, contract, now, state):
        if contract is None:
            return None
        tags, notes, replies, reasons = [], [], [], []
        memory = _still_defined(dict(state.memory), contract, reasons)
        shown = level_of(contract, event.vendor, event.priority)
        designated = memory.get("designated") or shown or contract.default_level
        text = ticket_text(event)
        calendar_for = calendars_for(contract, None)
        planned = entitlement.planned_events if entitlement is not None else ()
        group = status = None

        level_rule, type_rule = None, None
        for rule in contract.classification:
            if (rule.level and level_rule) or (not rule.level and rule.request_type and type_rule):
                continue
            why = matches(rule.when, event, text, contract, designated, calendar_for, planned)
            if why is None:
                continue
            veto = next((v for m in rule.unless
                         if (v := matches(m, event, text, contract, designated, calendar_for, planned))), None)
            if veto:
                reasons.append(Reason(rule=f"classify.{rule.id}", clause=rule.source,
                                      text=f"rule {rule.id} matched ({why}) but does not apply: {veto}"))
                continue
            if rule.level and not level_rule:
                level_rule = (rule, why)
            if rule.request_type and not type_rule:
                type_rule = (rule, why)

        appealed = memory.get("appealed", False)
        appeal = contract.reclassification.appeal if contract.reclassification else None
        if appeal and not appealed and self._appeal_signal(appeal, event, contract):
            appealed = True
            tags.append(appeal.tag)
            notes.append(appeal.note)
            group = appeal.route.for_vendor(event.vendor)[0] if appeal.route else None
            reasons.append(Reason(rule="classify.appeal", clause=appeal.source,
                                  text="the customer appealed the reclassification"))
        if appealed and appeal:
            tags.append(appeal.tag)
            group = group or (appeal.route.for_vendor(event.vendor)[0] if appeal.route else None)

        policy = contract.reclassification
        basis = _basis(event, shown, contract, planned)
        agent = self._agent_change(event, state, contract, shown, memory, designated, reasons, notes)
        priority = None
        if agent is not None:
            decided, priority = agent
        elif memory.get("agent_level"):
            decided = memory["agent_level"]
            reasons.append(Reason(rule="classify.agent", text=f"an agent set {decided}: slabridge follows"))
        elif memory.get("basis") == basis and memory.get("level") and not _customer_words(event) and not appealed:
            decided = memory["level"]  # nothing the level was decided from has changed: no flip
            reasons.append(Reason(rule="classify.unchanged", text=f"text and priority unchanged: {decided} stands"))
            if decided != designated and policy and policy.allowed:
                priority = vendor_priority(contract, event.vendor, decided)
        else:
            decided = self._decide(contract, designated, level_rule, memory, appealed, shown, reasons)
        reclassified = (not memory.get("agent_level") and decided != designated and policy and policy.allowed
                        and not appealed)
        if reclassified:
            tags.append(policy.tag)
        if reclassified and level_rule and priority is None:
            priority = vendor_priority(contract, event.vendor, decided)
            rule, why = level_rule
            because = f"the request {why}, which matches our {decided} definition ({rule.id})"
            replies.append(policy.reply.format(designated=designated, decided=decided, reason=because))
            notes.append(f"slabridge reclassified {designated} -> {decided}: rule {rule.id} ({why}). "
                         f"Clause: {rule.source or rule.reading or 'n/a'}")
        if decided in contract.level_tags:
            tags.append(contract.level_tags[decided])

        request_type, sla = memory.get("request_type"), True
        if type_rule and not request_type:
            request_type = type_rule[0].request_type
            reasons.append(Reason(rule=f"classify.{type_rule[0].id}", clause=type_rule[0].source,
                                  text=f"request type {request_type}: {type_rule[1]}"))
        if request_type:
            kind = contract.request_types[request_type]
            tags += kind.tags
            sla = kind.sla
            if kind.route:
                group = group or kind.route.for_vendor(event.vendor)[0]
            replies += [kind.reply] if kind.reply else []
            notes += [kind.note] if kind.note else []
            status = "solved" if kind.close else None

        phi_kinds = [name for name, pattern in (contract.phi.patterns.items() if contract.phi else ())
                     if first_pattern([pattern], text)]
        if phi_kinds:
            tags.append(contract.phi.tag)
            notes.append(contract.phi.note.format(kinds=", ".join(phi_kinds)))
            reasons.append(Reason(rule="classify.phi", clause=contract.phi.source,
                                  text=f"text resembles PHI ({', '.join(phi_kinds)}); not repeated anywhere"))

        memory.update(designated=designated, level=decided, appealed=appealed, request_type=request_type, basis=basis)
        return Classification(
            severity=decided, designated=designated, request_type=request_type, vendor_priority=priority, sla=sla,
            group=group, status=status, tags=tuple(tags), note="\n\n".join(notes) or None,
            reply="\n\n".join(replies) or None, reasons=tuple(reasons), memory=memory)

    def _agent_change(self, event, state, contract, shown, memory, designated, reasons, notes):
        """(level, vendor priority to write) when a support agent changed the priority themselves, else None.

        The contract's ``reclassification.agent_changes`` says whether slabridge follows (the default) or
        restores a lowering once, with a note; either way the change is recorded with its reason.
        """
        last = state.last_event
        actor = event.actor
        by_agent = actor.is_agent is True or (actor.is_agent is None and not actor.is_automation and not actor.is_self
                                              and actor.id not in (None, event.requester.id)
                                              and (actor.email or "").lower() != (event.requester.email or "").lower())
        before = memory.get("priority_after", last.priority if last else None)
        if last is None or shown is None or not by_agent or event.priority == before or "priority" in event.absent:
            return None
        previous = memory.get("level") or designated
        order = list(contract.levels)
        policy = contract.reclassification
        rule = policy.agent_changes if policy else "follow"
        clause = policy.source if policy else None
        who = actor.name or actor.email or actor.id or "an agent"
        if rule == "raise_only" and order.index(shown) > order.index(previous) and not memory.get("agent_restored"):
            memory["agent_restored"] = True
            reasons.append(Reason(rule="classify.agent", clause=clause, inputs={"agent": who, "set": shown},
                                  text=f"{who} lowered {previous} to {shown}; agents may only raise: restored once"))
            notes.append(f"slabridge restored {previous}: {who} lowered the priority to {shown}, and this contract "
                         f"lets agents only raise a decided level. Set it again to insist; slabridge will follow.")
            return previous, vendor_priority(contract, event.vendor, previous)
        memory["agent_level"] = shown
        reasons.append(Reason(rule="classify.agent", clause=clause, inputs={"agent": who, "set": shown},
                              text=f"{who} set the priority to {shown} (was {previous}): slabridge follows"))
        notes.append(f"slabridge follows {who}'s priority change to {shown} (was {previous}) and will not change "
                     f"the level of this ticket automatically any more.")
        return shown, None

    def _decide(self, contract, designated, level_rule, memory, appealed, shown, reasons) -> str:
        if appealed:
            frozen = memory.get("level") or designated
            reasons.append(Reason(rule="classify.frozen", text=f"appealed: automatic reclassification frozen at {frozen}"))
            return frozen
        if level_rule is None:
            reasons.append(Reason(rule="classify.designated", text=f"no rule matched: the designated {designated} stands"))
            return designated
        rule, why = level_rule
        order = list(contract.levels)
        direction = contract.reclassification.direction if contract.reclassification else "any"
        higher = order.index(rule.level) < order.index(designated)
        if rule.level == designated or (direction == "raise_only" and not higher) or (
                direction == "lower_only" and higher):
            reasons.append(Reason(rule=f"classify.{rule.id}", clause=rule.source,
                                  text=f"rule {rule.id} ({why}) suggests {rule.level}; {designated} stands "
                                       f"(direction {direction})"))
            return designated
        reasons.append(Reason(rule=f"classify.{rule.id}", clause=rule.source, inputs={"designated": designated},
                              text=f"rule {rule.id} matched ({why}): {rule.level}"))
        return rule.level

    def _appeal_signal(self, appeal, event, contract) -> bool:
        if any(field_holds(event.custom_fields.get(f, ""), accepted) for f, accepted in appeal.accepted.items()):
            return True
        comment = new_comment(event)
        return bool(comment and not comment.author.is_agent and not comment.author.is_automation
                    and (comment.author.email is None or is_requester(comment.author, event))
                    and _asks_appeal(appeal, own_words(comment.body), contract.language))


def _asks_appeal(appeal, text: str, language: str) -> bool:
    """An appeal phrase is in ``text``; with ``appeal.unless``, in a sentence that does not also say the customer
    does not appeal ("I do not want to appeal. Thanks."), while another sentence's appeal counts ("Not happy with
    this. APPEAL")."""
    if not appeal.unless:
        return bool(first_phrase(appeal.phrases, text, language))
    return any(first_phrase(appeal.phrases, sentence, language) and not first_phrase(appeal.unless, sentence, language)
               for sentence in sentences(text))


def _still_defined(memory: dict, contract, reasons: list) -> dict:
    """``memory`` without the levels and request type it names that the contract no longer defines (renamed or
    removed since the ticket was decided): those are decided afresh, and a reason says so."""
    levels, kind = contract.levels, memory.get("request_type")
    designated, level, agent = memory.get("designated"), memory.get("level"), memory.get("agent_level")
    if ((not designated or designated in levels) and (not level or level in levels) and (not agent or agent in levels)
            and (not kind or kind in contract.request_types)):
        return memory  # the usual case, asked on every decision
    gone = {name: memory[name] for name in ("designated", "level", "agent_level")
            if memory.get(name) and memory[name] not in levels}
    if kind and kind not in contract.request_types:
        gone["request_type"] = kind
    memory.update(dict.fromkeys(gone))  # forgotten: None, as the verdict's memory only sets keys
    if gone:
        memory["basis"] = None
        reasons.append(Reason(rule="classify.contract_changed", inputs=gone, text="the contract no longer defines "
                              f"{', '.join(sorted(set(map(str, gone.values()))))}, which this ticket had: decided "
                              "afresh"))
    return memory


def _basis(event, shown, contract, planned) -> str:
    """What a level is decided from, as a digest: the ticket's text, its priority, the tags classification
    looks at (an agent's ``planned_event`` tag added later counts) and the planned events under way."""
    return _digest(shown, event.subject, event.description, event.tags, contract.watched_tags, planned)


@lru_cache(maxsize=1024)
def _digest(shown, subject, description, tags, watched, planned) -> str:
    """Remembered: a ticket's events and timers carry the same texts (the same objects, hashed once)."""
    looked_at = ",".join(sorted(t for t in tags if t in watched))
    facts = f"{shown}\0{subject}\0{description}\0{looked_at}\0{','.join(planned)}"
    return hashlib.sha256(facts.encode()).hexdigest()[:16]


def _customer_words(event) -> bool:
    """The event brings new words from the customer (a public comment not by support)."""
    comment = new_comment(event)
    return bool(comment and comment.public and comment.body and not comment.author.is_automation
                and not by_support(comment.author, event) and own_words(comment.body).strip())
