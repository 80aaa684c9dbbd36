"""What a Freshdesk admin creates so that slabridge hears about ticket changes."""

from __future__ import annotations

BODY = {
    "event": "{{triggered_event}}",
    "ticket": {
        "id": "{{ticket.id}}", "subject": "{{ticket.subject}}", "description": "{{ticket.description_text}}",
        "priority": "{{ticket.priority}}", "status": "{{ticket.status}}", "tags": "{{ticket.tags}}",
        "requester": {"email": "{{ticket.requester.email}}", "name": "{{ticket.requester.name}}"},
        # Customers are matched by company *id*; placeholders give the name only, so the parser never
        # takes it for an id and slabridge looks the id up (GET /api/v2/tickets/{id}: company_id).
        "company": {"name": "{{ticket.company.name}}"},
        # The _text form, as for the description: without it Freshdesk sends the comment's HTML.
        "latest_public_comment": "{{ticket.latest_public_comment_text}}",
    },
    "actor": {"email": "{{triggered_by.email}}"},
}


def webhook_template(settings, receiver_url: str) -> dict:
    header = settings.options.get("secret_header", "X-Slabridge-Secret")
    env = (settings.webhook_secrets_env or ["FRESHDESK_WEBHOOK_SECRET"])[0]
    return {
        "steps": [
            "1. Admin > Workflows > Automations > 'Ticket creation' and 'Ticket updates': one rule each, "
            "matching every ticket ('Ticket updates': any change you care about: priority, status, reply, note).",
            "2. Add the condition 'Performed by' is not slabridge's API agent (loop safety).",
            "3. Action 'Trigger webhook': the request below. Put the value of the environment variable "
            f"{env} in the {header} header.",
        ],
        "request": {"method": "POST", "url": f"{receiver_url}/webhooks/freshdesk", "encoding": "JSON",
                    "custom_headers": {header: f"<value of ${env}>"}, "content": BODY},
    }
