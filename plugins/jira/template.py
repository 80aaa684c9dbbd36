"""What a Jira admin creates so that slabridge hears about issue changes."""

from __future__ import annotations


def webhook_template(settings, receiver_url: str) -> dict:
    env = (settings.webhook_secrets_env or ["JIRA_WEBHOOK_SECRET"])[0]
    return {
        "steps": [
            "1. Jira settings > System > WebHooks > Create a WebHook with the settings below (Jira Data Center: "
            "the same page; set vendors.jira.base_url to your server).",
            f"2. Secret: the value of the environment variable {env}; Jira signs each body with it (X-Hub-Signature).",
            "3. Set vendors.jira.self_user to the accountId of slabridge's API user: its own changes are ignored.",
            "4. Optional: options.organization_field (JSM organizations), options.group_field (routing), "
            "options.transitions (status -> transition id) in the configuration.",
        ],
        "webhook": {"name": "slabridge", "url": f"{receiver_url}/webhooks/jira", "secret": f"<value of ${env}>",
                    "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "comment_created"],
                    "filters": {"issue-related-events-section": "project = SUP"},
                    "excludeBody": False},
    }
