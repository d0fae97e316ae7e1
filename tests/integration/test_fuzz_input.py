"""Fuzzing the real job end to end: every mangled record is scored or dead-lettered, and nothing breaks.

A seeded generator (set ``SHOPGUARD_FUZZ_SEED`` to try another seed) builds a few hundred records: valid
events, and the same events truncated, with wrong types, huge numbers, invalid UTF-8, NUL bytes, lone
surrogates, nested garbage, missing fields, empty and oversized. They go to a private topic on the test
session's broker and through the real job on the mini-cluster (parallelism 2, its own consumer group,
every score written to a scores topic). The parser run in this process is the oracle: each record must
come out exactly once, as a score if the parser accepts it, else as a dead letter with the parser's reason;
the job's metrics must agree and it must never restart. Kafka tombstones (null values) are left out: the
connector drops them before the job sees them (docs/architecture.md, "Guarantees").
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from shopguard.local.alert_feed import collect
from shopguard.local.job_process import RunningJob, isolated_job_config
from shopguard.local.producer import send_records
from shopguard.local.topics import ensure_topics
from shopguard.udfs.events import DEAD_LETTER_REASONS, EVENT_TYPES, InvalidEvent, parse_event

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("SHOPGUARD_FUZZ_SEED", "20261126"))
T0 = 1_511_658_000_000
HUGE = "1" + "0" * 400


class Fuzz:
    """Seeded records, each made from a fresh base event (own event id, own IP and device)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.count = 0
        self.identifiers: dict[str, int] = {}  # IP or device id → the record it was made for

    def base(self) -> dict:
        rng, n = self.rng, self.count
        self.count += 1
        # Every event time within a few seconds: nothing valid can be late, whatever the order of arrival.
        body = {
            "event_id": f"fz-{n}-{rng.getrandbits(32):08x}",
            "user_id": f"fz-u{rng.randrange(24)}",
            "event_type": rng.choice(EVENT_TYPES),
            "ts": T0 + 10 * n,
        }
        if rng.random() < 0.7:
            body["ip"], body["device_id"] = f"10.{n // 250}.{n % 250}.{rng.randrange(1, 250)}", f"fz-device-{n}-x"
            self.identifiers[body["ip"]] = self.identifiers[body["device_id"]] = n
        for name, value in (
            ("session_id", f"s{n}"),
            ("item_id", str(rng.randrange(10**6))),
            ("category_id", str(rng.randrange(9000))),
            ("price", round(rng.uniform(0, 500), 2)),
            ("quantity", rng.randrange(1, 5)),
            ("user_agent", "Mozilla/5.0 (fuzz) 购物"),
            ("channel", rng.choice(["app", "web", None])),
        ):
            if rng.random() < 0.5:
                body[name] = value
        if body["event_type"] == "review" and rng.random() < 0.7:
            body["rating"] = rng.randrange(1, 6)
        if rng.random() < 0.2:  # the other timestamp spellings
            moment = datetime.fromtimestamp(body["ts"] / 1000, tz=timezone(timedelta(hours=rng.choice([0, 8, -5]))))
            body["ts"] = rng.choice([moment.isoformat(timespec="milliseconds"), str(body["ts"])])
        return body

    def text(self, body: dict) -> str:
        return json.dumps(body, ensure_ascii=self.rng.random() < 0.5)

    def valid(self) -> bytes:
        return self.text(self.base()).encode()

    def truncated(self) -> bytes:
        raw = self.valid()
        return raw[: self.rng.randrange(1, len(raw))]

    def wrong_type(self) -> bytes:
        body = self.base()
        field = self.rng.choice(
            ["event_id", "user_id", "event_type", "ts", "price", "quantity", "session_id", "item_id", "ip", "device_id"]
        )
        body[field] = self.rng.choice([True, [1, 2], {"nested": "x"}, "text", self.count + 0.5, -self.count])
        return self.text(body).encode()

    def huge_number(self) -> bytes:
        field = self.rng.choice(["ts", "price", "quantity", "user_id", "ts_negative", "price_float"])
        body = self.base()
        if field == "price_float":
            body["price"] = self.rng.choice([1e308, 9.9e307, 1e-320])  # all valid
            return self.text(body).encode()
        body[field.removesuffix("_negative")] = "__HUGE__"
        sign = "-" if field.endswith("_negative") else ""
        return self.text(body).replace('"__HUGE__"', sign + HUGE).encode()

    def invalid_utf8(self) -> bytes:
        raw = bytearray(self.valid())
        junk = self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28", b"\xc0\xaf", b"\x80"])
        at = self.rng.randrange(len(raw))
        return bytes(raw[:at] + junk + raw[at:])

    def nul(self) -> bytes:
        body = self.base()
        if self.rng.random() < 0.5:  # escaped inside a string: valid JSON, a valid event
            body["item_id"] = "a\u0000b"
            return json.dumps(body).encode()
        raw = self.text(body).encode()
        at = self.rng.randrange(len(raw))
        return raw[:at] + b"\x00" + raw[at:]

    def lone_surrogate(self) -> bytes:
        """A JSON escape of half a UTF-16 pair: valid JSON, valid UTF-8 bytes, but no character."""
        body = self.base()
        field = self.rng.choice(["user_id", "event_id", "item_id", "user_agent", "__key__"])
        if field == "__key__":  # in a key, and the record rejected for another reason
            body["__SURROGATE__"] = 1
            body.pop("event_id")
        else:
            body[field] = f"{body.get(field, 'x')}__SURROGATE__"
        if self.rng.random() < 0.3:
            body.pop("ts")  # rejected before the bad field is read: the dead letter still carries it
        return json.dumps(body).replace("__SURROGATE__", self.rng.choice(["\\ud800", "\\udfff"])).encode()

    def nested_garbage(self) -> bytes:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return ("[" * 5000 + "]" * 5000).encode()
        if kind == 1:
            body = self.base()
            body[rng.choice(["event_type", "ts", "user_id"])] = {"a": [{"b": [{"c": None}] * 3}] * 3}
            return self.text(body).encode()
        if kind == 2:
            return json.dumps([self.base(), self.base()]).encode()
        return rng.choice([b"42", b'"just a string"', b"true", b"null", b"3.14"])

    def missing_field(self) -> bytes:
        body = self.base()
        body.pop(self.rng.choice(["event_id", "user_id", "event_type", "ts"]))
        return self.text(body).encode()

    def odd_values(self) -> bytes:
        body = self.base()
        field, value = self.rng.choice(
            [
                ("ts", "last tuesday"),
                ("ts", "2017-11-26T01:00:00"),
                ("ts", 15),
                ("ts", "9999-12-31T23:59:59Z"),
                ("event_type", "teleport"),
                ("price", -1),
                ("quantity", 2_000_000),
                ("quantity", 2.5),
                ("item_id", "i" * 300),
                ("user_id", ""),
                ("event_id", None),
                ("quantity", 3.0),
                ("rating", 9),
                ("rating", "five"),
                ("rating", 4.5),
            ]
        )
        body[field] = value
        if field == "rating" and self.rng.random() < 0.5:
            body["event_type"] = "review"  # else it is also on an event that may carry none
        return self.text(body).encode()

    def oversized(self) -> bytes:
        if self.rng.random() < 0.3:
            return bytes(self.rng.getrandbits(8) for _ in range(100_000))
        body = self.base()
        body["padding"] = "p" * self.rng.choice([70_000, 200_000])
        return self.text(body).encode()

    def records(self) -> list[bytes]:
        plan = [
            (self.valid, 110),
            (self.truncated, 40),
            (self.wrong_type, 40),
            (self.huge_number, 30),
            (self.invalid_utf8, 30),
            (self.nul, 20),
            (self.lone_surrogate, 12),
            (self.nested_garbage, 16),
            (self.missing_field, 30),
            (self.odd_values, 36),
            (self.oversized, 4),
        ]
        records = [make() for make, count in plan for _ in range(count)]
        records += [b"", b" ", b"\n", b"{}", b'""', b"{", b"\xef\xbb\xbf{}"]  # empty, blank, BOM
        self.rng.shuffle(records)
        return records


