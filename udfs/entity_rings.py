"""Ring alerts: several accounts behind one device or IP doing the same thing together.

:func:`ring_evidence` reads an entity's :class:`~shopguard.udfs.entity_sketch.EntitySketch` after an event:
among the accounts it saw within :data:`RING_WINDOW_S` (3 days), how many signed up there, bought, carted or
favorited the same item there (either of the last two items each pushed), failed a payment there, failed a login
there, and how many did one of the ring's things (:data:`ACTED_TOGETHER`: signed up, failed a payment, or pushed
an item another of them pushed), so that a ring splitting its work over several items or activities, in any
order, still adds up. The entity is a ring (:meth:`RingRule.holds`) when one of these is shared by at least
``min_accounts`` accounts that make at least ``min_share`` of its recent accounts, and the entity is no crowd: an
entity that saw more than ``crowd_accounts_30d`` accounts in 30 days (a carrier NAT, an office, a shop's shared
tablet) is shared by design, and its figures reach the users' scoring (the ``entities`` detector) instead of
a ring alert. An IP also raises one for the accounts a device ring links there (:data:`WITH_A_DEVICE_RING`, :func:`
linked_evidence`): the device step marks the row (``ring_linked``) when the event's device is a ring, and
the IP names those accounts with the ones on its network that did what they did, whatever their device.

A ring alert goes through the same cool-down and revision logic as a user's alert
(:func:`~shopguard.udfs.cool_down.decide`): one open alert per entity, re-sent as a new revision when
more accounts join it (its score is the number of accounts it names), a new alert after a quiet
gap longer than ``job.alert_cooldown_ms``. It is published on the alerts topic with ``alert_kind`` =
``"ring"`` (user alerts carry ``"user"``), keyed by the entity's pseudonym; it never holds the raw
device id or IP. docs/detection.md describes the message for consumers.

Example
-------
>>> from shopguard.udfs.entity_sketch import EntitySketch
>>> sketch = EntitySketch()
>>> for n in range(5):
...     _ = sketch.observe(f"u{n}", "signup", 1_600_000_000_000 + 60_000 * n, "")
>>> evidence = ring_evidence(sketch)
>>> evidence.accounts_seen, evidence.together, RingRule(4, 0.5, 500).holds(evidence, 5.0)
(5, 5, True)
>>> evidence.activities[0]["text"]
'5 accounts signed up here'
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from shopguard.udfs.alerts import alert_id_for, rfc3339_ms
from shopguard.udfs.cool_down import OpenAlert, decide
from shopguard.udfs.entity_sketch import DAY_S, EntitySketch

RING_WINDOW_S = 3 * DAY_S
"""How far back a ring's accounts are gathered: a ring that opens its accounts hours or days apart is still one
ring (a day missed rings whose accounts started one to three days apart); the entity's remembered accounts
(16) bound it, whatever the window."""

RING_ANOMALY = "ring"
REPEATED_FAILURES = 2
"""Failed payments of one account on one entity that make it an account failing repeatedly: card testers try card
after card; an honest shopper whose card is declined may retry, but few share a device (or network) with
others doing the same within days (``entities.ring_min_failing_device`` / ``_ip``)."""
_SAME_ITEM_TEXT = "{n} accounts bought, carted or favorited the same item here"
ACTED_TOGETHER = "acted_together"
"""The activity of accounts that each did one of the ring's things (signed up, failed a payment, pushed an item
another of the entity's accounts pushed), counted when it joins more accounts than any one thing does: a ring
that splits its work (some accounts sign up, others push one of several items) is still one ring."""
ACTED_TOGETHER_TEXT = "{n} accounts signed up, failed a payment or pushed an item another of them pushed here"
WITH_A_DEVICE_RING = "with_a_device_ring"
"""The activity of an IP's accounts that a device ring links: accounts whose device was a ring at one of their
events here, and the accounts here that did what they did (pushed an item one of them pushed, or signed up, or
failed a payment, when one of them did). A ring that puts some accounts on a device of their own still shares
the network with the rest; naming it needs no minimum count, since the device ring already met its own."""


@dataclass(frozen=True)
class RingEvidence:
    """What an entity's recent accounts did together (the accounts seen by it within :data:`RING_WINDOW_S`)."""

    accounts: tuple[str, ...]  # the earliest first
    accounts_seen: int  # remembered accounts seen within RING_WINDOW_S
    together: int  # accounts sharing the most shared activity
    activities: tuple[dict[str, Any], ...]  # each shared activity, the most shared first
    since_s: int  # when the earliest of them was first seen by the entity
    failing_repeatedly: int = 0  # accounts that failed more than one payment here


