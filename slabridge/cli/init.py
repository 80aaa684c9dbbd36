"""``slabridge init DIR``: a starter configuration, contracts and customers file to edit."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

import click

STARTER = """\
# slabridge configuration (README: Configuration). Run slabridge from this folder.
database_url = "sqlite:///slabridge.db"
contracts_dir = "contracts"
customers_file = "customers.yaml"

# Enable a helpdesk: set enabled = true, its base_url, and the environment variables holding secrets.
[vendors.zendesk]
enabled = false
base_url = "https://YOUR-SUBDOMAIN.zendesk.com"
username_env = "ZENDESK_EMAIL"
token_env = "ZENDESK_API_TOKEN"
webhook_secrets_env = ["ZENDESK_WEBHOOK_SECRET"]
"""
COPIED = ("contracts", "calendars", "agreements", "customers.yaml")


@click.command("init")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(folder: str, force: bool) -> None:
    """Write a starter slabridge.toml, the example contracts and a customers file into FOLDER."""
    target = Path(folder)
    examples = Path(str(files("slabridge.examples")))
    planned = [target / "slabridge.toml", *(target / name for name in COPIED)]
    existing = [str(p) for p in planned if p.exists()]
    if existing and not force:
        raise click.ClickException(f"{', '.join(existing)} already exist(s); nothing written (--force overwrites)")
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / "slabridge.toml").write_text(STARTER)
        for name in COPIED:
            source = examples / name
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)
            else:
                shutil.copy(source, target / name)
    except (OSError, shutil.Error) as exc:  # a file in the way, no permission, a full disk
        where = getattr(exc, "filename", None)
        raise click.ClickException(f"cannot write into {target}: {getattr(exc, 'strerror', None) or exc}"
                                   + (f" ({where})" if where and str(where) != str(target) else "")) from None
    click.echo(f"wrote {target}/slabridge.toml, contracts/, calendars/, agreements/ and customers.yaml")
    click.echo(f"next: cd {target} && slabridge check && slabridge serve")
