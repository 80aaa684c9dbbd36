"""The contract language: the five seed contracts load; every kind of mistake gets its message."""

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from slabridge.cli import main
from slabridge.contract import Contract
from slabridge.directory import CustomersFile, load
from slabridge.schemas import json_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEEDS = ["caret", "triage-desk", "infraware", "interopion", "poologics"]


@pytest.fixture
def workdir(tmp_path):
    """A copy of the examples to break."""
    shutil.copytree(EXAMPLES / "contracts", tmp_path / "contracts")
    shutil.copy(EXAMPLES / "customers.yaml", tmp_path / "customers.yaml")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def problems_of(workdir) -> list[str]:
    return load(workdir / "contracts", workdir / "customers.yaml")[1]


def test_every_seed_contract_and_the_customers_load():
    directory, problems = load(EXAMPLES / "contracts", EXAMPLES / "customers.yaml")
    assert problems == []
    assert sorted(directory.contracts) == sorted(SEEDS)
    assert {c.contract for c in directory.customers.values()} == set(SEEDS)


@pytest.mark.parametrize("name", SEEDS)
def test_every_clause_of_a_seed_contract_names_its_source_or_reading(name):
    contract = load(EXAMPLES / "contracts", None)[0].contracts[name]
    assert contract.seed and (EXAMPLES / "agreements" / contract.seed).exists()
    for target in contract.targets:
        assert contract.metrics[target.metric].source or target.source or target.reading


def test_directory_finds_customers_by_organization_email_and_domain():
    directory = load(EXAMPLES / "contracts", EXAMPLES / "customers.yaml")[0]
    assert directory.find("zendesk", "8447346622598", None)[0].id == "acme-offices"
    assert directory.find("jira", None, "Casey@Fabrikam.example") == (directory.customers["fabrikam-health"], "e-mail")
    assert directory.find("jira", None, "new.person@tailspin.example")[1] == "domain"
    assert directory.find("jira", "999", "x@nowhere.example") == (None, "none")
    assert directory.contract_for(directory.customers["tailspin-pools"]).id == "poologics"


def test_designated_users_beyond_the_plan_cap(workdir):
    emails = "\n".join(f"      - user{i}@acme.example" for i in range(11))
    edit(workdir / "customers.yaml", "      - dana@acme.example\n      - lee@acme.example\n      - sam@acme.example\n",
         emails + "\n")
    assert any(p.startswith(f"{workdir / 'customers.yaml'}:13: customers.0.designated_users: 11 designated users, "
                            "but plan premium allows up to 10") for p in problems_of(workdir))


def test_target_naming_an_unknown_calendar(workdir):
    edit(workdir / "contracts" / "interopion.yaml", "within: 11h\n    calendar: business", "within: 11h\n    calendar: busness")
    found = [p for p in problems_of(workdir) if "busness" in p]
    assert len(found) == 1
    assert "interopion.yaml:" in found[0] and ": targets.2.calendar: unknown calendar 'busness' (defined: business, " \
                                              "always, operation)" in found[0]


def test_vendor_value_mapped_to_two_levels(workdir):
    edit(workdir / "contracts" / "caret.yaml", "priorities: {zendesk: [high], freshdesk", "priorities: {zendesk: [urgent], freshdesk")
    assert any("levels.sev2.priorities.zendesk.0: zendesk priority 'urgent' is already mapped to sev1" in p
               for p in problems_of(workdir))


def test_unknown_severity_levels_anywhere(workdir):
    path = workdir / "contracts" / "poologics.yaml"
    edit(path, "level_tags: {critical: sla_critical", "level_tags: {crtical: sla_critical")
    edit(path, "      priority: critical", "      priority: urgent")
    found = problems_of(workdir)
    assert any("level_tags.crtical: unknown severity level 'crtical' (levels: critical, standard)" in p for p in found)
    assert any("escalation.ladder.1.priority: unknown severity level 'urgent'" in p for p in found)


