"""The seed contracts, customers, calendars and agreement texts, shipped inside the package
(`slabridge init DIR` copies them; `slabridge demo` runs on them)."""
