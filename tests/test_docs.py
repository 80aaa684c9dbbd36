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
