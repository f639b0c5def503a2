"""Template helpers: times shown in the patient's own zone, phones in a readable form."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

from telehealth.accounts.forms import LogoutForm
from telehealth.accounts.rules import display_phone
from telehealth.web.auth import acting_user


def local_time(value: datetime | None, timezone: str) -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %Y, %H:%M %Z")


def init_templating(app: Flask) -> None:
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(lambda p: display_phone(p) if p else "—", "phone")
    app.context_processor(lambda: {"me": acting_user(), "logout_form": LogoutForm(),
                                   "clinic_name": app.config["CLINIC_NAME"]})
