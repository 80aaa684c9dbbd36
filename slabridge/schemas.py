"""JSON Schemas of every file and model an admin or plugin author writes or reads."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter


def json_schema(what: str) -> dict[str, Any]:
    from .calendar import CalendarSpec
    from .config import Settings
    from .contract import Contract
    from .directory import CustomersFile
    from .models import Action, TicketEvent

    model = {"event": TicketEvent, "action": Action, "config": Settings, "contract": Contract,
             "customers": CustomersFile, "calendar": CalendarSpec}[what]
    return TypeAdapter(model).json_schema(mode="validation")
