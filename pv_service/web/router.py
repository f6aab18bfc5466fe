"""The safety officers' web pages under /ui: parse, authorise, call services/queries, render.

Server-rendered (Jinja2, autoescape on), no JavaScript. Errors never reach the JSON
error handlers of the API: the route class below renders them as pages (or sends the
browser to the login page).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, Undefined
from pydantic import ValidationError

from pv_service.alerting import queue as alert_queue
from pv_service.alerting import service as alerting
from pv_service.alerting.schemas import TransitionIn
from pv_service.alerting.workflow import Action, cases_since_review, transitions_for
from pv_service.audit.head import verify_against_exported
from pv_service.auth import accounts
from pv_service.caseseries import filters as series_filters
from pv_service.caseseries import service as series_service
from pv_service.auth.login import LoginRefused, password_login
from pv_service.auth.principal import SessionDep
from pv_service.auth.security import create_access_token
from pv_service.common.errors import Conflict, DomainError, InvalidInput, NotFound
from pv_service.common.vocab import Role
from pv_service.core.db import app_engine
from pv_service.core.deps import Now
from pv_service.core.settings import get_settings
from pv_service.jobs.definitions import current_rules
from pv_service.signal_records import records as signal_records
from pv_service.signal_records import service as records_service
from pv_service.signals.models import SignalRun
from pv_service.rsi import service as rsi_service
from pv_service.signals import trend_queries
from pv_service.web import charts, queries
from pv_service.web.auth import (
    LOGIN_COOKIE,
    WEB_ROLES,
    CsrfRejected,
    LoginRequired,
    NotAdmin,
    NotSafetyOfficer,
    Officer,
    SignedIn,
    WebSession,
    check_csrf,
    clear_session_cookie,
    new_login_token,
    safe_next,
    set_login_cookie,
    set_session_cookie,
    tokens_match,
)

HERE = Path(__file__).resolve().parent
# Compliance table columns: status and its short header, in reading order.
PATIENT_COLUMNS = (("active", "active"), ("lost_to_follow_up", "lost to FU"), ("deceased", "deceased"),
                   ("withdrawn", "withdrawn"), ("transferred", "transferred"), ("completed", "completed"))
TIMEPOINT_COLUMNS = (("completed_on_time", "on time"), ("completed_late", "late"), ("window_open", "window open"),
                     ("overdue", "overdue"), ("missed", "missed"), ("not_yet_due", "not yet due"))
STATIC_FILES = {"style.css": "text/css"}


# ---- presentation helpers (Jinja filters)

def fmt_num(value: Any) -> str:
    if value is None or isinstance(value, Undefined):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    value = float(value)
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2g}"


def fmt_when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None or isinstance(value, Undefined) else f"{100 * value:.0f}%"


def fmt_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value is not None else "—"


def label(value: Any) -> str:
    return "—" if value is None or isinstance(value, Undefined) else str(value).replace("_", " ")


LEVEL_LABELS = {"pt": "MedDRA preferred term", "hlt": "MedDRA high level term", "hlgt": "MedDRA high level group term",
                "soc": "MedDRA system organ class", "smq": "standardised MedDRA query (narrow)",
                "smq:broad": "standardised MedDRA query (broad)", "group": "group of terms"}


def level_label(level: Any) -> str:
    """How an alert's level reads: "soc:all" is a SOC counted over all paths of its PTs."""
    level = "pt" if level is None or isinstance(level, Undefined) else str(level)
    if level.endswith(":all"):
        return LEVEL_LABELS.get(level[:-4], level) + ", all paths"
    return LEVEL_LABELS.get(level, label(level))


_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
_env.filters.update(num=fmt_num, when=fmt_when, pct=fmt_pct, json=fmt_json, label=label)
_env.globals.update(level_label=level_label)
templates = Jinja2Templates(env=_env)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, status_code: int, title: str, message: str, web: WebSession | None = None,
               relogin: bool = False) -> Response:
    return render(request, "error.html", {"web": web, "title": title, "message": message, "relogin": relogin,
                                          "status_code": status_code}, status_code)


