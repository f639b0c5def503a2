"""`/api/v1/compliance`: the same reports as the compliance pages, as JSON pages or CSV, for
compliance staff's tokens only. Report modules register their routes on this blueprint."""
from __future__ import annotations

from flask_smorest import Blueprint

blueprint = Blueprint("compliance_api", __name__, url_prefix="/api/v1/compliance",
                      description="Compliance reports: dispensing log, reconciliation, dose records, escalations")

# The routes below; dose records register theirs from `dose_record_views`.
from flask import request  # noqa: E402
from flask.views import MethodView  # noqa: E402

from telehealth.compliance import audit_log, chain_state, dispensing_log, escalation_stats, reconciliation  # noqa: E402
from telehealth.compliance.filters import Page, ReportFiltersSchema, parse  # noqa: E402
from telehealth.compliance.reconciliation import Grouping  # noqa: E402
from telehealth.compliance.schemas import (AuditLogPageOut, ChainStateOut, DispensingLogPageOut,  # noqa: E402
                                           EscalationStatisticsOut,
                                           ReconciliationLotPageOut, ReconciliationPrescriptionPageOut,
                                           VerificationOut)
from telehealth.compliance.views import READERS, clinic_zone, csv_response  # noqa: E402
from telehealth.db import get_session  # noqa: E402
from telehealth.web.auth import current_actor, token_required  # noqa: E402

FILTERS = [{"in": "query", "schema": ReportFiltersSchema}]
CSV = {200: {"description": "CSV, streamed (paging arguments are ignored)", "content": {"text/csv": {}}}}
REFUSED = "A malformed, unknown or (for this report) unused filter; nothing is read"


def _page_of(items: list, page: Page, key) -> dict:  # noqa: ANN001
    return {"items": items, "next_after": key(items[-1]) if items and len(items) == page.size else None}


@blueprint.route("/audit-chain")
class AuditChain(MethodView):
    @token_required(*READERS)
    @blueprint.response(200, ChainStateOut)
    def get(self):
        """The chain's head (sealed events, last seal) and the events waiting to be sealed. Audited."""
        return chain_state.state(get_session(), current_actor())


@blueprint.route("/audit-chain/verification")
class AuditChainVerification(MethodView):
    @token_required(*READERS)
    @blueprint.response(200, VerificationOut)
    def get(self):
        """Verify the whole chain now (as `flask audit verify`), naming the first broken, missing or
        reordered event. A read; audited with its outcome."""
        return chain_state.verify(get_session(), current_actor())


@blueprint.route("/audit-log")
class AuditLog(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS)
    @blueprint.response(200, AuditLogPageOut)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """The audit log: every event with who acted, from where, on what and which patient, its details
        and its seal, by event id, keyset-paged. Filters: days (clinic), patient, actor, action. Audited."""
        filters, page = parse(request.args, allowed=audit_log.ALLOWED_FILTERS)
        items = audit_log.read_page(get_session(), current_actor(), filters, page, clinic_zone())
        return _page_of(items, page, lambda entry: entry.event_id)


@blueprint.route("/audit-log.csv")
class AuditLogCsv(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS, responses=CSV)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """The audit log as CSV, streamed. Audited."""
        filters, _ = parse(request.args, allowed=audit_log.ALLOWED_FILTERS)
        return csv_response("audit-log.csv", audit_log.HEADER,
                            audit_log.export(get_session(), current_actor(), filters, clinic_zone()))


@blueprint.route("/dispensing-log")
class DispensingLog(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS)
    @blueprint.response(200, DispensingLogPageOut)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """Every fill with its DEA dispensing record fields and lot, by dispensing id, keyset-paged
        (pass `next_after` back as `after`). Dates: the dispensed day (clinic days). Audited."""
        filters, page = parse(request.args)
        items = dispensing_log.read_page(get_session(), current_actor(), filters, page, clinic_zone())
        return _page_of(items, page, lambda entry: entry.dispensing_id)


@blueprint.route("/dispensing-log.csv")
class DispensingLogCsv(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS, responses=CSV)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """The whole dispensing log as CSV, streamed. Audited."""
        filters, _ = parse(request.args)
        return csv_response("dispensing-log.csv", dispensing_log.HEADER,
                            dispensing_log.export(get_session(), current_actor(), filters, clinic_zone()))


def _reconciliation_page(grouping: Grouping) -> dict:
    filters, page = parse(request.args)
    lines = reconciliation.read_page(get_session(), current_actor(), grouping, filters, page, clinic_zone())
    return _page_of([line.values for line in lines], page, lambda values: values["key"])


def _reconciliation_csv(grouping: Grouping):  # noqa: ANN202
    filters, _ = parse(request.args)
    return csv_response(f"reconciliation-by-{grouping.value}.csv", reconciliation.HEADER[grouping],
                        reconciliation.export(get_session(), current_actor(), grouping, filters, clinic_zone()))


@blueprint.route("/reconciliation/prescriptions")
class ReconciliationByPrescription(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS)
    @blueprint.response(200, ReconciliationPrescriptionPageOut)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """Prescribed, dispensed, received, taken, wasted, returned, expected and last reported on hand,
        and the discrepancy, per prescription (by id, keyset-paged). Dates: ledger and dispensed days.
        Definitions: see the README. Audited."""
        return _reconciliation_page(Grouping.PRESCRIPTION)


@blueprint.route("/reconciliation/prescriptions.csv")
class ReconciliationByPrescriptionCsv(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS, responses=CSV)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """The reconciliation per prescription as CSV, streamed. Audited."""
        return _reconciliation_csv(Grouping.PRESCRIPTION)


@blueprint.route("/reconciliation/lots")
class ReconciliationByLot(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS)
    @blueprint.response(200, ReconciliationLotPageOut)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """The same figures per lot (lots in the order first dispensed; `next_after` is the last lot's
        first dispensing id). Audited."""
        return _reconciliation_page(Grouping.LOT)


@blueprint.route("/reconciliation/lots.csv")
class ReconciliationByLotCsv(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS, responses=CSV)
    @blueprint.alt_response(422, description=REFUSED)
    def get(self):
        """The reconciliation per lot as CSV, streamed. Audited."""
        return _reconciliation_csv(Grouping.LOT)


@blueprint.route("/escalation-statistics")
class EscalationStatistics(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS)
    @blueprint.response(200, EscalationStatisticsOut)
    @blueprint.alt_response(422, description=REFUSED + " (escalations have no lot)")
    def get(self):
        """Escalations opened on the days chosen: counts and seconds to acknowledge (median, 90th
        percentile, mean, max), overall, by severity, by reason and per prescriber of record. Audited."""
        filters, _ = parse(request.args, allowed=escalation_stats.ALLOWED_FILTERS)
        return escalation_stats.statistics(get_session(), current_actor(), filters, clinic_zone())


@blueprint.route("/escalation-statistics.csv")
class EscalationStatisticsCsv(MethodView):
    @token_required(*READERS)
    @blueprint.doc(parameters=FILTERS, responses=CSV)
    @blueprint.alt_response(422, description=REFUSED + " (escalations have no lot)")
    def get(self):
        """The same lines as CSV, with their group's name. Audited."""
        filters, _ = parse(request.args, allowed=escalation_stats.ALLOWED_FILTERS)
        return csv_response("escalation-statistics.csv", escalation_stats.HEADER,
                            escalation_stats.export(get_session(), current_actor(), filters, clinic_zone()))
