"""Compliance pages (SPEC §8, §10): read-only, for compliance staff only; every page read and every
export is audited with the filters used. Report pages live in their own modules and register
their routes on this blueprint (imported at the bottom)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, render_template, request, stream_with_context, url_for

from telehealth.accounts.models import Role, User
from telehealth.audit.models import AuditAction
from telehealth.compliance import audit_log, chain_state, dispensing_log, escalation_stats, reconciliation
from telehealth.compliance.export import csv_lines
from telehealth.compliance.filters import REPORT_FILTERS, Page, ReportFilters, parse
from telehealth.compliance.reconciliation import Grouping
from telehealth.db import get_session
from telehealth.errors import RuleViolation
from telehealth.web.auth import current_actor, login_required

blueprint = Blueprint("compliance", __name__, url_prefix="/compliance")

# SPEC §10: audit log and reports are compliance's alone; admins see no clinical data.
READERS = (Role.COMPLIANCE,)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV download streamed as the database yields rows: a huge range never sits in memory.
    Whatever transaction the rows held ends with the download, finished or abandoned: the session
    outlives the request's own teardown while streaming, and on SQLite an open transaction is the
    write lock."""
    session = get_session()

    def lines() -> Iterator[str]:
        try:
            yield from csv_lines(header, rows)
        finally:
            session.rollback()
    response = Response(stream_with_context(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def clinic_zone() -> ZoneInfo:
    """Report dates are the clinic's calendar days."""
    return ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])


# --- the dashboard -------------------------------------------------------------------------------

@blueprint.get("")
@login_required(*READERS)
def dashboard() -> str:
    """The audit chain's state and every report."""
    return render_template("compliance/dashboard.html", chain=chain_state.state(get_session(), current_actor()),
                           verification=None)


@blueprint.get("/audit-chain/verification")
@login_required(*READERS)
def verify_chain() -> str:
    """Check the whole chain now (a read: nothing changes but the audit event saying it was checked)."""
    session, actor = get_session(), current_actor()
    verification = chain_state.verify(session, actor)
    return render_template("compliance/dashboard.html", chain=chain_state.state(session, actor),
                           verification=verification)


# --- the reports ---------------------------------------------------------------------------------

RECONCILIATION_PAGES = {"prescriptions": Grouping.PRESCRIPTION, "lots": Grouping.LOT}


def _report_page(template: str, endpoint: str, read: Callable[[ReportFilters, Page], list[Any]],
                 allowed: frozenset[str] = REPORT_FILTERS, **context: Any) -> tuple[str, int]:
    """Parse the filters (422, as every refused filter in the clinic, with the messages next to
    the fields; nothing read, when they are wrong), read one
    page, render it with the link to the next."""
    arguments = request.args
    query = kept_arguments(arguments)
    context.update(prescribers=prescriber_choices(), query=query, endpoint=endpoint, errors={}, message="", rows=[],
                   next_url=None,
                   csv_url=url_for(endpoint + "_csv", **{k: v for k, v in query.items() if k != "size"},
                                   **context.get("url_values", {})))
    try:
        filters, page = parse(arguments, allowed=allowed)
    except RuleViolation as error:
        return render_template(template, filters=_typed(arguments), **{
            **context, "errors": error.errors, "message": error.message}), 422
    rows = read(filters, page)
    if rows and len(rows) == page.size:
        context["next_url"] = url_for(endpoint, **query, after=rows[-1].key, **context.get("url_values", {}))
    return render_template(template, filters=_typed(arguments), **{**context, "rows": rows}), 200


def kept_arguments(arguments: Mapping[str, str]) -> dict[str, str]:
    """The filters given, to carry into the next page's link and the CSV's (not the paging key)."""
    return {key: value for key, value in arguments.items() if key != "after" and value != ""}


def _typed(arguments: Mapping[str, str]) -> dict[str, str]:
    """What was typed in the filter form, to show it again."""
    return {key: arguments.get(key, "") for key in ("start", "end", "prescriber", "patient", "lot", "actor", "action",
                                                    "size")}


def prescriber_choices() -> list[Any]:
    return get_session().execute(sa.select(User.id, User.full_name).where(User.role == Role.PRESCRIBER)
                                 .order_by(User.full_name)).all()