class UIRoute(APIRoute):
    """Turns the web pages' exceptions into pages instead of the API's JSON answers."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                params = {"next": target if request.method == "GET" else "/ui"}
                if exc.expired:
                    params["expired"] = "1"
                return RedirectResponse("/ui/login?" + urlencode(params), status_code=303)
            except NotSafetyOfficer as exc:
                if exc.principal.role == Role.admin:
                    return RedirectResponse("/ui/admin", status_code=303)
                return error_page(request, 403, "Safety officers only",
                                  f"You are signed in as {exc.principal.username} (role: {exc.principal.role.value}). "
                                  "These pages are for safety officers; other roles use the API.", relogin=True)
            except NotAdmin as exc:
                return error_page(request, 403, "Admins only",
                                  f"You are signed in as {exc.principal.username} (role: {exc.principal.role.value}). "
                                  "Account management is for admins.")
            except CsrfRejected:
                return error_page(request, 403, "Form expired",
                                  "The form was not sent from this session (missing or stale security token). "
                                  "Reload the page and try again.")
            except InvalidInput as exc:
                return error_page(request, 422, "Invalid request", exc.message)
            except DomainError as exc:
                return error_page(request, exc.status_code, "Not found" if exc.status_code == 404 else "Error",
                                  exc.message)
            except RequestValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                return error_page(request, 422, "Invalid request", problems)

        return guarded


router = APIRouter(route_class=UIRoute, include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui/static/{name}")
def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise NotFound("no such file")
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "public, max-age=3600"})


# ---- login / logout

def _login_form(request: Request, next_: str, error: str | None = None, notice: str | None = None,
                status_code: int = 200) -> Response:
    token = new_login_token()
    response = render(request, "login.html", {"web": None, "next": safe_next(next_), "error": error,
                                              "notice": notice, "login_csrf": token}, status_code)
    set_login_cookie(response, request, token)
    return response


@router.get("/ui/login")
def login_form(request: Request, next: str = "/ui", expired: bool = False) -> Response:
    return _login_form(request, next, notice="Your session has ended; please sign in again." if expired else None)


@router.post("/ui/login")
async def login(request: Request, now: Now,
                username: Annotated[str, Form(max_length=100)] = "", password: Annotated[str, Form(max_length=200)] = "",
                login_csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/ui") -> Response:
    if not tokens_match(request.cookies.get(LOGIN_COOKIE, ""), login_csrf):
        return _login_form(request, next, error="The sign-in form expired; please try again.", status_code=400)
    address = request.client.host if request.client else None
    try:
        user = await password_login(app_engine(request), username.strip(), password, address, now)
    except LoginRefused as exc:
        response = _login_form(request, next, error=f"Too many sign-in attempts; try again in {exc.retry_after} s."
                               if exc.status_code == 429 else "Too many sign-ins at once; try again shortly.",
                               status_code=exc.status_code)
        response.headers.update(exc.headers)
        return response
    if user is None:
        return _login_form(request, next, error="Wrong username or password.", status_code=401)
    if user.role not in WEB_ROLES:
        return error_page(request, 403, "Safety officers only",
                          f"{user.username} has the role {user.role}. These pages are for safety officers; "
                          "other roles use the API.", relogin=True)
    settings = get_settings()
    token = create_access_token(user.id, user.role, settings.secret_key, settings.access_token_minutes, now,
                                user.token_version)
    target = safe_next(next)
    if user.role == Role.admin and not target.startswith("/ui/admin"):
        target = "/ui/admin"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, token)
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/ui/logout")
def logout(request: Request, web: SignedIn, session: SessionDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    # Server-side: the session token is refused from now on, even if the cookie was copied.
    accounts.end_sessions(session, web.principal.user_id)
    session.commit()
    response = RedirectResponse("/ui/login", status_code=303)
    clear_session_cookie(response, request)
    return response


# ---- alert queue

def _choice(value: str, allowed: tuple[str, ...], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput.one(("query", name), f"unknown {name} {value!r}; one of {', '.join(allowed)}")
    return value


QUEUE_BULK_MAX = 500
BULK_STEPS = {"acknowledge": "acknowledged", "resolve": "resolved"}
BULK_DONE = re.compile(r"(acknowledge|resolve|assign|assign_me|unassign):[0-9]{1,4}")


def _queue_page(request: Request, web: WebSession, session, *, view: str = "all", type: str = "", status: str = "",
                product: str = "", open_only: bool = True, mine: bool = False, page: int = 1,
                bulk_error: list[str] | None = None, bulk_done: str | None = None, comment: str = "",
                status_code: int = 200) -> Response:
    filters = queries.QueueFilters(type=_choice(type, queries.ALERT_TYPES, "type"),
                                   status=_choice(status, queries.ALL_STATUSES, "status"),
                                   product=product or None, open_only=open_only,
                                   view=_choice(view, alert_queue.VIEW_NAMES, "view") or "all",
                                   assignee_id=web.principal.user_id if mine else None)
    view_counts = queries.view_counts(session, filters)
    rows, total = queries.queue_page(session, filters, page, total=view_counts[filters.view])
    base = {"view": filters.view if filters.view != "all" else "", "type": filters.type or "",
            "status": filters.status or "", "product": filters.product or "",
            "open_only": "1" if open_only else "0", "mine": "1" if mine else ""}

    def url(**changes) -> str:
        params = {k: v for k, v in {**base, **changes}.items() if v not in ("", None)}
        return "/ui/alerts?" + urlencode(params)

    return render(request, "queue.html", {
        "web": web, "nav": "queue", "rows": rows, "total": total, "page": page,
        "pages": queries.pages(total, queries.QUEUE_PAGE_SIZE), "filters": filters, "url": url, "mine": mine,
        "counts": queries.status_counts(session, filters), "products": queries.product_codes(session),
        "types": queries.ALERT_TYPES, "statuses": queries.ALL_STATUSES, "views": alert_queue.VIEWS,
        "view_counts": view_counts, "officers": queries.safety_officers(session),
        "bulk_error": bulk_error, "bulk_done": bulk_done, "comment": comment, "back": url(page=page),
    }, status_code)


@router.get("/ui")
@router.get("/ui/alerts")
def queue(request: Request, web: Officer, session: SessionDep, view: str = "", type: str = "", status: str = "",
          product: str = "", open_only: bool = True, mine: bool = False,
          page: Annotated[int, Query(ge=1)] = 1, done: str = "") -> Response:
    return _queue_page(request, web, session, view=view, type=type, status=status, product=product,
                       open_only=open_only, mine=mine, page=page,
                       bulk_done=done if BULK_DONE.fullmatch(done) else None)


@router.post("/ui/alerts/bulk")
def queue_bulk(request: Request, web: Officer, session: SessionDep, now: Now,
               alert_id: Annotated[list[int] | None, Form()] = None, operation: Annotated[str, Form()] = "",
               assignee_id: Annotated[str, Form()] = "", comment: Annotated[str, Form(max_length=4000)] = "",
               back: Annotated[str, Form()] = "/ui/alerts", csrf_token: Annotated[str, Form()] = "") -> Response:
    """Acknowledge, resolve or assign the ticked alerts: all of them, or none (each problem listed)."""
    check_csrf(web, csrf_token)
    target = safe_next(back) if back.startswith("/ui/alerts") else "/ui/alerts"

    def _refused(problems: list[str], status_code: int = 422) -> Response:
        session.rollback()
        return _queue_page(request, web, session, bulk_error=problems, comment=comment, status_code=status_code)

    ids = list(dict.fromkeys(alert_id or []))
    if not ids:
        return _refused(["Tick at least one alert."])
    if len(ids) > QUEUE_BULK_MAX:
        return _refused([f"At most {QUEUE_BULK_MAX} alerts at once ({len(ids)} ticked)."])
    if operation not in (*BULK_STEPS, "assign", "assign_me", "unassign"):
        return _refused([f"Unknown operation {operation!r}: acknowledge, resolve, assign, assign_me or unassign."])
    problems: list[str] = []
    status_code = 422
    if operation in BULK_STEPS:
        if not comment.strip():
            return _refused(["A comment is required: say why (it is recorded in the audit trail)."])
        body = TransitionIn(to=BULK_STEPS[operation], comment=comment.strip())
        for aid in ids:
            try:
                alert = alerting.visible_alert(session, web.principal, aid)
                alerting.transition(session, web.principal, alert, body, now)
            except Conflict as exc:
                problems.append(f"alert {aid}: {exc.message}")
                status_code = 409
            except NotFound as exc:
                problems.append(f"alert {aid}: {exc.message}")
    else:
        who: int | None = None
        if operation == "assign_me":
            who = web.principal.user_id
        elif operation == "assign":
            if not assignee_id.isdigit():
                return _refused(["Choose a safety officer to assign to."])
            who = int(assignee_id)
        for aid in ids:
            try:
                alerting.assign(session, web.principal, alerting.visible_alert(session, web.principal, aid), who, now)
            except (InvalidInput, NotFound) as exc:
                problems.append(f"alert {aid}: {exc.message}")
    if problems:
        return _refused(problems, status_code)
    session.commit()
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}{urlencode({'done': f'{operation}:{len(ids)}'})}", status_code=303)


# ---- one alert

def _signal_context(session, view: queries.AlertView, cases_page: int) -> dict[str, Any]:
    detail = view.alert.detail
    measures = detail.get("measures") or {}
    product = detail.get("product") or view.product_code
    event, level = detail.get("event"), detail.get("level") or "pt"
    trend = queries.signal_trend(session, product, event, level) if product and event else []
    labels = [p.as_of.isoformat() for p in trend]
    highlight = next((i for i, p in enumerate(trend) if p.run_id == detail.get("run_id")), None)
    trend_chart = charts.line_chart(labels, [
        charts.Series("PRR", [p.pair.prr for p in trend], charts.PALETTE[0]),
        charts.Series("ROR", [p.pair.ror for p in trend], charts.PALETTE[1]),
        charts.Series("EBGM", [p.pair.ebgm for p in trend], charts.PALETTE[2]),
        charts.Series("EB05", [p.pair.eb05 for p in trend], charts.PALETTE[2], dashed=True),
    ], title=f"{event} with {product}: measures across signal runs" if trend else "measures across signal runs",
        y_label="ratio (log scale)", log=True,
        reference=1.0, highlight=highlight)
    cases = queries.signal_cases(session, view.alert, view.product_code, cases_page)
    quarters = charts.cumulative_by_quarter(cases.received)
    cases_chart = charts.bar_chart([q for q, _ in quarters], [n for _, n in quarters],
                                   title="Cumulative cases by quarter of first receipt", y_label="cases")
    run = session.get(SignalRun, detail["run_id"]) if detail.get("run_id") else None
    quarterly = trend_queries.quarterly(session, product, event, level, run_id=detail.get("run_id")) \
        if product and event else None
    return {
        "quarterly": quarterly, "quarterly_chart": _quarterly_chart(quarterly, event, product),
        "signal": detail, "measures": measures, "table": queries.two_by_two(measures), "terms": queries.signal_terms(detail),
        "hierarchy": queries.signal_hierarchy(session, detail,
                                              queries.signal_pt_codes_seen(session, view.alert, view.product_code)),
        "mgps_prior": (run.hyperparameters or {}).get("summary") if run is not None else None,
        "trend": trend, "trend_chart": trend_chart, "cases": cases, "cases_chart": cases_chart,
        "cases_page": cases_page, "cases_pages": queries.pages(cases.total, queries.CASES_PAGE_SIZE),
    }


def _quarterly_chart(trend, event, product):
    """Cumulative and interval ROR by calendar quarter of first receipt (issue 16: by quarter, not by run)."""
    quarters = trend.quarters if trend is not None else []
    # c = 0 (no other product has the event): PRR and ROR are infinite in every quarter with a case
    infinite = any(q.a for q in quarters) and not any(
        v is not None and math.isfinite(v) and v > 0 for q in quarters for v in (q.prr, q.ror, q.interval_ror))
    return charts.line_chart([q.quarter for q in quarters], [
        charts.Series("ROR", [q.ror for q in quarters], charts.PALETTE[1]),
        charts.Series("ROR lower", [q.ror_lower for q in quarters], charts.PALETTE[1], dashed=True),
        charts.Series("PRR", [q.prr for q in quarters], charts.PALETTE[0]),
        charts.Series("ROR in quarter", [q.interval_ror for q in quarters], charts.PALETTE[2], dashed=True),
    ], title=f"{event} with {product}: measures by quarter of first receipt" if quarters
        else "measures by quarter of first receipt", y_label="ratio (log scale)", log=True, reference=1.0,
        empty="PRR and ROR are infinite (no other product has this event): see IC025 below" if infinite
        else "no values to plot")


def _alert_page(request: Request, session, web: WebSession, alert_id: int, *, cases_page: int = 1,
                error: str | None = None, done: str | None = None, comment: str = "",
                status_code: int = 200, now=None, recorded: str = "") -> Response:
    view = queries.alert_view(session, alert_id)
    alert = view.alert
    context = {
        "web": web, "nav": "queue", "view": view, "alert": alert, "error": error, "comment": comment,
        "done": done if done in queries.ALL_STATUSES else None,
        "next_steps": transitions_for(alert.type).get(alert.status, ()),
        "actions": [Action.no_action] if alert.status == "refuted" else list(Action),
        "signal": None,
    }
    if alert.type == "signal":
        context.update(_signal_context(session, view, cases_page))
        context.update(step_due=signal_records.current_due(alert, now) if now else None,
                       notes=records_service.notes(session, alert.id),
                       attachments=records_service.attachments(session, alert.id),
                       allowed_types=", ".join(records_service.ALLOWED_TYPES),
                       max_attachment_mb=records_service.MAX_ATTACHMENT_BYTES // (1024 * 1024),
                       since_review=cases_since_review(alert.detail.get("n"), alert.reviewed_n),
                       recorded=recorded if recorded in ("note", "attachment") else None)
    return render(request, "alert.html", context, status_code)


@router.get("/ui/alerts/{alert_id}")
def alert_detail(request: Request, web: Officer, session: SessionDep, now: Now, alert_id: int,
                 cases_page: Annotated[int, Query(ge=1)] = 1, done: str = "", recorded: str = "") -> Response:
    return _alert_page(request, session, web, alert_id, cases_page=cases_page, done=done, now=now,
                       recorded=recorded)


@router.post("/ui/alerts/{alert_id}/transition")
def alert_transition(request: Request, web: Officer, session: SessionDep, now: Now, alert_id: int,
                     to: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
                     action: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    alert = alerting.visible_alert(session, web.principal, alert_id)

    def refuse(message: str, status_code: int) -> Response:
        session.rollback()
        return _alert_page(request, session, web, alert_id, error=message, comment=comment, status_code=status_code, now=now)

    if not comment.strip():
        return refuse("A comment is required: say why (it is recorded in the audit trail).", 422)
    try:
        body = TransitionIn(to=to, comment=comment.strip(), action=action if (to == "closed" and action) else None)
    except ValidationError as exc:
        return refuse("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 422)
    try:
        alerting.transition(session, web.principal, alert, body, now)
    except Conflict as exc:
        return refuse(exc.message, 409)
    session.commit()
    return RedirectResponse(f"/ui/alerts/{alert_id}?{urlencode({'done': body.to})}", status_code=303)


# ---- signal records: notes, attachments, the assessment report

@router.post("/ui/alerts/{alert_id}/notes")
def alert_note(request: Request, web: Officer, session: SessionDep, now: Now, alert_id: int,
               text: Annotated[str, Form(max_length=4000)] = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    alert = alerting.visible_alert(session, web.principal, alert_id)
    if not text.strip():
        return _alert_page(request, session, web, alert_id, error="A note needs text.", status_code=422, now=now)
    try:
        records_service.add_note(session, web.principal, alert, text.strip(), now)
    except Conflict as exc:
        session.rollback()
        return _alert_page(request, session, web, alert_id, error=exc.message, status_code=409, now=now)
    session.commit()
    return RedirectResponse(f"/ui/alerts/{alert_id}?recorded=note#record", status_code=303)


@router.post("/ui/alerts/{alert_id}/attachments")
async def alert_attachment(request: Request, web: Officer, session: SessionDep, now: Now, alert_id: int,
                           file: Annotated[UploadFile | None, File()] = None,
                           csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(web, csrf_token)
    alert = alerting.visible_alert(session, web.principal, alert_id)
    if file is None or not file.filename:
        return _alert_page(request, session, web, alert_id, error="Choose a file to attach.", status_code=422, now=now)
    data = await file.read(records_service.MAX_ATTACHMENT_BYTES + 1)
    try:
        records_service.add_attachment(session, web.principal, alert, file.filename, file.content_type or "", data, now)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _alert_page(request, session, web, alert_id, error=exc.message, status_code=exc.status_code, now=now)
    session.commit()
    return RedirectResponse(f"/ui/alerts/{alert_id}?recorded=attachment#record", status_code=303)


@router.get("/ui/alerts/{alert_id}/attachments/{attachment_id}")
def alert_attachment_file(web: Officer, session: SessionDep, alert_id: int, attachment_id: int) -> Response:
    alert = alerting.visible_alert(session, web.principal, alert_id)
    return signal_records.download(records_service.attachment(session, alert.id, attachment_id))


@router.get("/ui/alerts/{alert_id}/report.pdf")
def alert_report(web: Officer, session: SessionDep, now: Now, alert_id: int) -> Response:
    alert = alerting.visible_alert(session, web.principal, alert_id)
    body, name = signal_records.report_pdf(session, alert, now)
    return Response(body, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---- case series (line listing)

SERIES_PAGE_SIZE = 50


def _series_filters(q: str, country: str, sex: str, serious: str, outcome: str, expectedness: str, lot: str,
                    sort: str, order: str) -> series_filters.SeriesFilters:
    if len(q) > 200:
        raise InvalidInput.one(("query", "q"), "at most 200 characters")
    return series_filters.SeriesFilters(
        q=q, country=country[:2], sex=sex[:10], outcome=outcome[:30], expectedness=expectedness[:30], lot=lot[:100],
        serious={"": None, "yes": True, "no": False}[_choice(serious, ("yes", "no"), "serious") or ""],
        sort=_choice(sort, series_filters.SORTABLE, "sort") or "first_received",
        descending=(_choice(order, ("asc", "desc"), "order") or "desc") == "desc")


@router.get("/ui/alerts/{alert_id}/cases")
def alert_case_series(request: Request, web: Officer, session: SessionDep, alert_id: int, q: str = "",
                      country: str = "", sex: str = "", serious: str = "", outcome: str = "", expectedness: str = "",
                      lot: str = "", sort: str = "", order: str = "",
                      page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    alert = alerting.visible_alert(session, web.principal, alert_id)
    f = _series_filters(q, country, sex, serious, outcome, expectedness, lot, sort, order)
    view = series_service.series_view(session, alert, f, (page - 1) * SERIES_PAGE_SIZE, SERIES_PAGE_SIZE)
    base = {"q": q, "country": f.country, "sex": f.sex, "serious": serious, "outcome": f.outcome,
            "expectedness": f.expectedness, "lot": f.lot, "sort": f.sort, "order": "desc" if f.descending else "asc"}

    def url(path: str = "", **changes) -> str:
        params = {k: v for k, v in {**base, **changes}.items() if v not in ("", None)}
        return f"/ui/alerts/{alert_id}/cases{path}?" + urlencode(params)

    def sort_url(column: str) -> str:
        desc = not (f.sort == column and f.descending)
        return url(sort=column, order="desc" if desc else "asc", page=None)

    return render(request, "case_series.html", {
        "web": web, "nav": "queue", "alert": alert, "view": view, "f": f, "serious": serious, "page": page,
        "pages": queries.pages(view.matched, SERIES_PAGE_SIZE), "url": url, "sort_url": sort_url,
        "rows": series_service.records(view.rows),
    })


@router.get("/ui/alerts/{alert_id}/cases.{fmt}")
def alert_case_series_file(request: Request, web: Officer, session: SessionDep, now: Now, alert_id: int, fmt: str,
                           q: str = "", country: str = "", sex: str = "", serious: str = "", outcome: str = "",
                           expectedness: str = "", lot: str = "", sort: str = "", order: str = "") -> Response:
    _choice(fmt, ("csv", "xlsx"), "format")
    alert = alerting.visible_alert(session, web.principal, alert_id)
    f = _series_filters(q, country, sex, serious, outcome, expectedness, lot, sort, order)
    body, media, name = series_service.exported(session, alert, f, fmt, now)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---- one case

@router.get("/ui/cases/{case_id}")
def case_detail(request: Request, web: Officer, session: SessionDep, case_id: int,
                version: Annotated[int | None, Query(ge=0)] = None) -> Response:
    view = queries.case_view(session, case_id, version)
    return render(request, "case.html", {"web": web, "nav": "queue", "view": view,
                                         "expectedness": rsi_service.case_expectedness(session, view.case)})


# ---- compliance

@router.get("/ui/compliance")
def compliance(request: Request, web: Officer, session: SessionDep, now: Now) -> Response:
    rows = queries.compliance_by_product(session, current_rules(), now.date())
    return render(request, "compliance.html", {
        "web": web, "nav": "compliance", "rows": rows, "as_of": now.date(),
        "patient_columns": PATIENT_COLUMNS, "timepoint_columns": TIMEPOINT_COLUMNS,
        "quote": quote,
    })


# ---- cohort analytics

@router.get("/ui/analytics")
def analytics_index(request: Request, web: Officer, session: SessionDep, now: Now) -> Response:
    return render(request, "analytics_index.html", {"web": web, "nav": "analytics", "as_of": now.date(),
                                                    "rows": queries.analytics_products(session)})


@router.get("/ui/products/{product_id}/analytics")
def product_analytics(request: Request, web: Officer, session: SessionDep, now: Now, product_id: int) -> Response:
    from pv_service.analytics import service
    from pv_service.analytics.queries import load_cohort
    from pv_service.products.models import Product

    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    rules, as_of = current_rules(), now.date()
    cohort = load_cohort(session, product, rules, as_of)
    sel = service.Selection(groups=service.resolve_groups(session.connection(), rules, product.modality, None, None))
    cumulative = service.cumulative(cohort, rules, sel)
    curves = {g["event_group"]: charts.step_chart(
        [(g["event_group"], [p["time_days"] / 365.25 for p in g["curve"]], [p["estimate"] for p in g["curve"]],
          [p["lower"] for p in g["curve"]], [p["upper"] for p in g["curve"]])],
        title=f"{g['event_group']}: cumulative incidence ({g['method_label']})", x_label="years since infusion",
        y_label="cumulative incidence") for g in cumulative["groups"] if g["events"]}
    level = rules.analytics.confidence_level
    return render(request, "analytics.html", {
        "web": web, "nav": "analytics", "product": product, "as_of": as_of, "patients": len(cohort.episodes),
        "level_pct": f"{100 * level:g}", "incidence": service.incidence(cohort, rules, sel),
        "cumulative": cumulative, "charts": curves, "onset": service.time_to_onset(cohort, rules, sel),
        "periods": rules.analytics.onset_periods,
        "sequential": service.sequential(cohort, rules, list(sel.groups), [], None),
        "looks": queries.sequential_looks(session, product.id),
        "lots": service.lots(cohort, rules, sel, "lot", 3),
    })


# ---- audit trail

@router.get("/ui/audit")
def audit(request: Request, web: Officer, session: SessionDep, entity_type: str = "",
          page: Annotated[int, Query(ge=1)] = 1) -> Response:
    records, total = queries.audit_page(session, entity_type or None, page)

    def url(**changes) -> str:
        params = {k: v for k, v in {"entity_type": entity_type, "page": page, **changes}.items() if v not in ("", None)}
        return "/ui/audit?" + urlencode(params)

    return render(request, "audit.html", {
        "web": web, "nav": "audit", "records": records, "total": total, "page": page,
        "pages": queries.pages(total, queries.AUDIT_PAGE_SIZE), "entity_type": entity_type,
        "entity_types": queries.audit_entity_types(session), "verification": verify_against_exported(session), "url": url,
    })
