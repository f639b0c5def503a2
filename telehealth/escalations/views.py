"""Escalation pages for prescribers and compliance staff: the queue, one alert with its timeline,
acknowledge, resolve. Each view parses, calls one operation, renders."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from telehealth.accounts.models import Role
from telehealth.db import get_session
from telehealth.errors import Conflict, RuleViolation
from telehealth.escalations import operations as escalations
from telehealth.escalations import rules
from telehealth.escalations.forms import AcknowledgeForm, QueueFilterForm, ResolveForm
from telehealth.escalations.rules import State
from telehealth.escalations.schemas import QUEUE_STATES
from telehealth.web.auth import current_actor, login_required
from telehealth.web.forms import field_errors

blueprint = Blueprint("escalations", __name__)

STAFF = (Role.PRESCRIBER, Role.COMPLIANCE)


@blueprint.get("/escalations")
@login_required(*STAFF)
def queue() -> str:
    form = QueueFilterForm(formdata=request.args)
    if not form.validate():
        raise RuleViolation("Those filters are not known.", form.errors)
    states = {"": list(QUEUE_STATES), "all": list(State)}.get(form.state.data) or [State(form.state.data)]
    severity = rules.Severity(form.severity.data) if form.severity.data else None
    found = escalations.list_escalations(get_session(), current_actor(), states=states, severity=severity)
    return render_template("escalations/queue.html", escalations=found, form=form)


@blueprint.get("/escalations/<int:escalation_id>")
@login_required(*STAFF)
def detail(escalation_id: int) -> tuple[str, int]:
    return _detail_page(escalation_id)


@blueprint.post("/escalations/<int:escalation_id>/acknowledge")
@login_required(*STAFF)
def acknowledge(escalation_id: int) -> Response | tuple[str, int]:
    form = AcknowledgeForm()
    if not form.validate_on_submit():
        return _detail_page(escalation_id, status=400, acknowledge_form=form)
    try:
        escalations.acknowledge(get_session(), current_actor(), escalation_id, channel="web")
    except Conflict as error:
        return _detail_page(escalation_id, status=409, problem=error.message)
    flash(f"Alert {escalation_id} acknowledged; paging stopped.")
    return redirect(url_for("escalations.detail", escalation_id=escalation_id))


@blueprint.post("/escalations/<int:escalation_id>/resolve")
@login_required(*STAFF)
def resolve(escalation_id: int) -> Response | tuple[str, int]:
    form = ResolveForm()
    if not form.validate_on_submit():
        return _detail_page(escalation_id, status=400, resolve_form=form)
    try:
        escalations.resolve(get_session(), current_actor(), escalation_id, outcome=form.outcome.data or "",
                            note=form.note.data or "", channel="web")
    except RuleViolation as error:
        field_errors(form, error)
        if form.outcome.errors:  # the operation lists the API's values; people read the labels
            form.outcome.errors = ["Choose an outcome: " + ", ".join(o.label for o in rules.Outcome) + "."]
        return _detail_page(escalation_id, status=422, resolve_form=form)
    except Conflict as error:
        return _detail_page(escalation_id, status=409, problem=error.message)
    flash(f"Alert {escalation_id} resolved.")
    return redirect(url_for("escalations.detail", escalation_id=escalation_id))


def _detail_page(escalation_id: int, status: int = 200, problem: str | None = None,
                 acknowledge_form: AcknowledgeForm | None = None,
                 resolve_form: ResolveForm | None = None) -> tuple[str, int]:
    """The alert (a read, audited), its timeline, and the forms the reader may use."""
    session, actor = get_session(), current_actor()
    escalation = escalations.read_escalation(session, actor, escalation_id)
    return render_template("escalations/detail.html", escalation=escalation, problem=problem,
                           may_act=escalations.may_act_on(session, actor, escalation),
                           acknowledge_form=acknowledge_form or AcknowledgeForm(formdata=None),
                           resolve_form=resolve_form or ResolveForm(formdata=None)), status
