"""Registers the Jira connector with slabridge."""

from slabridge import hookimpl

from .connector import JiraConnector


@hookimpl
def slabridge_register_connectors(register):
    register(JiraConnector())
