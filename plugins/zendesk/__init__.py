"""Zendesk Support connector for slabridge."""
