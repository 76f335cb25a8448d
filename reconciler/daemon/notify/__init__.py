"""Daemon stage: notifications, where MSPs work (Teams, Slack, email digest, signed webhooks).

events.py   what is wrong with a customer after a run (or with the fleet): problems
            by (customer, cause), and the versioned event they become
dedup.py    one notification per (customer, cause) while it lasts, a reminder at most
            every remindEveryHours per target, one "resolved" when it ends; kept in
            the daemon store, so restarts and replicas agree
targets.py  the wire formats: Teams Workflows Adaptive Card, Slack blocks, Standard
            Webhooks signature, the email digest
outbox.py   delivery on a thread of its own, retried with backoff: a failing target
            never slows reconciling
"""
