"""slabridge: support contracts enforced on the helpdesk you already have."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("slabridge")
"""Marker for hook implementations: ``@hookimpl`` on a function named after a hook."""
