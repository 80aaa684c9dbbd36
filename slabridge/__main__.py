"""`python -m slabridge` is the `slabridge` command."""

from .cli import main

main()