def test_term_that_ends_before_it_starts(workdir):
    edit(workdir / "customers.yaml", "term: {start: 2026-04-01, end: 2027-03-31}", "term: {start: 2026-04-01, end: 2025-03-31}")
    assert any("customers.1.term.end: the term ends (2025-03-31) before it starts (2026-04-01)" in p
               for p in problems_of(workdir))


def test_customer_naming_unknown_contract_plan_or_addon(workdir):
    path = workdir / "customers.yaml"
    edit(path, "contract: poologics", "contract: poologix")
    edit(path, "plan: premium", "plan: platinum")
    found = problems_of(workdir)
    assert any("contract: unknown contract 'poologix'" in p for p in found)
    assert any("customers.0.plan: contract caret has no plan 'platinum' (plans: standard, premium)" in p for p in found)


def test_addon_users_above_the_custom_pricing_limit_are_refused_with_file_line_and_key(workdir):
    edit(workdir / "customers.yaml", "support_24x7: {users: 10}", "support_24x7: {users: 110}")
    lines = (workdir / "customers.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "users: 110" in text)
    assert (f"{workdir / 'customers.yaml'}:{line}: customers.0.addons.support_24x7.users: 110 users is above the 90 "
            f"that add-on support_24x7 is sold for") in "\n".join(problems_of(workdir))


@pytest.mark.parametrize("bad, message", [("-5", "cannot be negative"), ("1000000h", "more than 3650 days")])
def test_durations_are_bounded(workdir, bad, message):
    edit(workdir / "contracts" / "caret.yaml", "within: 30m", f"within: {bad}")
    assert any(message in p for p in problems_of(workdir))


def test_addon_users_must_be_a_tier(workdir):
    edit(workdir / "customers.yaml", "support_24x7: {users: 10}", "support_24x7: {users: 15}")
    assert any("customers.0.addons.support_24x7.users: 15 users is not a tier of 10" in p for p in problems_of(workdir))


def test_one_organization_for_two_customers(workdir):
    edit(workdir / "customers.yaml", 'organizations: {zendesk: ["501"], freshdesk: ["501"]}',
         'organizations: {zendesk: ["8447346622598"], freshdesk: ["501"]}')
    assert any("customers.1.organizations.zendesk.0: zendesk organization 8447346622598 also belongs to acme-offices"
               in p for p in problems_of(workdir))


def test_schema_errors_have_file_line_and_key(workdir):
    path = workdir / "contracts" / "interopion.yaml"
    edit(path, "timezone: America/Denver\n    weekly: {mon-fri", "timezone: America/Denvr\n    weekly: {mon-fri")
    edit(path, "    medical_record_number: '", "    medical_record_number: '(unclosed")
    found = problems_of(workdir)
    assert any(p.startswith(f"{path}:13: calendars.business.timezone: unknown IANA time zone 'America/Denvr'")
               for p in found)
    assert any("phi.patterns.medical_record_number: not a valid regular expression" in p for p in found)


def test_every_problem_is_reported_not_just_the_first(workdir):
    edit(workdir / "contracts" / "caret.yaml", "default_level: sev3", "default_level: sev9")
    edit(workdir / "contracts" / "triage-desk.yaml", "rollover_cap: 15", "rollover_cap: -1")
    edit(workdir / "customers.yaml", "end: 2026-12-31}", "end: 2025-12-31}")
    found = problems_of(workdir)
    assert any("caret.yaml" in p and "default_level" in p for p in found)
    assert any("triage-desk.yaml" in p and "billing.rollover_cap" in p for p in found)


def test_yaml_syntax_error_has_a_line(workdir):
    (workdir / "contracts" / "broken.yaml").write_text("id: x\nname: [unclosed\n")
    assert any(p.startswith(f"{workdir / 'contracts' / 'broken.yaml'}:3: not valid YAML") for p in problems_of(workdir))


def test_check_command_lists_problems_and_exits_1(workdir):
    edit(workdir / "contracts" / "interopion.yaml", "within: 11h\n    calendar: business", "within: 11h\n    calendar: nowhere")
    result = CliRunner().invoke(main, ["check", "--contracts", str(workdir / "contracts"),
                                       "--customers", str(workdir / "customers.yaml")])
    assert result.exit_code == 1
    assert "unknown calendar 'nowhere'" in result.output and "problem(s)" in result.output


def test_check_command_ok_on_the_examples():
    result = CliRunner().invoke(main, ["check", "--contracts", str(EXAMPLES / "contracts"),
                                       "--customers", str(EXAMPLES / "customers.yaml")])
    assert result.exit_code == 0, result.output
    assert "5 contract(s), 7 customer(s)" in result.output


@pytest.mark.parametrize("name", SEEDS)
def test_exported_json_schema_accepts_each_contract_and_round_trips(name):
    from slabridge.yamlfile import load as load_yaml

    data, _ = load_yaml(EXAMPLES / "contracts" / f"{name}.yaml")
    jsonschema.validate(json.loads(json.dumps(data, default=str)), json_schema("contract"))
    contract = Contract.model_validate(data)
    assert Contract.model_validate(contract.model_dump(by_alias=True)) == contract


def test_exported_json_schema_accepts_customers_and_rejects_a_stranger_key():
    data = yaml.safe_load((EXAMPLES / "customers.yaml").read_text())
    schema = json_schema("customers")
    jsonschema.validate(json.loads(json.dumps(data, default=str)), schema)
    data["customers"][0]["colour"] = "blue"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(json.dumps(data, default=str)), schema)
    assert CustomersFile.model_validate(yaml.safe_load((EXAMPLES / "customers.yaml").read_text()))


