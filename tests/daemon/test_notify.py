"""Notifications driven by the daemon (real scheduler, fake clock, file-backed simulators of
the directories) to real loopback receivers: an HTTP server that checks the Teams Adaptive
Card, the Slack payload and the Standard Webhooks signature, and an SMTP server (aiosmtpd,
STARTTLS) for the email digest. Dedup, reminders and resolve across a restart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler.config.resolve import effective_customers
from reconciler.core import events
from reconciler.daemon.notify import outbox
from reconciler.daemon.notify.events import event as wire_event
from reconciler.daemon.notify.outbox import Notifier
from reconciler.engine import Engine
from reconciler.testing.httpsim import TestCA
from reconciler.testing.smtp import SmtpSink

from .conftest import Rig, edit_yaml, entra_users, make_rig, set_entra_users, write

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "notification-event.schema.json").read_text()
)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
HOUR = 3600.0


@dataclass
class Receiver:
    """Loopback HTTP receiver; `fail` answers 500 that many times first."""

    fail: dict[str, int] = field(default_factory=dict)
    got: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)

    def start(self) -> str:
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                path = self.path
                if rcv.fail.get(path, 0) > 0:
                    rcv.fail[path] -= 1
                    self.send_response(500)
                else:
                    rcv.got.setdefault(path, []).append(
                        ({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    self.send_response(202 if path.startswith("/teams") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def events(self, path: str) -> list[dict[str, Any]]:
        return [json_of(path, h, b) for h, b in self.got.get(path, [])]


def json_of(path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data


def verify_standard_webhook(headers: dict[str, str], body: bytes, secret: str) -> dict[str, Any]:
    """The receiver's side of Standard Webhooks v1, written from the spec."""
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(time.time() - int(ts)) < 300  # the reference library's tolerance
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    given = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ") if s.startswith("v1,")]
    assert any(hmac.compare_digest(expected, g) for g in given), "bad signature"
    event: dict[str, Any] = json.loads(body)
    assert event["id"] == msg_id
    return event


@dataclass
class World:
    rig: Rig
    receiver: Receiver
    sink: SmtpSink
    notifier: Notifier
    root: Path

    def restart(self) -> None:
        self.notifier.stop(5)
        now = self.rig.clock.now()
        self.rig.close()
        self.rig = make_rig(self.root)
        self.rig.clock.advance(now - self.rig.clock.now() + 1)  # time goes on across the restart
        self.notifier = attach(self.rig)

    def run(self, customer: str) -> None:
        self.rig.scheduler.request(customer, "test")
        self.rig.cycle()

    def settle(self, path: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.receiver.got.get(path, [])) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # anything more that was going to come
        return self.receiver.events(path)


def attach(rig: Rig) -> Notifier:
    notifier = Notifier(lambda: rig.scheduler.source.config.settings_doc.spec, rig.root, rig.state, rig.clock)
    notifier.start()
    rig.scheduler.notifier = notifier
    return notifier


