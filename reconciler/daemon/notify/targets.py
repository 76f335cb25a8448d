"""Daemon stage (notifications): the wire formats, built here over the HTTP seam.

- Teams: a Workflows webhook ("Post to a channel when a webhook request is
  received") takes `{"type":"message","attachments":[{Adaptive Card}]}` (APIS.md
  §12; no first-party page read: unconfirmed). Built here, not through apprise,
  whose Teams plugin caps the body at 1,000 characters and builds its own card.
- Slack: an incoming webhook takes `{"text", "blocks"}` (Block Kit).
- Generic webhook: the event JSON, signed the Standard Webhooks way:
  `webhook-id`, `webhook-timestamp` (Unix seconds), `webhook-signature:
  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, the key being the
  base64 part of a `whsec_` secret (or the secret's bytes otherwise).
- Email: a digest of every event since the last one, through the SMTP mailer
  (its TLS, caFile and credential handling).

Webhook URLs carry their own secrets (Slack's path, Teams' `sig=`): they are
secret references, and no message or log line here ever contains one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from pydantic import SecretStr

TITLE = {"firing": "", "reminder": "Reminder: ", "resolved": "Resolved: "}
_SEVERITY_COLOR = {"error": "attention", "warning": "warning", "info": "good"}


def _title(ev: dict[str, Any]) -> str:
    who = ev["customer"] or "fleet"
    return f"{TITLE[ev['status']]}{ev['type']} · {who}"


def _facts(ev: dict[str, Any]) -> list[tuple[str, str]]:
    facts = [("Customer", ev["customer"] or "(fleet)"), ("Status", ev["status"]), ("Since", ev["since"])]
    data = ev["data"]
    if data.get("removals"):
        facts.append(("Removals waiting", str(len(data["removals"]))))
    if data.get("candidates"):
        facts.append(("Candidates", ", ".join(f"{c['id']} {c['name']}" for c in data["candidates"])))
    return facts


def teams_payload(ev: dict[str, Any]) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": _title(ev), "style": "heading", "weight": "Bolder", "size": "Large",
         "color": _SEVERITY_COLOR.get(ev["severity"], "default"), "wrap": True},
        {"type": "TextBlock", "text": ev["summary"], "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in _facts(ev)]},
    ]  # fmt: skip
    data = ev["data"]
    if data.get("removals"):
        shown = data["removals"][:50]
        more = len(data["removals"]) - len(shown)
        text = "\n".join(f"- {r}" for r in shown) + (f"\n- … and {more} more" if more > 0 else "")
        body.append({"type": "TextBlock", "text": text, "wrap": True, "fontType": "Monospace"})
    if data.get("pin") and ev["status"] != "resolved":
        body.append({"type": "TextBlock", "text": "Pin that resolves it (Customer spec.pins):", "wrap": True})
        body.append({"type": "TextBlock", "text": data["pin"], "wrap": True, "fontType": "Monospace"})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                    "msteams": {"width": "full"},
                },
            }
        ],
    }


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(ev: dict[str, Any]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(ev)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(ev["summary"])[:3000]}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_mrkdwn(v)}"} for k, v in _facts(ev)],
        },
    ]
    if ev["data"].get("pin") and ev["status"] != "resolved":
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{_mrkdwn(ev['data']['pin'])}```"}}
        )
    return {"text": f"{_title(ev)}: {ev['summary']}"[:3000], "blocks": blocks}


def signing_key(secret: SecretStr) -> bytes:
    text = secret.get_secret_value()
    if text.startswith("whsec_"):
        return base64.b64decode(text[len("whsec_") :])
    return text.encode()


def webhook_request(ev: dict[str, Any], secret: SecretStr, timestamp: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed delivery (Standard Webhooks v1)."""
    body = json.dumps(ev, sort_keys=True, separators=(",", ":")).encode()
    signed = f"{ev['id']}.{timestamp}.".encode() + body
    mac = base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()
    headers = {
        "content-type": "application/json",
        "webhook-id": ev["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{mac}",
    }
    return body, headers


def digest_text(events: list[dict[str, Any]]) -> tuple[str, str]:
    """Subject and body of one email digest."""
    opened = sum(1 for e in events if e["status"] == "firing")
    resolved = sum(1 for e in events if e["status"] == "resolved")
    subject = f"reconciler: {opened} new, {resolved} resolved, {len(events) - opened - resolved} reminders"
    lines = [subject, ""]
    for e in events:
        lines.append(f"[{e['severity']}] {e['time']} {TITLE[e['status']]}{e['type']}: {e['summary']}")
        if e["data"].get("removals") and e["status"] != "resolved":
            lines.extend(f"    remove: {r}" for r in e["data"]["removals"][:100])
        if e["data"].get("pin") and e["status"] != "resolved":
            lines.append(f"    pin: {e['data']['pin']}")
    return subject, "\n".join(lines) + "\n"


def ticket_title(ev: dict[str, Any]) -> str:
    """A ticket's summary after its marker (ConnectWise allows 100 characters in all)."""
    return f"{ev['type']}: {ev['summary']}"
