"""Every scenario file in tests/scenarios, step by step, through the real rules (dry run)."""

from pathlib import Path

import pytest

from slabridge.scenarios import run_file

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))


def test_every_seed_contract_has_a_scenario_file():
    assert {f.stem for f in FILES} >= {"caret", "triage-desk", "infraware", "interopion", "poologics"}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_scenarios(path):
    results = run_file(path, ROOT / "examples" / "contracts", ROOT / "examples" / "customers.yaml")
    failures = [f"{r.scenario} / step {r.step}: {f}" for r in results for f in r.failures]
    assert results and not failures, "\n".join(failures)