def test_schema_command_prints_contract_schema():
    result = CliRunner().invoke(main, ["schema", "contract"])
    assert json.loads(result.output)["title"] == "Contract"


def test_an_impossible_date_is_a_located_error_not_a_traceback(workdir):
    edit(workdir / "customers.yaml", "term: {start: 2026-04-01, end: 2027-03-31}", "term: {start: 2026-13-01, end: 2027-03-31}")
    line = (workdir / "customers.yaml").read_text().splitlines().index(
        "    term: {start: 2026-13-01, end: 2027-03-31}") + 1
    found = problems_of(workdir)
    assert any(f":{line}: customers.1.term.start: Input should be a valid date" in p for p in found), found


def test_unknown_subdivision_is_named_as_such(workdir):
    edit(workdir / "customers.yaml", "region: {country: US, subdivision: CO}", "region: {country: US, subdivision: ZZ}")
    assert any("region: US has no subdivision 'ZZ'" in p
               for p in problems_of(workdir))


def test_a_contract_without_calendars_or_levels_says_so(tmp_path):
    (tmp_path / "empty.yaml").write_text("id: x\nname: y\ncalendars: {}\nlevels: {}\ndefault_level: p1\n")
    found = load(tmp_path, None)[1]
    assert any("calendars: Dictionary should have at least 1 item" in p for p in found)
    assert any("levels: Dictionary should have at least 1 item" in p for p in found)


def test_a_duplicated_key_is_refused_with_both_lines(workdir):
    path = workdir / "contracts" / "caret.yaml"
    path.write_text(path.read_text() + "\nid: caret-again\n")
    [problem] = [p for p in problems_of(workdir) if "duplicate key" in p]
    assert problem.startswith(f"{path}:") and "id: duplicate key (first on line" in problem


def test_a_yml_contract_is_loaded_like_a_yaml_one(workdir):
    (workdir / "contracts" / "caret.yaml").rename(workdir / "contracts" / "caret.yml")
    directory, problems = load(workdir / "contracts", workdir / "customers.yaml")
    assert problems == [] and "caret" in directory.contracts


def test_a_vendor_typo_in_a_customers_organizations_is_named(workdir):
    edit(workdir / "customers.yaml", "organizations: {zendesk: [\"8447346622598\"]", "organizations: {zendsk: [\"8447346622598\"]")
    problems = load(workdir / "contracts", workdir / "customers.yaml", vendors={"zendesk", "freshdesk", "jira"})[1]
    assert any("customers.0.organizations.zendsk: no installed connector is called 'zendsk'" in p for p in problems)