def ring_evidence(sketch: EntitySketch) -> RingEvidence:
    """What the accounts an entity saw within :data:`RING_WINDOW_S` did together there; the accounts it names are those
    of the most shared activity (bystanders on the same device or network are not named)."""
    recent = sketch.accounts_in(RING_WINDOW_S)
    items = Counter(item for a in recent for item in a.pushed())
    top_item = items.most_common(1)[0][0] if items else 0
    groups = (
        ("signed_up", [a for a in recent if a.signed_up], "{n} accounts signed up here"),
        ("same_item", [a for a in recent if top_item and top_item in a.pushed()], _SAME_ITEM_TEXT),
        ("failed_payments", [a for a in recent if a.failed_payments > 0], "{n} accounts failed a payment here"),
        ("failed_logins", [a for a in recent if a.failed_logins > 0], "{n} accounts failed a login here"),
    )
    mixed = [a for a in recent if a.signed_up or a.failed_payments or any(items[i] >= 2 for i in a.pushed())]
    if len(mixed) > max(len(g[1]) for g in groups):
        groups += ((ACTED_TOGETHER, mixed, ACTED_TOGETHER_TEXT),)
    ranked = sorted(groups, key=lambda g: -len(g[1]))
    activities = tuple(
        {"activity": name, "accounts": len(group), "text": text.format(n=len(group))}
        for name, group, text in ranked
        if len(group) >= 2
    )
    named = ranked[0][1] if ranked[0][1] else recent
    return RingEvidence(
        accounts=tuple(a.account for a in named),
        accounts_seen=len(recent),
        together=len(ranked[0][1]),
        activities=activities,
        since_s=min((a.first_s for a in named), default=sketch.now_s),
        failing_repeatedly=sum(1 for a in recent if a.failed_payments >= REPEATED_FAILURES),
    )


def linked_evidence(sketch: EntitySketch) -> RingEvidence | None:
    """The accounts a device ring links at this entity (:data:`WITH_A_DEVICE_RING`), or None when no account
    here acted like the linked ones. Only these accounts are named (not every account of the entity).

    >>> from shopguard.udfs.entity_sketch import EntitySketch
    >>> ip = EntitySketch()
    >>> _ = ip.observe("r1", "purchase", 1_600_000_000_000, "i1", linked=True)
    >>> _ = ip.observe("solo", "purchase", 1_600_000_060_000, "i1")
    >>> _ = ip.observe("neighbour", "purchase", 1_600_000_120_000, "i2")
    >>> linked_evidence(ip).accounts
    ('r1', 'solo')
    """
    recent = sketch.accounts_in(RING_WINDOW_S)
    linked = [a for a in recent if a.linked]
    items = {item for a in linked for item in a.pushed()}
    signed_up, failed = any(a.signed_up for a in linked), any(a.failed_payments for a in linked)
    alike = [
        a
        for a in recent
        if not a.linked
        and (items.intersection(a.pushed()) or (signed_up and a.signed_up) or (failed and a.failed_payments > 0))
    ]
    if not linked or not alike:
        return None
    group = sorted(linked + alike, key=lambda a: a.first_s)
    text = f"{len(group)} accounts acted like the accounts of a device ring here ({len(linked)} of them from it)"
    return RingEvidence(
        accounts=tuple(a.account for a in group),
        accounts_seen=len(recent),
        together=len(group),
        activities=({"activity": WITH_A_DEVICE_RING, "accounts": len(group), "text": text},),
        since_s=group[0].first_s,
    )


@dataclass(frozen=True)
class RingRule:
    """When an entity's accounts make a ring (see the module docstring): ``min_accounts`` acting together, or
    ``min_failing`` failing payments repeatedly (:data:`REPEATED_FAILURES` each), a stronger sign that needs fewer."""

    min_accounts: int
    min_share: float
    crowd_accounts_30d: int
    min_failing: int | None = None

    def fewest(self) -> int:
        """The fewest accounts that can make a ring here."""
        return min(self.min_accounts, self.min_failing or self.min_accounts)

    def may_hold(self, sketch: EntitySketch, figures: dict[str, float]) -> bool:
        """False when the entity cannot be a ring: too few accounts, a crowd, or too few that did anything together."""
        if not self.fewest() <= figures["accounts_30d"] <= self.crowd_accounts_30d:
            return False  # too few accounts even in 30 days (most entities), or a crowd
        return sketch.acting_accounts(RING_WINDOW_S) >= self.fewest()

    def holds(self, evidence: RingEvidence, accounts_30d: float) -> bool:
        if accounts_30d > self.crowd_accounts_30d or not evidence.accounts_seen:
            return False
        if evidence.together >= self.min_accounts and evidence.together / evidence.accounts_seen >= self.min_share:
            return True
        failing = evidence.failing_repeatedly
        return (
            self.min_failing is not None
            and failing >= self.min_failing
            and failing / evidence.accounts_seen >= self.min_share
        )


@dataclass
class RingRecord:
    """An entity's open ring alert and the accounts named in it so far (kept in keyed state, bounded)."""

    alert: OpenAlert | None = None
    accounts: tuple[str, ...] = ()

    def to_json(self) -> str:
        body = {"alert": self.alert.to_json() if self.alert else None, "accounts": list(self.accounts)}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> "RingRecord":
        if not text:
            return cls()
        body = json.loads(text)
        return cls(OpenAlert.from_json(body["alert"]), tuple(body["accounts"]))