def kafka_key(raw: bytes) -> str | None:
    match = re.search(rb'"user_id": "(fz-u\d+)"', raw)
    return match[1].decode() if match else None


@pytest.fixture(scope="module")
def fuzzed(kafka_config, tmp_path_factory):
    """Run the job over the fuzzed records; yield the oracle's expectations and what came out."""
    fuzz = Fuzz(SEED)
    records = fuzz.records()
    limits, now_ms = kafka_config.validation, int(time.time() * 1000)
    expected_ids, expected_reasons = [], Counter()
    for raw in records:
        try:
            expected_ids.append(parse_event(raw, limits, now_ms).event_id)
        except InvalidEvent as error:
            expected_reasons[error.reason] += 1
    assert len(set(expected_ids)) == len(expected_ids), "the generator must not repeat event ids"
    print(f"fuzz seed {SEED}: {len(records)} records, {len(expected_ids)} valid, dead letters {dict(expected_reasons)}")

    cfg, ports = isolated_job_config(kafka_config, "fuzz", tmp_path_factory.mktemp("empty-registry"))
    topics = cfg.topics
    ensure_topics(cfg)
    job = RunningJob(cfg, tmp_path_factory.mktemp("fuzz-job") / "job.log", ports=ports).start()
    try:
        send_records(cfg, topics.events, [(kafka_key(raw), raw) for raw in records])
        dead = collect(
            cfg, topics.dead_letters, until=lambda got: len(got) >= sum(expected_reasons.values()), timeout_s=60
        )
        scores = collect(cfg, topics.scores, until=lambda got: len(got) >= len(expected_ids), timeout_s=60)
        time.sleep(2.5)  # one more checkpoint: anything extra (a duplicate, a late event) would show now
        dead = collect(cfg, topics.dead_letters, until=lambda got: False, timeout_s=3)
        scores = collect(cfg, topics.scores, until=lambda got: False, timeout_s=3)
        yield {
            "records": records,
            "expected_ids": expected_ids,
            "expected_reasons": expected_reasons,
            "dead": dead,
            "scores": scores,
            "fuzz": fuzz,
            "metrics": job.metrics(),
            "restarts": job.job_restarts(),
            "running": job.is_running(),
            "log": job.log_tail,
        }
    finally:
        job.stop()