def _csv(filename: str, header: Sequence[str], export: Callable[[ReportFilters], Iterable[Sequence[Any]]],
         allowed: frozenset[str] = REPORT_FILTERS) -> Response | tuple[str, int]:
    try:
        filters, _ = parse(request.args, allowed=allowed)   # paging is ignored: an export is every line
    except RuleViolation as error:
        return render_template("error.html", status=422, message=error.message, errors=error.errors), 422
    return csv_response(filename, header, export(filters))


@blueprint.get("/dispensing-log")
@login_required(*READERS)
def dispensing_log_page() -> tuple[str, int]:
    session, actor, zone = get_session(), current_actor(), clinic_zone()
    return _report_page("compliance/dispensing_log.html", "compliance.dispensing_log_page",
                        lambda filters, page: dispensing_log.read_page(session, actor, filters, page, zone))


@blueprint.get("/dispensing-log.csv")
@login_required(*READERS)
def dispensing_log_page_csv() -> Response | tuple[str, int]:
    session, actor, zone = get_session(), current_actor(), clinic_zone()
    return _csv("dispensing-log.csv", dispensing_log.HEADER,
                lambda filters: dispensing_log.export(session, actor, filters, zone))


@blueprint.get("/reconciliation/<any(prescriptions, lots):by>")
@login_required(*READERS)
def reconciliation_page(by: str) -> tuple[str, int]:
    session, actor, zone, grouping = get_session(), current_actor(), clinic_zone(), RECONCILIATION_PAGES[by]
    return _report_page("compliance/reconciliation.html", "compliance.reconciliation_page",
                        lambda filters, page: reconciliation.read_page(session, actor, grouping, filters, page, zone),
                        grouping=grouping, url_values={"by": by})


@blueprint.get("/reconciliation/<any(prescriptions, lots):by>.csv")
@login_required(*READERS)
def reconciliation_page_csv(by: str) -> Response | tuple[str, int]:
    session, actor, zone, grouping = get_session(), current_actor(), clinic_zone(), RECONCILIATION_PAGES[by]
    return _csv(f"reconciliation-by-{grouping.value}.csv", reconciliation.HEADER[grouping],
                lambda filters: reconciliation.export(session, actor, grouping, filters, zone))


@blueprint.get("/escalations")
@login_required(*READERS)
def escalation_stats_page() -> tuple[str, int]:
    session, actor, zone = get_session(), current_actor(), clinic_zone()
    found: dict[str, Any] = {}

    def read(filters: ReportFilters, _page: Page) -> list[Any]:
        found.update(escalation_stats.statistics(session, actor, filters, zone))
        return []
    page, status = _report_page("compliance/escalation_stats.html", "compliance.escalation_stats_page", read,
                                allowed=escalation_stats.ALLOWED_FILTERS, groups=found)
    return page, status


@blueprint.get("/escalations.csv")
@login_required(*READERS)
def escalation_stats_page_csv() -> Response | tuple[str, int]:
    session, actor, zone = get_session(), current_actor(), clinic_zone()
    return _csv("escalation-statistics.csv", escalation_stats.HEADER,
                lambda filters: escalation_stats.export(session, actor, filters, zone),
                allowed=escalation_stats.ALLOWED_FILTERS)


@blueprint.get("/audit-log")
@login_required(*READERS)
def audit_log_page() -> tuple[str, int]:
    session, actor, zone = get_session(), current_actor(), clinic_zone()
    return _report_page("compliance/audit_log.html", "compliance.audit_log_page",
                        lambda filters, page: audit_log.read_page(session, actor, filters, page, zone),
                        allowed=audit_log.ALLOWED_FILTERS, actions=[action.value for action in AuditAction],
                        staff=_staff())


@blueprint.get("/audit-log.csv")
@login_required(*READERS)
def audit_log_page_csv() -> Response | tuple[str, int]:
    session, actor, zone = get_session(), current_actor(), clinic_zone()
    return _csv("audit-log.csv", audit_log.HEADER, lambda filters: audit_log.export(session, actor, filters, zone),
                allowed=audit_log.ALLOWED_FILTERS)


def _staff() -> list[Any]:
    """Who may have acted, for the audit log's filter: every login but the patients'."""
    return get_session().execute(sa.select(User.id, User.full_name, User.role).where(User.role != Role.PATIENT)
                                 .order_by(User.full_name)).all()


from telehealth.compliance import dose_record_views  # noqa: E402,F401  (registers its routes)
