"""The product as real processes (gunicorn receiver, `slabridge worker`s, loopback fake vendors)."""

import os
from pathlib import Path

import pytest

from slabridge.testing.rig import Rig

ROOT = Path(__file__).resolve().parents[2]
# CI sizes: every property is checked on every run; bench/soak.py runs the same faults for minutes.
TICKETS = int(os.environ.get("SLABRIDGE_TEST_RIG_TICKETS", "300"))


@pytest.fixture
def make_rig(tmp_path):
    rigs = []

    def build(database_url: str, customers_file: Path = ROOT / "examples" / "customers.yaml", **kwargs) -> Rig:
        rig = Rig(tmp_path / f"rig{len(rigs)}", database_url, ROOT / "examples" / "contracts", customers_file, **kwargs)
        rigs.append(rig)
        return rig.start()

    yield build
    for rig in rigs:
        rig.stop()