@pytest.fixture
def world(config_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    monkeypatch.setattr(outbox, "RETRY_BASE_SECONDS", 0.05)
    receiver = Receiver()
    base = receiver.start()
    ca = TestCA.create(tmp_path / "ca")
    sink = SmtpSink(ca, mode="starttls").start()
    (config_dir / "smtp-ca.pem").write_bytes(ca.ca_file.read_bytes())
    monkeypatch.setenv("RECONCILER_TEST_TOKEN", "t")
    for name in ("TEAMS", "SLACK", "HOOK"):
        monkeypatch.setenv(f"NOTIFY_{name}_URL", f"{base}/{name.lower()}")
    monkeypatch.setenv("NOTIFY_HOOK_SECRET", SECRET)

    def change(d: dict[str, Any]) -> None:
        d["spec"].setdefault("connections", {})["smtp"] = {
            "host": "127.0.0.1", "port": sink.port, "security": "starttls", "sender": "reconciler@msp.example",
            "caFile": "smtp-ca.pem",
        }  # fmt: skip
        d["spec"]["notifications"] = [
            {"name": "ops-teams", "type": "teams", "url": {"env": "NOTIFY_TEAMS_URL"}, "remindEveryHours": 4},
            {"name": "ops-slack", "type": "slack", "url": {"env": "NOTIFY_SLACK_URL"}, "minSeverity": "error"},
            {"name": "psa-hook", "type": "webhook", "url": {"env": "NOTIFY_HOOK_URL"},
             "secret": {"env": "NOTIFY_HOOK_SECRET"},
             "events": ["run.failed", "customer.blocked", "config.invalid", "conflict.opened"]},
            {"name": "digest", "type": "email", "to": ["noc@msp.example"], "minSeverity": "info"},
        ]  # fmt: skip

    edit_yaml(config_dir / "settings.yaml", change)
    rig = make_rig(config_dir)
    w = World(rig, receiver, sink, attach(rig), config_dir)
    yield w
    w.notifier.stop(2)
    w.rig.close()
    sink.stop()
    receiver.server.shutdown()


def test_a_failing_customer_is_told_once_reminded_and_resolved_across_a_restart(world: World) -> None:
    world.rig.cycle()  # first import of everyone: contoso's conflict opens
    hooks = world.settle("/hook", 1)
    assert [e["type"] for e in hooks] == ["conflict.opened"]
    conflict = verify_standard_webhook(*world.receiver.got["/hook"][0], SECRET)
    assert conflict["customer"] == "contoso" and "recordId" in conflict["data"]["pin"]
    assert len(conflict["data"]["candidates"]) == 2

    broken = world.root / "live" / "northwind" / "ad.json"
    good = broken.read_text()
    write(broken, "{not json")
    world.run("northwind")
    hooks = world.settle("/hook", 2)
    failed = verify_standard_webhook(*world.receiver.got["/hook"][1], SECRET)
    assert (
        failed["type"] == "run.failed" and failed["status"] == "firing" and failed["customer"] == "northwind"
    )
    assert failed["severity"] == "error"

    for _ in range(2):  # still failing: nothing new anywhere
        world.rig.clock.advance(60)
        world.run("northwind")
    assert len(world.settle("/hook", 3, timeout=1)) == 2
    teams_before = len(world.receiver.got["/teams"])

    world.restart()  # a new process on the same state: no second "opened"
    world.run("northwind")
    assert len(world.settle("/hook", 3, timeout=1)) == 2
    assert len(world.receiver.got["/teams"]) == teams_before

    world.rig.clock.advance(4 * HOUR)  # ops-teams reminds every 4 hours, psa-hook every 24
    world.run("northwind")
    teams = world.settle("/teams", teams_before + 1)
    titles = [m["attachments"][0]["content"]["body"][0]["text"] for m in teams[teams_before:]]
    assert titles.count("Reminder: run.failed · northwind") == 1, titles
    assert len(world.settle("/hook", 3, timeout=1)) == 2

    write(broken, good)
    world.run("northwind")
    hooks = world.settle("/hook", 3)
    recovered = verify_standard_webhook(*world.receiver.got["/hook"][2], SECRET)
    assert recovered["type"] == "run.recovered" and recovered["status"] == "resolved"
    assert recovered["customer"] == "northwind"
    for e in hooks:
        jsonschema.validate(e, SCHEMA)


def test_teams_card_and_slack_payload(world: World) -> None:
    world.rig.cycle()
    broken = world.root / "live" / "northwind" / "ad.json"
    write(broken, "{not json")
    world.run("northwind")
    teams = world.settle("/teams", 2)
    card_msg = next(m for m in teams if "run.failed" in m["attachments"][0]["content"]["body"][0]["text"])
    assert card_msg["type"] == "message"
    (att,) = card_msg["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive" and att["contentUrl"] is None
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["body"][0]["type"] == "TextBlock" and card["body"][0]["weight"] == "Bolder"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Customer"] == "northwind" and facts["Status"] == "firing"
    conflict_card = next(
        m for m in teams if "conflict.opened" in m["attachments"][0]["content"]["body"][0]["text"]
    )
    texts = [b.get("text", "") for b in conflict_card["attachments"][0]["content"]["body"]]
    assert any("recordId" in t for t in texts)  # the pin that resolves it

    slack = world.settle("/slack", 1)
    assert [m["blocks"][0]["text"]["text"] for m in slack] == ["run.failed · northwind"]  # minSeverity error
    assert slack[0]["text"].startswith("run.failed · northwind: ")
    assert slack[0]["blocks"][0]["type"] == "header" and slack[0]["blocks"][1]["type"] == "section"


def test_blocked_customer_names_the_exact_removals_and_the_digest_gathers_everything(world: World) -> None:
    root = world.root
    edit_yaml(root / "settings.yaml", lambda d: d["spec"]["safety"].update(minExistingAccounts=0))
    world.rig.cycle()
    set_entra_users(root, "contoso", entra_users(root, "contoso")[:3])
    world.run("contoso")
    hooks = world.settle("/hook", 2)
    blocked = next(e for e in hooks if e["type"] == "customer.blocked")
    rec = world.rig.record("contoso")
    assert blocked["data"]["removals"] == list(rec.blocked_removals) and len(rec.blocked_removals) == 3

    world.notifier.flush()
    (mail,) = world.sink.messages
    assert mail.rcpt_tos == ("noc@msp.example",) and mail.tls
    text = mail.message.get_content()
    assert "customer.blocked" in text and "conflict.opened" in text
    for removal in rec.blocked_removals:
        assert f"remove: {removal}" in text
    assert mail.message["Subject"].startswith("reconciler: ")


def test_a_failing_target_is_retried_and_never_slows_reconciling(world: World) -> None:
    world.receiver.fail["/hook"] = 3
    started = time.monotonic()
    world.rig.cycle()
    assert time.monotonic() - started < 5  # the runs did not wait for the receiver
    hooks = world.settle("/hook", 1)
    assert [e["type"] for e in hooks] == ["conflict.opened"]  # delivered once, after three 500s
    assert world.receiver.fail["/hook"] == 0 and world.notifier.delivered >= 1


def test_an_invalid_config_is_one_alert_and_one_resolve(world: World) -> None:
    world.rig.cycle()
    customer = world.root / "customers" / "contoso.yaml"
    good = customer.read_text()
    edit_yaml(customer, lambda d: d["spec"].update(nonsense=1))
    for _ in range(2):
        world.rig.clock.advance(30)
        world.rig.cycle()
    hooks = world.settle("/hook", 2)
    invalid = [e for e in hooks if e["type"] == "config.invalid"]
    assert len(invalid) == 1 and invalid[0]["customer"] is None and "nonsense" in invalid[0]["summary"]
    assert world.rig.state.get_record("alert", "*fleet*|config") is not None  # the replicas' claim

    write(customer, good)
    world.rig.clock.advance(30)
    world.rig.cycle()
    hooks = world.settle("/hook", 3)
    resolved = [e for e in hooks if e["type"] == "config.invalid" and e["status"] == "resolved"]
    assert len(resolved) == 1 and world.rig.state.get_record("alert", "*fleet*|config") is None


def test_typed_events_cover_the_schema_and_their_wire_form_validates() -> None:
    assert set(events.EVENT_TYPES) == set(SCHEMA["properties"]["type"]["enum"])
    samples: list[events.Event] = [
        events.RunFailed("contoso", 2, "boom", "abc123"),
        events.CustomerQuarantined("contoso", 9, "boom"),
        events.CustomerBlocked("contoso", "would remove 3 of 5", ("a@x", "b@x")),
        events.ConflictOpened("contoso", "itglue", "a@x", "Ann", "two candidates",
                              ({"id": "1", "name": "Ann"}, {"id": "2", "name": "Ann B"}), "pins: ..."),
        events.WelcomeUnsent("contoso", "a@x", "a@x: welcome email not sent (R16)"),
        events.BudgetExhausted("autotask", used=3000, limit=3000, window_seconds=3600, deferred=("contoso",)),
        events.ConfigInvalid("settings.yaml:3:1: nonsense"),
        events.FleetHeld("0123456789ab", {"contoso": ("a@x",), "fabrikam": ("b@x",)}, 2, 10),
    ]  # fmt: skip
    opened = {e.type for e in samples}
    assert opened | set(events.RESOLVED_TYPE.values()) == set(events.EVENT_TYPES)
    for e in samples:
        for status in ("firing", "reminder", "resolved"):
            jsonschema.validate(wire_event(e.customer, e.problem(), status, 1e9, 1e9 - 60), SCHEMA)
    assert events.FleetHeld().cause == "fleet" and events.BudgetExhausted("hudu").cause == "budget:hudu"


def test_anything_in_the_daemon_emits_a_typed_event_with_one_call(world: World) -> None:
    """What the budgets and guards code does: emit through the scheduler's sink (or a
    provider context's), deduplicated in the daemon store, resolved once, across a restart
    and across a second replica on the same state."""
    world.rig.cycle()
    assert world.rig.scheduler.events is world.notifier
    eff = next(iter(effective_customers(world.rig.scheduler.source.config).values()))
    engine = Engine(world.rig.scheduler.source.config, world.rig.store, events=world.rig.scheduler.events)
    assert engine.context(eff).events is world.notifier  # providers reach the same sink
    before = len(world.settle("/teams", 1))

    held = events.FleetHeld("0123456789ab", {"contoso": ("a@x",), "fabrikam": ("b@x",), "tailwind": ()}, 2, 3)
    world.rig.scheduler.events.emit(held)
    world.rig.scheduler.events.emit(held)  # still true: nothing new
    engine.context(eff).events.emit(
        events.BudgetExhausted("autotask", used=3000, limit=3000, window_seconds=3600)
    )
    teams = world.settle("/teams", before + 2)[before:]
    titles = sorted(m["attachments"][0]["content"]["body"][0]["text"] for m in teams)
    assert titles == ["budget.exhausted · fleet", "fleet.held · fleet"], titles
    card = next(m for m in teams if "fleet.held" in m["attachments"][0]["content"]["body"][0]["text"])
    texts = [b.get("text", "") for b in card["attachments"][0]["content"]["body"]]
    assert any("override --fleet 0123456789ab" in t for t in texts)
    assert any("- contoso: a@x" in t for t in texts)  # the exact removals held

    world.restart()  # a new process on the same state: no second "opened"
    second = Notifier(lambda: world.rig.scheduler.source.config.settings_doc.spec, world.root, world.rig.state,
                      world.rig.clock)  # fmt: skip
    second.start()
    try:
        world.rig.scheduler.events.emit(held)
        second.emit(held)
        assert len(world.settle("/teams", before + 3, timeout=1)) == before + 2

        world.rig.scheduler.events.resolve(events.FleetHeld())
        second.resolve(events.FleetHeld())  # the other replica saw it end too: told once
        teams = world.settle("/teams", before + 3)[before + 2 :]
        assert [m["attachments"][0]["content"]["body"][0]["text"] for m in teams] == [
            "Resolved: fleet.held · fleet"
        ]
        assert world.rig.state.get_record("alert", "*fleet*|fleet") is None
        record = world.rig.state.get_record("alert", "*fleet*") or {}
        assert list(record) == ["budget:autotask"]  # the budget is still open
    finally:
        second.stop(1)