def test_the_fuzz_covers_every_kind_of_input(fuzzed):
    reasons = fuzzed["expected_reasons"]
    assert len(fuzzed["records"]) >= 350 and len(fuzzed["expected_ids"]) >= 100
    assert set(reasons) >= set(DEAD_LETTER_REASONS), f"seed {SEED}: {reasons}"


def test_the_job_never_restarts_on_bad_input(fuzzed):
    assert fuzzed["running"], fuzzed["log"]()
    assert fuzzed["restarts"] == 0, f"seed {SEED}: {fuzzed['log']()}"


def test_every_accepted_record_is_scored_exactly_once(fuzzed):
    scored = Counter(score["event_id"] for score in fuzzed["scores"])
    assert scored == Counter(fuzzed["expected_ids"]), f"seed {SEED}"


def test_every_rejected_record_is_a_dead_letter_with_the_parser_s_reason(fuzzed):
    reasons = Counter(letter["reason"] for letter in fuzzed["dead"])
    assert set(reasons) <= set(DEAD_LETTER_REASONS)
    assert reasons == fuzzed["expected_reasons"], f"seed {SEED}"
    assert all(letter["record_bytes"] >= 0 and letter["detail"] for letter in fuzzed["dead"])


def test_the_metrics_count_what_the_topics_hold(fuzzed):
    metrics = fuzzed["metrics"]
    assert metrics["events_in"] == len(fuzzed["records"])
    assert metrics["dead_letters"] == len(fuzzed["dead"])
    assert metrics["events_valid"] == len(fuzzed["expected_ids"]) == metrics["events_to_score"]
    for reason, count in fuzzed["expected_reasons"].items():
        assert metrics[f"dead_letters_{reason}"] == count, reason
    assert metrics.get("late_events", 0) == 0 and metrics.get("duplicates", 0) == 0


def test_no_dead_letter_shows_an_ip_or_device_id_that_its_record_held_in_clear(fuzzed):
    # An identifier still written as `"ip": "<value>"` in the record must come out hashed; one that a
    # mangling cut or broke (a byte inside the key, say) is not promised anything.
    fuzz, dead_text = fuzzed["fuzz"], "\n".join(json.dumps(letter, ensure_ascii=False) for letter in fuzzed["dead"])
    intact = [
        value
        for raw in fuzzed["records"]
        for value in fuzz.identifiers
        if f'"{value}"'.encode() in raw and re.search(rb'"(ip|device_id)": "' + re.escape(value.encode()) + b'"', raw)
    ]
    assert len(intact) > 50
    leaked = [value for value in intact if value in dead_text]
    assert not leaked, f"seed {SEED}: {leaked[:5]}"
