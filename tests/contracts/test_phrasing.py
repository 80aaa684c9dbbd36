"""Each level of each seed contract, recognised from texts written the way customers write,
not copied from the phrase lists (other word forms, other word order, punctuation, case)."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from slabridge.directory import load
from slabridge.engine import TicketState
from slabridge.models import TicketEvent, TicketRef
from slabridge.phrases import first_phrase
from slabridge.plugins import Plugins
from slabridge.verdicts import Entitlement

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = load(ROOT / "examples" / "contracts", None)[0]
NOW = datetime(2026, 3, 11, 15, 0, tzinfo=timezone.utc)  # a Wednesday, business hours everywhere
LOWEST = {"caret": "low", "interopion": "low", "poologics": "low", "triage-desk": "low", "infraware": "low"}

CASES = [
    # contract, text, expected level (None: no rule, the designated level stands), expected request type
    ("caret", "Since last night's patch our invoices are corrupted and some records appear to be LOST.", "sev1", None),
    ("caret", "The CARET application went down for the whole office at 9am.", "sev1", None),
    ("caret", "Payroll failed to run; everything else in the app still works.", "sev2", None),
    ("caret", "We're unable to submit timesheets, which disrupts our operations badly.", "sev2", None),
    ("caret", "The export button label is misspelled.", None, None),
    ("interopion", "Since the update the reports produce totally incorrect totals.", "P1", None),
    ("interopion", "Our whole system is down - nobody can use it.", "P1", None),
    ("interopion", "Search is EXTREMELY slow, every query takes minutes.", "P2", None),
    ("interopion", "The login page keeps timing out for the billing team.", "P2", None),
    ("interopion", "A small cosmetic glitch: the logo is blurry. We can work around it.", "P3", None),
    ("interopion", "We'd like the ability to export to PDF - a new feature for our team.", None, "feature_request"),
    ("poologics", "We are blocked: estimates can't be generated for any client.", "critical", None),
    ("poologics", "Since this morning it's impossible to send a proposal to customers.", "critical", None),
    ("poologics", "Proposal generation keeps failing with an error.", "critical", None),
    ("poologics", "The estimate totals are rounded differently from last month.", None, None),
    ("triage-desk", "Our site is completely down, no users are able to log on.", "emergency", None),
    ("triage-desk", "HELP - everyone is locked out since 6am!", "emergency", None),
    ("triage-desk", "After we replaced the server hardware last night nobody can log in.", None, None),
    ("triage-desk", "One of our nurses forgot her password.", None, None),
    ("infraware", "Could you customize the intake form for us? We are happy to pay for it.", None, "feature_paid"),
    ("infraware", "How much would it cost to build a custom billing report?", None, "feature_paid"),
    ("infraware", "A suggestion for everyone: dark mode would be nice.", None, "feature_suggestion"),
    ("infraware", "Please import our data from the old system.", None, "service_request"),
    ("infraware", "Our customer visit is scheduled for Friday at the Riverside clinic.", None, "scheduled_visit"),
]


@pytest.mark.parametrize("contract_id, text, level, request_type", CASES, ids=[f"{c}-{i}" for i, (c, *_)
                                                                               in enumerate(CASES)])
def test_each_level_is_recognised_from_ordinary_wording(contract_id, text, level, request_type):
    contract = DIRECTORY.contracts[contract_id]
    event = TicketEvent(vendor="zendesk", delivery_id="d", ticket=TicketRef(vendor="zendesk", id="1"),
                        kind="created", subject="Support request", description=text, priority=LOWEST[contract_id],
                        occurred_at=NOW, created_at=NOW)
    classification = Plugins(load_entry_points=False).classify(
        event, Entitlement(entitled=True, plan="standard", customer="x"), contract, NOW,
        TicketState(ticket=event.ticket))
    designated = classification.designated
    assert classification.severity == (level or designated), classification.reasons
    assert classification.request_type == request_type


@pytest.mark.parametrize("phrase, text, hit", [
    ("block", "we are blocking everyone", True), ("generate", "estimate generation is down", True),
    ("site ... down", "the site is DOWN", True), ("site ... down", "site. It went", False),
    ("log on", "can't log-on", True), ("customiz*", "a customer visit", False),
    ("customiz*", "customized forms", True), ("data loss", "we LOST data", False),
    ("=appeal", "I APPEAL this", True), ("=appeal", "the new screen is appealing", False),
    ("=appeal", "we appealed", False), ("appeal", "the new screen is appealing", True),
    ("please ... =appeal", "please do appeal.", True), ("=custom*", "customized forms", True),
])
def test_phrases_match_word_stems_not_letters(phrase, text, hit):
    assert (first_phrase([phrase], text) == phrase) is hit


def test_check_explain_shows_which_rule_matches_a_text_and_why():
    from click.testing import CliRunner

    from slabridge.cli import main

    args = ["check", "--contracts", str(ROOT / "examples" / "contracts"), "--customers",
            str(ROOT / "examples" / "customers.yaml")]
    result = CliRunner().invoke(main, args + ["--explain", "Site DOWN since we upgraded the OS", "--contract",
                                              "triage-desk"])
    assert result.exit_code == 0, result.output
    assert ('triage-desk: rule site-down (emergency): matched (mentions "site ... down") but does not apply: '
            'mentions "upgrad* ... os"') in result.output
    unknown = CliRunner().invoke(main, args + ["--explain", "x", "--contract", "nope"])
    assert unknown.exit_code == 2 and "no such contract" in unknown.output


def test_threads_matching_phrases_at_once_get_the_answers_one_thread_gets(frequent_switches):
    """Worker threads stem tickets' words at the same time; a Snowball stemmer is not safe to share."""
    from slabridge.phrases import indexed
    from slabridge.testing.threads import at_once

    texts = [f"ticket {n}: customers reporting {word} failures, generating estimates, logging on"
             for n in range(400) for word in ("blocked", "unavailable", "connections")]
    expected = [indexed(text) for text in texts]
    indexed.cache_clear()
    answers = at_once(6, lambda index: [indexed(text) for text in texts[index::6]])
    assert all(answers[index] == expected[index::6] for index in range(6))


