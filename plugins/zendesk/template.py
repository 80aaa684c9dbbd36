"""What a Zendesk admin creates so that slabridge hears about ticket changes."""

from __future__ import annotations

import json

BODY = {
    "event": "EVENT",
    "ticket": {
        "id": "{{ticket.id}}", "subject": "{{ticket.title}}", "description": "{{ticket.description}}",
        "priority": "{{ticket.priority}}", "status": "{{ticket.status}}", "tags": "{{ticket.tags}}",
        "requester": {"id": "{{ticket.requester.id}}", "email": "{{ticket.requester.email}}",
                      "name": "{{ticket.requester.name}}"},
        "organization": {"id": "{{ticket.organization.id}}", "name": "{{ticket.organization.name}}"},
        "created_at": "{{ticket.created_at_with_timestamp}}", "updated_at": "{{ticket.updated_at_with_timestamp}}",
    },
    "current_user": {"id": "{{current_user.id}}", "email": "{{current_user.email}}"},
}

# Events no trigger sends: a comment's privacy and author, and a ticket deleted, marked spam or restored.
EVENT_SUBSCRIPTIONS = [f"zen:event-type:ticket.{name}" for name in (
    "comment_added", "soft_deleted", "permanently_deleted", "marked_as_spam", "undeleted")]


def webhook_template(settings, receiver_url: str) -> dict:
    api_user = settings.self_user or "<id of slabridge's API user>"

    def trigger(title: str, event: str, update_type: str) -> dict:
        body = json.dumps(BODY).replace('"EVENT"', json.dumps(event))
        return {"trigger": {
            "title": title, "active": True,
            "conditions": {"all": [
                {"field": "update_type", "operator": "is", "value": update_type},
                # Loop safety: changes made by slabridge's own API user never notify slabridge.
                {"field": "current_user", "operator": "is_not", "value": str(api_user)},
            ], "any": []},
            "actions": [{"field": "notification_webhook", "value": ["<webhook id from step 1>", body]}],
        }}

    endpoint = f"{receiver_url}/webhooks/zendesk"
    return {
        "steps": [
            "1. Create both webhooks: POST /api/v2/webhooks with each body in 'webhooks' (or Admin Center > "
            "Apps and integrations > Webhooks). The first serves the triggers; the second subscribes to "
            "comment events, which say whether a comment is public and whether its author is staff — what "
            "first-response and next-response clocks need — and to deletions (no trigger fires on those), which "
            "withdraw a ticket's clocks. Put both signing secrets in the environment "
            "variables listed in vendors.zendesk.webhook_secrets_env.",
            "2. Create both triggers: POST /api/v2/triggers with each body in 'triggers', after putting the "
            "first webhook's id into the notification_webhook action.",
            "3. Create custom ticket fields for the deadlines you want shown and map them in vendors.zendesk.fields.",
        ],
        "webhooks": [
            {"webhook": {"name": "slabridge (triggers)", "endpoint": endpoint, "http_method": "POST",
                         "request_format": "json", "status": "active", "subscriptions": ["conditional_ticket_events"]}},
            {"webhook": {"name": "slabridge (comments and deletions)", "endpoint": endpoint, "http_method": "POST",
                         "request_format": "json", "status": "active", "subscriptions": EVENT_SUBSCRIPTIONS}},
        ],
        "triggers": [trigger("slabridge: ticket created", "created", "Create"),
                     trigger("slabridge: ticket updated", "updated", "Change")],
    }
