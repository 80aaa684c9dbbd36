"""Jira Cloud / Jira Service Management connector for slabridge (Data Center via base_url)."""
