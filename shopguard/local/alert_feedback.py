"""Analysts' verdicts on Kafka: find the alert judged, write the verdict to ``alert-feedback``, read them back.

The one entry point for anything that records a verdict (``shopguard feedback``, the console) is
:func:`submit_verdict`: it looks the alert up among the *committed* alerts (``read_committed``, so an
alert of an aborted job attempt cannot be judged), builds the verdict with
:func:`~shopguard.training.analyst_verdicts.make_verdict` (which refuses an unknown alert, verdict or abuse
type with the reason) and writes it keyed by user id, waiting for every in-sync replica. A caller that
already holds the alert as published (the console does) passes it and no lookup is made.
:func:`read_verdicts` reads the topic back for ``shopguard retrain``; a record that is not a verdict is
returned beside the good ones with its reason, never dropped silently.
"""

from __future__ import annotations

import getpass
from typing import Any, Mapping

from shopguard.config import ShopguardConfig
from shopguard.errors import ShopguardError
from shopguard.local.alert_feed import committed_values
from shopguard.local.producer import deliver
from shopguard.training.analyst_verdicts import Verdict, VerdictRefused, make_verdict, parse_verdict
from shopguard.udfs.alerts import newest_revisions


class FeedbackError(ShopguardError):
    """The feedback topic could not be written or read; the message names the topic, the broker and what to do."""


def default_analyst() -> str:
    """Who is judging when no name is given: the operating-system user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def submit_verdict(
    cfg: ShopguardConfig,
    alert_id: str,
    verdict: str,
    anomaly_type: str | None = None,
    *,
    analyst: str | None = None,
    note: str = "",
    alert: Mapping[str, Any] | None = None,
    lookup_timeout_s: float = 30.0,
) -> Verdict:
    """Judge the alert ``alert_id`` and write the verdict to ``cfg.topics.feedback``; return what was written.

    ``verdict`` is ``confirmed`` (with ``anomaly_type``) or ``false_positive``. ``alert`` is the alert as
    published, when the caller has it; otherwise it is looked up on ``cfg.topics.alerts``. Raises
    :class:`~shopguard.training.analyst_verdicts.VerdictRefused` with the reason for a verdict that cannot be
    a label, :class:`FeedbackError` when the broker does not take it.
    """
    if alert is not None and alert.get("alert_id") != alert_id:
        raise VerdictRefused(alert_id, f"the alert given has id {alert.get('alert_id')!r}, not {alert_id!r}")
    if alert is None:
        alert = find_alert(cfg, alert_id, lookup_timeout_s)
    decided = make_verdict(
        alert, verdict, anomaly_type, analyst=analyst or default_analyst(), note=note, alert_id=alert_id
    )
    write_verdict(cfg, decided)
    return decided


def find_alert(cfg: ShopguardConfig, alert_id: str, timeout_s: float = 30.0) -> dict[str, Any] | None:
    """The newest revision of the committed alert ``alert_id`` on the alerts topic, or None.

    Reads every partition from its start to its last stable offset as of the call (under ``read_committed``
    the end offsets are those of the committed records), or until ``timeout_s``.
    """
    return newest_revisions(committed_values(cfg, cfg.topics.alerts, timeout_s)).get(alert_id)


def write_verdict(cfg: ShopguardConfig, verdict: Verdict) -> None:
    """Write one verdict to ``cfg.topics.feedback`` keyed by its user id and wait until the broker has it."""
    record = (verdict.user_id, verdict.to_json())
    deliver(cfg, cfg.topics.feedback, [record], f"the verdict on alert {verdict.alert_id}", FeedbackError)


def read_verdicts(cfg: ShopguardConfig, timeout_s: float = 60.0) -> tuple[list[Verdict], list[VerdictRefused]]:
    """Every verdict on ``cfg.topics.feedback`` in the order written, and the records refused as verdicts."""
    verdicts, refused = [], []
    for value in committed_values(cfg, cfg.topics.feedback, timeout_s, parse=False):
        try:
            verdicts.append(parse_verdict(value))
        except VerdictRefused as error:
            refused.append(error)
    return verdicts, refused
