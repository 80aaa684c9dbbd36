"""CPU time of processes, from ``/proc`` (Linux): what the benchmarks report per request or event, which is
steadier on a shared machine than a rate."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(root: int | None = None, name: str | None = None) -> float:
    """CPU time (user + system) used so far by process ``root`` and its children, or by every process
    called ``name`` (the PostgreSQL server's)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        pid, parent = int(stat.parent.name), int(fields[1])
        if (root is not None and root in (pid, parent)) or (name is not None and command.startswith(name)):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent busy so far (user, system, interrupts; not idle, waiting
    for the disk or stolen by the host): what the processes above leave out, such as the kernel's own
    threads writing to the disk."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
