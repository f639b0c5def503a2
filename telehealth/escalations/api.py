"""`/api/v1/escalations`: the prescribers' queue and compliance's view, acknowledge, resolve."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from telehealth.accounts.models import Role
from telehealth.db import get_session
from telehealth.escalations import operations as escalations
from telehealth.escalations.schemas import EscalationOut, EscalationQuery, EscalationSummary, ResolveRequest
from telehealth.web.auth import current_actor, token_required

blueprint = Blueprint("escalations_api", __name__, url_prefix="/api/v1", description="Escalations (alerts)")

STAFF = (Role.PRESCRIBER, Role.COMPLIANCE)


@blueprint.route("/escalations")
class Escalations(MethodView):
    @token_required(*STAFF)
    # webargs ignores unknown query arguments by default; a misspelt filter must not list everything.
    @blueprint.arguments(EscalationQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blueprint.response(200, EscalationSummary(many=True))
    def get(self, **filters):
        """The queue: unacknowledged first, then acknowledged; urgent first; oldest first.

        Prescribers see their own and backed-up patients' alerts and those they were paged for;
        compliance staff see every alert. Every list is audited."""
        return escalations.list_escalations(get_session(), current_actor(), **filters)


@blueprint.route("/escalations/<int:escalation_id>")
class EscalationRecord(MethodView):
    @token_required(*STAFF)
    @blueprint.response(200, EscalationOut)
    @blueprint.alt_response(404, description="No such alert, or not yours to see")
    def get(self, escalation_id: int):
        """One alert with its timeline: trigger, every page with its delivery status,
        acknowledgement, resolution. Every read is audited."""
        return escalations.read_escalation(get_session(), current_actor(), escalation_id)


@blueprint.route("/escalations/<int:escalation_id>/acknowledge")
class Acknowledge(MethodView):
    @token_required(*STAFF)
    @blueprint.response(200, EscalationOut)
    @blueprint.alt_response(409, description="Already acknowledged or resolved")
    def post(self, escalation_id: int):
        """Acknowledge: paging stops and queued pages are cancelled."""
        return escalations.acknowledge(get_session(), current_actor(), escalation_id, channel="api")


@blueprint.route("/escalations/<int:escalation_id>/resolve")
class Resolve(MethodView):
    @token_required(*STAFF)
    @blueprint.arguments(ResolveRequest)
    @blueprint.response(200, EscalationOut)
    @blueprint.alt_response(409, description="Already resolved")
    def post(self, body: dict, escalation_id: int):
        """Resolve with an outcome and a note (acknowledging it too, if it was still open)."""
        return escalations.resolve(get_session(), current_actor(), escalation_id, outcome=body["outcome"],
                                   note=body["note"], channel="api")
