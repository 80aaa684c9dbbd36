"""The repository carries everything its tests need: nothing is read from beside it."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_opening_a_file_beside_the_repository_is_caught(outside_reads):
    beside = REPO.parent / "material-beside-the-clone" / "calendar-cases.yaml"
    start = len(outside_reads)
    try:
        beside.open().close()
    except OSError:
        pass  # the guard sees the attempt whether or not the file exists
    assert outside_reads[start:] == [str(beside)]
    del outside_reads[start:]  # this test's own read is the one allowed


def test_opening_files_in_the_repository_and_elsewhere_is_not_flagged(tmp_path, outside_reads):
    start = len(outside_reads)
    (REPO / "pyproject.toml").read_text()
    (tmp_path / "x").write_text("x")
    assert outside_reads[start:] == []


@pytest.mark.parametrize("path, repo, beside", [
    ("/work/shared/acceptance/cases.yaml", "/work/main", True),
    ("/work/main/tests/acceptance/cases.yaml", "/work/main", False),
    ("/tmp/pytest-of-root/pytest-3/x.db", "/work/main", False),
    # a clone in the temporary folder itself: the run's own scratch files are not "beside" it, the rest is
    ("/tmp/pytest-of-root/pytest-3/x.db", "/tmp/clone", False),
    ("/tmp/tmpab12cd/slabridge.toml", "/tmp/clone", False),
    ("/tmp/shared/acceptance/cases.yaml", "/tmp/clone", True),
    # a clone in the home folder: the Python and tools' hidden folders beside it are not project material
    ("/root/.pyenv/versions/3.11.7/lib/python311.zip", "/root/clone", False),
    ("/root/.cache/pip/x", "/root/clone", False),
    ("/root/python/lib/python3.11/os.py", "/root/clone", False),
    ("/root/shared/acceptance/cases.yaml", "/root/clone", True),
])
def test_what_counts_as_beside_the_repository(path, repo, beside):
    from .conftest import is_beside

    assert is_beside(Path(path), Path(repo), Path("/tmp"), runtime=frozenset({Path("/root/python")})) is beside


@pytest.mark.parametrize("path", ["tests/acceptance/calendar-cases.yaml", "tests/vendor-specs/SOURCES.md",
                                  "examples/agreements/README.md"])
def test_external_material_is_carried_inside(path):
    assert (REPO / path).is_file()
