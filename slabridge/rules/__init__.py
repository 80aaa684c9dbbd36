"""Built-in rule plugins, registered ``trylast`` so installed plugins can override them.

Each is a class built with the settings; its ``name`` is its plugin name. Among
``trylast`` implementations pluggy calls the earlier-registered first, so the
contract rules answer first and the defaults only where no contract applies.
"""

from .defaults import DefaultRules
from .entitlement import EntitlementRules
from .escalation import EscalationRules
from .severity import SeverityRules
from .sla import SlaRules

BUILTIN_RULES = (EntitlementRules, SeverityRules, SlaRules, EscalationRules, DefaultRules)
