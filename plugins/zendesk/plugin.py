"""Registers the Zendesk connector with slabridge."""

from slabridge import hookimpl

from .connector import ZendeskConnector


@hookimpl
def slabridge_register_connectors(register):
    register(ZendeskConnector())
