"""``shopguard mine-patterns``: mine the users' patterns from the platform's own event history.

``shopguard train`` mines simulated returning shoppers, which shows how the detector behaves; in
production the profiles must come from the platform's real users. This reads an export of their
history (canonical JSON events, one per line, e.g. a dump of the events topic), validates every line
with the job's parser (bad lines are counted and reported by line number, never fatal), encodes each
user's events with the job's encoder and writes ``patterns.sqlite`` into a model folder, replacing
the one ``shopguard train`` put there. Publish the folder afterwards as usual.

Example
-------
>>> import tempfile, pathlib
>>> from shopguard.config import ShopguardConfig
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> history = folder / "history.jsonl"
>>> lines = [f'{{"event_id": "e{i}", "user_id": "u{i % 3}", "event_type": "page_view", '
...          f'"ts": {1511658000000 + 1000 * i}}}' for i in range(30)]
>>> _ = history.write_text("\\n".join(lines + ["not json"]) + "\\n")
>>> summary = mine_history(ShopguardConfig(), history, folder, progress=lambda line: None)
>>> summary.users, summary.events, summary.bad_lines, (folder / "patterns.sqlite").is_file()
(3, 30, [(31, 'malformed_json')], True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from shopguard.config import ShopguardConfig
from shopguard.training.encoded_traffic import encode_traffic
from shopguard.training.labelled_traffic import LabelledTraffic
from shopguard.training.pattern_mining import mine_patterns
from shopguard.udfs.events import Event, InvalidEvent, parse_event

MAX_REPORTED_BAD_LINES = 20


@dataclass
class MinedHistory:
    users: int
    events: int
    bad_lines: list[tuple[int, str]]  # (line number, reason), the first few
    bad_line_count: int
    store: Path


def read_history(path: str | Path, cfg: ShopguardConfig) -> tuple[list[Event], list[tuple[int, str]], int]:
    """Valid events of a JSON-lines file (any age is fine for history), and the bad lines by number."""
    events, bad, count = [], [], 0
    far_future = int(time.time() * 1000)
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                events.append(parse_event(line.rstrip(b"\r\n"), cfg.validation, far_future))
            except InvalidEvent as error:
                count += 1
                if len(bad) < MAX_REPORTED_BAD_LINES:
                    bad.append((number, error.reason))
    return events, bad, count


def mine_history(
    cfg: ShopguardConfig, history: str | Path, model_dir: str | Path, progress: Callable[[str], None] = print
) -> MinedHistory:
    """Mine ``history`` into ``model_dir/patterns.sqlite``."""
    events, bad, bad_count = read_history(history, cfg)
    if bad_count:
        progress(f"{history}: {bad_count:,} lines skipped, first ones (line, reason): {bad}")
    events.sort(key=lambda e: e.ts_ms)
    progress(f"encoding {len(events):,} events with the job's encoder")
    traffic = encode_traffic(LabelledTraffic(events, []), cfg.job.history_length)
    mined = mine_patterns(traffic, cfg.patterns, progress)
    store = mined.write(model_dir, cfg.patterns)
    progress(f"wrote {store}: {mined.users:,} users, {len(mined.document_frequency):,} sequences")
    return MinedHistory(mined.users, len(events), bad, bad_count, store)