@pytest.mark.parametrize("comment, appealed", [
    ("I appeal this, it only affects one report.", True), ("APPEAL", True),
    ("The new scheduling screen is very appealing, thanks.", False), ("We appealed to our board.", False),
    ("Thanks, understood.\n\nOn Mon, 9 Mar 2026 at 10:02, Interopion Support wrote:\n> We have reclassified this "
     "request from P3 to P1.\n> If you disagree, reply with the word APPEAL and our Support management will "
     "review the priority.", False),  # the reply, quoted back by the customer's mail client
    ("APPEAL please\n\n> If you disagree, reply with the word APPEAL", True),
    ("Thanks for explaining. I do not want to appeal, P1 is right.", False), ("No need to appeal, thanks!", False),
    ("We won't appeal.", False), ("Not happy with this. APPEAL", True), ("Don't lower it again; APPEAL", True),
    ("I appeal: do not change it back.", True),
])
def test_interopions_appeal_is_the_word_it_asks_for_not_its_stem(comment, appealed):
    """The reply says "reply with the word APPEAL"; matched by its stem, "appealing" routed the ticket to Support
    management and froze its priority. So did a "Thanks" that quoted the reply back, as mail clients do, and "I do
    not want to appeal" (the contract's `unless`, within one sentence)."""
    from datetime import timedelta

    from slabridge.config import Settings
    from slabridge.models import Actor, Comment, Organization, Person
    from slabridge.simulation import Simulation

    sim = Simulation(Plugins(Settings(), load_entry_points=False),
                     load(ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")[0])

    def event(n, kind, **kw):
        return TicketEvent(vendor="zendesk", delivery_id=f"d{n}", ticket=TicketRef(vendor="zendesk", id="101"),
                           kind=kind, requester=Person(email="casey@fabrikam.example"),
                           organization=Organization(id="9100"), priority="normal", subject="Scheduling inoperable",
                           description="The scheduling module is inoperable for all users.", created_at=NOW,
                           occurred_at=NOW + timedelta(minutes=n), **kw)

    assert sim.feed(event(0, "created")).decision.severity == "P1"  # reclassified from P3, and told how to appeal
    words = Comment(author=Actor(email="casey@fabrikam.example"), body=comment)
    outcome = sim.feed(event(20, "comment", comment=words))
    assert any(r.rule == "classify.appeal" for r in outcome.decision.reasons) is appealed
