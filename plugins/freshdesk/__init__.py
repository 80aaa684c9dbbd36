"""Freshdesk connector for slabridge."""
