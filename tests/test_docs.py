"""Documentation stays true: every hook is in the README's reference and has a test."""

import inspect
from pathlib import Path

import pytest

from slabridge import hookspecs

ROOT = Path(__file__).parent.parent
HOOKS = sorted(name for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("slabridge_"))


def test_there_are_hooks():
    assert len(HOOKS) >= 7


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_in_the_readme_reference(hook):
    reference = (ROOT / "README.md").read_text().split("## Hook reference", 1)[1].split("\n## ", 1)[0]
    assert f"`{hook}(" in reference


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_docstring_with_result_rule(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert "Result:" in doc and "Implemented by:" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_implemented_in_some_test(hook):
    here = Path(__file__).name
    sources = [p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != here]
    assert any(f"def {hook}(" in text for text in sources), f"no test implements {hook}"


def test_the_readmes_smallest_contract_validates_and_runs(tmp_path):
    import re

    from slabridge.directory import load

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("### The smallest contract", 1)[1]
    contract = re.search(r"```yaml\n(.*?)```", section, re.S)[1]
    customer = re.search(r"`(\{id: acme.*?\})`", section)[1]
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "basic.yaml").write_text(contract)
    (tmp_path / "customers.yaml").write_text(f"customers:\n  - {customer}\n")
    directory, problems = load(tmp_path / "contracts", tmp_path / "customers.yaml")
    assert problems == [] and directory.contracts["basic"].plans.keys() == {"standard"}
    assert directory.customers["acme"].plan == "standard"
