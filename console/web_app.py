"""The console's pages and its one state-changing request, as a Starlette application.

Pages: ``/`` the open alerts, newest first, with filters (``?type=&min_score=&model_version=``) and rows that
the page refreshes from ``/alerts/rows``; ``/alerts/{id}`` one alert with its reasons, every detector's
score, the events it rests on and the user's earlier alerts, and the verdict buttons; ``/rules`` the rules
on the rules topic. ``POST /alerts/{id}/verdict`` records a verdict through ``record_verdict`` after the
cross-site checks of :mod:`shopguard.console.cross_site`. Everything shown of an alert goes through
:func:`~shopguard.console.pseudonyms.display_safe` first; no setting reaches a template but the page's own
refresh interval.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from shopguard.config import ConsoleSettings
from shopguard.console import cross_site
from shopguard.console.active_rules import ActiveRules
from shopguard.console.alert_board import AlertBoard, AlertFilter, FilterError
from shopguard.console.pseudonyms import display_safe
from shopguard.local.alert_feedback import FeedbackError
from shopguard.training.analyst_verdicts import ABUSE_TYPES, CONFIRMED, FALSE_POSITIVE, Verdict, VerdictRefused
from shopguard.udfs.identifier_hashing import IdentifierHashing

HERE = Path(__file__).resolve().parent
LISTED_ALERTS = 500
"""Open alerts a list page shows at most; the filters narrow the rest down."""

SHOWN_APART = (
    "alert_id",
    "user_id",
    "anomaly_type",
    "score",
    "threshold",
    "model_version",
    "detected_at",
    "event_ts",
    "detectors",
    "reasons",
    "event_ids",
    "revision",
    "_arrival",
)
"""Alert fields (:data:`~shopguard.udfs.alerts.ALERT_FIELDS`) the alert page lays out itself; any other field
is listed as it is."""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

RecordVerdict = Callable[[Mapping[str, Any], str, "str | None", str], Verdict]
"""(alert as published, verdict, abuse type or None, note) -> the verdict written to the feedback topic."""


@dataclasses.dataclass(frozen=True)
class ConsoleParts:
    """What the pages read and write: the board, the rules, how to hash identifiers and record a verdict."""

    board: AlertBoard
    rules: ActiveRules
    hashing: IdentifierHashing
    record_verdict: RecordVerdict
    status: Callable[[], str] = lambda: ""


def create_app(parts: ConsoleParts, settings: ConsoleSettings) -> Starlette:
    """The console as an ASGI application (served by uvicorn in :mod:`shopguard.console.server`)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)

    def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
        token = request.cookies.get(cross_site.COOKIE) or cross_site.new_token()
        context = {"csrf_token": token, "status": parts.status(), "refresh_ms": settings.refresh_ms, **context}
        response = templates.TemplateResponse(request, name, context, status_code=status_code)
        if request.cookies.get(cross_site.COOKIE) != token:
            response.set_cookie(cross_site.COOKIE, token, httponly=True, samesite="strict", path="/")
        response.headers.update(SECURITY_HEADERS)
        return response

    def listed(request: Request) -> tuple[AlertFilter, list[dict[str, Any]], int]:
        alert_filter = AlertFilter.from_query(request.query_params)
        found = parts.board.open_alerts(alert_filter)
        shown = [display_safe(alert, parts.hashing) for alert in found[:LISTED_ALERTS]]
        return alert_filter, shown, len(found)

    async def open_alerts(request: Request) -> Response:
        version = parts.board.version
        try:
            alert_filter, alerts, total = listed(request)
        except FilterError as error:
            return page(request, "error.html", {"message": str(error)}, status_code=400)
        types, versions = parts.board.choices()
        context = {
            "alerts": alerts,
            "total": total,
            "filter": alert_filter,
            "version": version,
            "types": sorted({*types, *ABUSE_TYPES}),
            "model_versions": versions,
        }
        return page(request, "alerts.html", context)

    async def alert_rows(request: Request) -> Response:
        version = parts.board.version
        if request.query_params.get("since") == str(version):
            return Response(status_code=204, headers={**SECURITY_HEADERS, "X-Board-Version": str(version)})
        try:
            _, alerts, total = listed(request)
        except FilterError as error:
            return Response(str(error), status_code=400, headers=SECURITY_HEADERS)
        response = templates.TemplateResponse(request, "_alert_rows.html", {"alerts": alerts, "total": total})
        response.headers.update({**SECURITY_HEADERS, "X-Board-Version": str(version), "X-Open-Alerts": str(total)})
        return response

    async def one_alert(request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        alert = parts.board.alert(alert_id)
        if alert is None:
            return page(request, "error.html", {"message": f"no alert {alert_id} in this console"}, 404)
        return page(request, "alert.html", alert_context(alert))

    def alert_context(alert: Mapping[str, Any]) -> dict[str, Any]:
        shown = display_safe(dict(alert), parts.hashing)
        earlier = [display_safe(a, parts.hashing) for a in parts.board.earlier_alerts(alert)]
        return {
            "alert": shown,
            "events": _events_of(shown),
            "rule_hits": _rule_hits(shown),
            "others": {
                k: v for k, v in shown.items() if k not in SHOWN_APART and not (k == "rules" and _rule_hits(shown))
            },
            "earlier": earlier,
            "verdict": parts.board.verdict(alert["alert_id"]),
            "abuse_types": ABUSE_TYPES,
            "confirmed": CONFIRMED,
            "false_positive": FALSE_POSITIVE,
        }

    async def judge(request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        form = await request.form()
        refused = cross_site.refusal(
            cookie_token=request.cookies.get(cross_site.COOKIE),
            form_token=_text(form.get(cross_site.FIELD)),
            origin=request.headers.get("origin"),
            fetch_site=request.headers.get("sec-fetch-site"),
            own_origin=f"{request.url.scheme}://{request.headers.get('host', '')}",
        )
        if refused:
            return page(request, "error.html", {"message": refused}, status_code=403)
        alert = parts.board.alert(alert_id)
        if alert is None:
            return page(request, "error.html", {"message": f"no alert {alert_id} in this console"}, 404)
        try:
            verdict = await run_in_threadpool(  # the write waits for the broker: not on the event loop
                parts.record_verdict,
                alert,
                _text(form.get("verdict")),
                _text(form.get("anomaly_type")) or None,
                _text(form.get("note")),
            )
        except VerdictRefused as error:
            return page(request, "error.html", {"message": str(error)}, status_code=400)
        except FeedbackError as error:
            return page(request, "error.html", {"message": str(error)}, status_code=503)
        parts.board.add_verdict(dataclasses.asdict(verdict))
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303, headers=SECURITY_HEADERS)

    async def rules_page(request: Request) -> Response:
        def shown_as(value: Any) -> Any:
            return display_safe(value, parts.hashing)

        context = {"rules": parts.rules.listing(shown_as), "refused": parts.rules.refused(shown_as)}
        return page(request, "rules.html", context)

    routes = [
        Route("/", open_alerts),
        Route("/alerts/rows", alert_rows),
        Route("/alerts/{alert_id}", one_alert),
        Route("/alerts/{alert_id}/verdict", judge, methods=["POST"]),
        Route("/rules", rules_page),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    hosts = cross_site.allowed_hosts(settings.host)
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _events_of(alert: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events the alert rests on, oldest first, each with what the reasons say about it."""
    said: dict[str, list[str]] = {}
    for reason in alert.get("reasons") or []:
        if isinstance(reason, dict) and reason.get("event_id"):
            said.setdefault(str(reason["event_id"]), []).append(str(reason.get("text", "")))
    return [{"event_id": str(e), "reasons": said.get(str(e), [])} for e in alert.get("event_ids") or []]


def _rule_hits(alert: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rule versions that touched the alert (its ``rules`` field: id, version, effect, reason)."""
    hits = alert.get("rules")
    return [hit for hit in hits if isinstance(hit, dict)] if isinstance(hits, list) else []