def test_one_domain_claimed_by_two_customers_is_a_problem(workdir):
    edit(workdir / "customers.yaml", "domains: [initech.example]", "domains: [northwind.example]")
    assert any("domain northwind.example also belongs to northwind-clinic" in p for p in problems_of(workdir))


def test_a_broken_contract_is_reported_once_not_for_each_customer(workdir):
    edit(workdir / "contracts" / "triage-desk.yaml", "id: triage-desk", "id: triage-desk\nbogus_key: 1")
    problems = problems_of(workdir)
    assert not any("unknown contract 'triage-desk'" in p for p in problems)
    assert any("bogus_key" in p for p in problems)
    assert any("customer(s) of contract 'triage-desk' not checked: the contract did not load" in p for p in problems)


def test_contract_yaml_is_read_as_yaml_1_2(tmp_path):
    """Only true/false are booleans (a country code NO or a word like 'on' stays text), dates stay text for
    the schema to judge, 0o17 is octal and 017 decimal, and no tag can construct a Python object."""
    from slabridge import yamlfile

    path = tmp_path / "c.yaml"
    path.write_text("country: NO\nswitch: on\nflag: true\nstart: 2026-01-03\nmode: 0o17\nplain: 017\n")
    data, lines = yamlfile.load(path)
    assert data == {"country": "NO", "switch": "on", "flag": True, "start": "2026-01-03", "mode": 15, "plain": 17}
    assert lines[("start",)] == 4
    path.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(yamlfile.FileProblem, match=r"c.yaml:1: not valid YAML"):
        yamlfile.load(path)


@pytest.mark.parametrize("name", SEEDS)
def test_targets_for_keeps_the_contract_order_and_every_condition(name):
    """The index the SLA rule looks targets up in answers what a scan of the contract's targets would,
    for every metric, level, plan, coverage and request type the contract names (and for unknown ones)."""
    contract = load(EXAMPLES / "contracts", EXAMPLES / "customers.yaml")[0].contracts[name]
    values = lambda attr: sorted({v for t in contract.targets for v in getattr(t, attr)}) + [None, "unknown"]
    for metric in [*contract.metrics, "unknown"]:
        for level in values("levels"):
            for plan in values("plans"):
                for coverage in values("coverage"):
                    for request_type in values("request_types"):
                        scanned = tuple(t for t in contract.targets if t.metric == metric
                                        and (not t.levels or level in t.levels) and (not t.plans or plan in t.plans)
                                        and (not t.coverage or coverage in t.coverage)
                                        and (not t.request_types or request_type in t.request_types))
                        assert contract.targets_for(metric, level, plan, coverage, request_type) == scanned
                        assert contract.targets_for(metric, level, plan, coverage, request_type) == scanned


def test_targets_for_stays_bounded_whatever_levels_a_plugin_invents():
    contract = load(EXAMPLES / "contracts", EXAMPLES / "customers.yaml")[0].contracts["caret"]
    metric = next(iter(contract.metrics))
    for i in range(5000):
        contract.targets_for(metric, f"level-{i}", None, None, None)
    assert len(contract.target_index) <= 4096


def test_one_email_listed_for_two_customers_is_a_problem_in_any_case(workdir):
    """The look-up by e-mail took whichever customer came last in the file, silently."""
    edit(workdir / "customers.yaml", "administrators: [morgan@contoso.example,", "administrators: [Lee@ACME.example,")
    assert any("customers.4.administrators.0: e-mail Lee@ACME.example also belongs to acme-offices: a ticket without "
               "an organization could not tell the two apart" in p for p in problems_of(workdir))


@pytest.mark.parametrize("old, new, where", [
    ("      - lee@acme.example\n", "      - lee@acme.example, sam@acme.example\n", "customers.0.designated_users.1"),
    ("      - ana@acme.example\n", "      - Ana <ana@acme.example>\n", "customers.0.contacts.0"),
    ("      - ana@acme.example\n", "      - ana@acme\n", "customers.0.contacts.0"),
])
def test_what_is_not_one_email_address_is_named_with_its_line(workdir, old, new, where):
    edit(workdir / "customers.yaml", old, new)
    lines = (workdir / "customers.yaml").read_text().splitlines()
    line = lines.index(new.rstrip("\n")) + 1
    assert (f"{workdir / 'customers.yaml'}:{line}: {where}: not one e-mail address (like "
            "dana@acme.example): it would never match a requester") in problems_of(workdir)


