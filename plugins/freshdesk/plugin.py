"""Registers the Freshdesk connector with slabridge."""

from slabridge import hookimpl

from .connector import FreshdeskConnector


@hookimpl
def slabridge_register_connectors(register):
    register(FreshdeskConnector())
