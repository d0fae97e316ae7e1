"""``shopguard console``: follow the topics, serve the pages with uvicorn on ``console.host:console.port``.

Verdicts are written with :func:`shopguard.local.alert_feedback.submit_verdict`, the one entry point that
``shopguard feedback`` uses too, passing the alert the console holds (as published, read committed), so no
second look-up is made; they are signed with ``console.analyst`` (empty: the operating-system user).
"""

from __future__ import annotations

import errno
import socket
from typing import Any, Mapping

import uvicorn

from shopguard.config import ConfigError, ShopguardConfig
from shopguard.console.active_rules import ActiveRules
from shopguard.console.alert_board import AlertBoard
from shopguard.console.pseudonyms import console_hashing
from shopguard.console.topic_follower import TopicFollower
from shopguard.console.web_app import ConsoleParts, create_app
from shopguard.local.alert_feedback import submit_verdict
from shopguard.training.analyst_verdicts import Verdict


def console_url(cfg: ShopguardConfig) -> str:
    """The address to open in a browser.

    >>> from shopguard.config import load_config
    >>> console_url(load_config(None)), console_url(load_config(None, ["console.host='::1'"]))
    ('http://127.0.0.1:8765/', 'http://[::1]:8765/')
    """
    host = cfg.console.host if cfg.console.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{cfg.console.port}/"


def check_port_free(cfg: ShopguardConfig) -> None:
    """Refuse early, naming the setting, when ``console.host:console.port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in cfg.console.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((cfg.console.host, cfg.console.port))
        except OSError as error:
            what = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
            raise ConfigError(
                f"console.host:console.port {cfg.console.host}:{cfg.console.port} {what}: stop what holds it or "
                "choose another, e.g. --set console.port=8766"
            ) from None


def run_console(cfg: ShopguardConfig) -> int:
    """Serve the console until Ctrl-C; returns an exit code."""
    check_port_free(cfg)
    board, rules = AlertBoard(cfg.console.max_alerts), ActiveRules()
    follower = TopicFollower(cfg, board, rules)

    def record_verdict(alert: Mapping[str, Any], verdict: str, anomaly_type: str | None, note: str) -> Verdict:
        return submit_verdict(
            cfg, alert["alert_id"], verdict, anomaly_type, analyst=cfg.console.analyst or None, note=note, alert=alert
        )

    parts = ConsoleParts(board, rules, console_hashing(cfg.privacy), record_verdict, follower.status)
    app = create_app(parts, cfg.console)
    follower.start()
    print(f"shopguard console on {console_url(cfg)} ({follower.status()}); Ctrl-C stops it", flush=True)
    try:
        uvicorn.run(app, host=cfg.console.host, port=cfg.console.port, log_level="warning", access_log=False)
    finally:
        follower.stop()
    return 0