@pytest.mark.parametrize("domain", ["@northwind.example", "https://northwind.example", "northwind"])
def test_what_is_not_a_domain_is_named(workdir, domain):
    edit(workdir / "customers.yaml", "domains: [northwind.example]", f'domains: ["{domain}"]')
    assert any("customers.1.domains.0: not a domain (like acme.example, without @ or https://)" in p
               for p in problems_of(workdir))


def test_a_contact_also_designated_in_another_case_is_counted_once_in_an_add_on_tier(workdir):
    """The tier of 10 counts designated users, then the other contacts: a designated user listed again among the
    contacts as ``Lee@Acme.example`` took a place of the tier, and the tenth user lost the 24x7 coverage."""
    edit(workdir / "customers.yaml", "    contacts:                              # further users; with the designated "
         "ones, the 24/7 tier counts them", "    contacts:\n      - Lee@Acme.example")
    directory, problems = load(workdir / "contracts", workdir / "customers.yaml")
    assert problems == []
    acme = directory.customers["acme-offices"]
    assert len(acme.listed()) == 12 and acme.has("gus@acme.example", acme.listed()[:10])


@pytest.mark.parametrize("old, new, where, message", [
    ("We have set this ticket to {decided}", "We have set this ticket for {customer} to {decided}",
     "reclassification.reply", "placeholder {customer} is not one of {designated}, {decided}, {reason}"),
    ("We have set this ticket to {decided}", "We have set this ticket to {decided.__class__}",
     "reclassification.reply", "placeholder {decided.__class__} is not one of"),
    ("We have set this ticket to {decided}", "We have set this ticket to {decided",
     "reclassification.reply", "(placeholders: {designated}, {decided}, {reason}; write {{ and }} for a brace)"),
])
def test_a_template_with_a_placeholder_it_is_not_filled_with_is_refused_at_load(workdir, old, new, where, message):
    """It loaded, then failed every decision that reclassified a ticket (``KeyError: 'customer'``)."""
    edit(workdir / "contracts" / "caret.yaml", old, new)
    [problem] = [p for p in problems_of(workdir) if f": {where}: " in p]
    assert problem.startswith(f"{workdir / 'contracts' / 'caret.yaml'}:") and message in problem


def test_a_phi_note_may_only_name_the_kinds_seen(workdir):
    path = workdir / "contracts" / "interopion.yaml"
    text = path.read_text()
    assert text.count("({kinds})") == 1
    path.write_text(text.replace("({kinds})", "({kinds} in {subject})"))
    assert any(": phi.note: placeholder {subject} is not one of {kinds}" in p for p in problems_of(workdir))
    path.write_text(text.replace("({kinds})", "({kinds}; see {{policy}})"))  # a brace is written {{
    assert not [p for p in problems_of(workdir) if "phi.note" in p]


def test_a_target_for_a_coverage_no_one_can_have_is_refused(workdir):
    """A typo (``24/7`` for ``24x7``) loaded, and the target never applied: premium sev1 tickets of the 24x7
    users were held to the business-hours target instead."""
    edit(workdir / "contracts" / "caret.yaml", "plans: [premium], coverage: [24x7], within: 30m",
         "plans: [premium], coverage: [24/7], within: 30m")
    assert any("targets.0.coverage.0: unknown coverage '24/7' (the default_coverage and the add-ons': "
               "business_hours, 24x7)" in p for p in problems_of(workdir))


def test_a_customer_on_a_plan_with_a_tam_the_ladder_assigns_must_name_it(workdir):
    """CARET's premium plan comes with a TAM and its ladder assigns Sev 1/2 breaches to them: without ``tam`` the
    step assigned nobody while its note told agents the ticket had gone to the TAM."""
    path = workdir / "customers.yaml"
    [line] = [n for n in path.read_text().splitlines() if n.strip().startswith("tam:")]
    edit(path, line + "\n", "")
    assert any("customers.0.plan: plan premium of contract caret comes with a Technical Account Manager, whom its "
               "escalation ladder assigns: give tam" in p for p in problems_of(workdir))


