"""Built-in rule plugins, registered ``trylast`` so installed plugins can override them.

Each is a class built with the settings; its ``name`` is its plugin name.
"""

from .defaults import DefaultRules

BUILTIN_RULES = (DefaultRules,)