def named_accounts(earlier: tuple[str, ...], evidence: RingEvidence, limit: int) -> tuple[str, ...]:
    """The accounts an alert names: those named before (if the alert stays open), then the new ones, at most ``limit``.

    >>> named_accounts(("a", "b"), RingEvidence(("b", "c"), 2, 2, (), 0), 3)
    ('a', 'b', 'c')
    """
    seen = dict.fromkeys(earlier)
    seen.update(dict.fromkeys(evidence.accounts))
    return tuple(seen)[:limit]


def ring_alert(
    *,
    entity_type: str,
    entity: str,
    evidence: RingEvidence,
    accounts: tuple[str, ...],
    accounts_figures: dict[str, float],
    open_alert: OpenAlert,
    event_id: str,
    event_ts: int,
    detected_at_ms: int,
) -> dict[str, Any]:
    """The ring alert message (``alert_kind`` ``"ring"``) for an entity's open ring alert."""
    words = "this device" if entity_type == "device" else "this IP address"
    reasons = [
        {
            "feature": f"{entity_type}_accounts_24h",
            "value": accounts_figures["accounts_24h"],
            "text": f"{words}: {int(accounts_figures['accounts_24h'])} accounts in 24 h, "
            f"{int(accounts_figures['new_accounts_24h'])} of them new",
        }
    ] + [
        {"feature": f"{entity_type}_{a['activity']}", "value": a["accounts"], "text": f"{words}: {a['text']}"}
        for a in evidence.activities
    ]
    return {
        "alert_kind": "ring",
        "alert_id": open_alert.alert_id,
        "user_id": None,  # a ring is no one user: its accounts are listed in "accounts"
        "revision": open_alert.revision,
        "entity_type": entity_type,
        "entity": entity,
        "accounts": list(accounts),
        "account_count": len(accounts),
        "together": list(evidence.activities),
        "since": rfc3339_ms(evidence.since_s * 1000),
        "event_id": event_id,
        "event_ts": rfc3339_ms(event_ts),
        "detected_at": rfc3339_ms(detected_at_ms),
        "score": float(open_alert.score),
        "anomaly_type": RING_ANOMALY,
        "figures": {name: value for name, value in accounts_figures.items()},
        "reasons": reasons,
    }


class RingOutcome(NamedTuple):
    """What one event did to its entity's ring watch: the record to store (None: unchanged), the cool-down's
    action (None when the entity is no ring), and the alert to publish (None unless opened or updated)."""

    record: RingRecord | None
    action: str | None
    alert: dict[str, Any] | None


@dataclass(frozen=True)
class RingWatch:
    """The ring rule and the cool-down for one entity type: the job's entity step and the offline evaluation
    both call :meth:`observe` after each event, so they raise the same ring alerts."""

    entity_type: str
    rule: RingRule
    cooldown_ms: int
    max_named_accounts: int

    def observe(
        self,
        entity: str,
        sketch: EntitySketch,
        figures: dict[str, float],
        read_record: Callable[[], RingRecord],
        event_id: str,
        event_ts: int,
        detected_at_ms: int,
    ) -> RingOutcome:
        """``read_record`` is only called when the entity is a ring (a keyed-state read in the job)."""
        evidence = _watch_evidence(self.rule, sketch, figures)
        if evidence is None:
            return RingOutcome(None, None, None)
        record = read_record()
        open_alert = record.alert
        if open_alert is not None and event_ts - open_alert.last_crossing_ts > self.cooldown_ms:
            open_alert, record = None, RingRecord()  # a quiet gap: a new episode names only its own accounts
        accounts = named_accounts(record.accounts, evidence, self.max_named_accounts)
        decision = decide(
            open_alert,
            event_ts=event_ts,
            score=float(len(accounts)),  # the accounts named so far: a new revision when one joins
            anomaly_type=RING_ANOMALY,
            new_alert_id=ring_alert_id(self.entity_type, entity, event_id),
            cooldown_ms=self.cooldown_ms,
            min_gain=1.0,
        )
        stored = RingRecord(decision.alert, accounts)
        if decision.action == "suppress":
            return RingOutcome(stored, decision.action, None)
        alert = ring_alert(
            entity_type=self.entity_type,
            entity=entity,
            evidence=evidence,
            accounts=accounts,
            accounts_figures=figures,
            open_alert=decision.alert,
            event_id=event_id,
            event_ts=event_ts,
            detected_at_ms=detected_at_ms,
        )
        return RingOutcome(stored, decision.action, alert)


def _watch_evidence(rule: RingRule, sketch: EntitySketch, figures: dict[str, float]) -> RingEvidence | None:
    """The entity's own ring evidence when its rule holds, else the accounts a device ring links here (no crowd)."""
    if rule.may_hold(sketch, figures):  # most entities fail this cheaply
        evidence = ring_evidence(sketch)
        if rule.holds(evidence, figures["accounts_30d"]):
            return evidence
    if figures["accounts_30d"] > rule.crowd_accounts_30d or not sketch.linked_accounts(RING_WINDOW_S):
        return None
    return linked_evidence(sketch)


def ring_alert_id(entity_type: str, entity: str, event_id: str) -> str:
    """The id of the ring alert that ``event_id`` opens: stable for (entity, event), so replays agree."""
    return alert_id_for(f"ring-{entity_type}", entity, event_id)