def test_a_tam_step_for_a_customer_without_one_says_nobody_was_assigned(workdir):
    from datetime import datetime, timedelta

    from slabridge.config import Settings
    from slabridge.models import Organization, Person, TicketEvent, TicketRef
    from slabridge.plugins import Plugins
    from slabridge.simulation import Simulation

    path = workdir / "customers.yaml"
    [line] = [n for n in path.read_text().splitlines() if n.strip().startswith("tam:")]
    edit(path, line + "\n", "")
    edit(workdir / "contracts" / "caret.yaml", "    tam: true\n", "    tam: false\n")  # a plan without one
    directory, problems = load(workdir / "contracts", path)
    assert problems == []
    sim = Simulation(Plugins(Settings(), load_entry_points=False), directory)
    opened = datetime.fromisoformat("2026-03-04T09:00:00-05:00")
    sim.feed(TicketEvent(vendor="zendesk", delivery_id="d1", ticket=TicketRef(vendor="zendesk", id="206"),
                         kind="created", requester=Person(email="sam@acme.example"),
                         organization=Organization(id="8447346622598"), priority="high", subject="Exports failing",
                         description="Exports fail with an error.", created_at=opened, occurred_at=opened))
    [breach] = [o for o in sim.advance(opened + timedelta(hours=2, seconds=1)) if o.decision.severity == "sev2"][-1:]
    [reason] = [r for r in breach.decision.reasons if r.rule == "escalation.tam"]
    assert reason.text.endswith("but no Technical Account Manager is on record for this customer: the ticket was "
                                "not reassigned")
    assert not [a for a in breach.decision.actions if a.type == "assign"]
    [note] = [a.body for a in breach.decision.actions if a.type == "internal_note"]
    assert note.endswith("No Technical Account Manager is on record for this customer: the ticket was not reassigned.")


def test_phi_redaction_in_logs_cannot_be_turned_off(workdir):
    """``redact_in_logs: false`` loaded and changed nothing: slabridge never logs ticket text. Now it says so."""
    path = workdir / "contracts" / "interopion.yaml"
    text = path.read_text()
    assert "\nphi:\n" in text
    path.write_text(text.replace("\nphi:\n", "\nphi:\n  redact_in_logs: false\n"))
    assert any(": phi.redact_in_logs: Input should be True" in p for p in problems_of(workdir))


def test_the_billing_exhausted_reply_answers_where_the_incidents_check_gives_none(workdir):
    """It was read from the file and never sent: the check's own reply was the only one."""
    from datetime import datetime, timezone

    from slabridge.config import Settings
    from slabridge.models import Organization, Person, TicketEvent, TicketRef
    from slabridge.plugins import Plugins
    from slabridge.simulation import Simulation

    path = workdir / "contracts" / "triage-desk.yaml"
    text = path.read_text()
    start = text.index("      reply: >-\n        Your account has no Service & Support Incidents left.")
    end = text.index("\n\nbilling:")
    path.write_text(text[:start].rstrip("\n") + text[end:].replace(
        "\nbilling:\n", "\nbilling:\n  exhausted_reply: No incidents are left on your account.\n", 1))
    directory, problems = load(workdir / "contracts", workdir / "customers.yaml")
    assert problems == []
    at = datetime(2026, 4, 7, 13, 0, tzinfo=timezone.utc)
    outcome = Simulation(Plugins(Settings(), load_entry_points=False), directory).feed(TicketEvent(
        vendor="zendesk", delivery_id="d1", ticket=TicketRef(vendor="zendesk", id="5"), kind="created",
        requester=Person(email="sam@initech.example"), organization=Organization(id="502"), subject="Printer",
        description="Blank pages.", created_at=at, occurred_at=at))
    assert outcome.decision.entitlement == "not entitled"
    assert [a.body for a in outcome.decision.actions if a.type == "public_reply"] == [
        "No incidents are left on your account."]
