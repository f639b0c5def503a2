"""The job list and the APScheduler that runs it.

Every job is an idempotent database sweep, safe in any number of scheduler processes at once,
so each process keeps its own in-memory job store (several processes sharing a persistent store
run jobs twice or miss them). A scheduler that was down catches up on start: the sweeps look at
what is due in the database, not at what the scheduler remembers.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from telehealth import clock
from telehealth.audit.jobs import seal_audit_chain
from telehealth.dispensing.jobs import escalate_overdue_receipts
from telehealth.dosing.jobs import sweep_deadlines_on_time
from telehealth.escalations.jobs import advance_escalations
from telehealth.jobs.runner import run_job
from telehealth.messaging.jobs import dispatch_outbox


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable
    interval_setting: str  # the config value holding its interval, in seconds


JOBS = [
    Job("dispatch_outbox", dispatch_outbox, "SMS_DISPATCH_INTERVAL_SECONDS"),
    Job("sweep_deadlines", sweep_deadlines_on_time, "DEADLINE_SWEEP_SECONDS"),   # sleeps until each next due time
    Job("advance_escalations", advance_escalations, "ESCALATION_TICK_SECONDS"),
    Job("escalate_overdue_receipts", escalate_overdue_receipts, "RECEIPT_OVERDUE_SWEEP_SECONDS"),
    Job("seal_audit_chain", seal_audit_chain, "AUDIT_SEAL_SECONDS"),
]


def build_scheduler(app: Flask, *, blocking: bool) -> BaseScheduler:
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(timezone="UTC", job_defaults={
        "coalesce": True,            # after a stall, run once, not once per missed tick
        "max_instances": 1,
        "misfire_grace_time": app.config["JOB_MISFIRE_GRACE_SECONDS"],
    })
    for job in JOBS:
        scheduler.add_job(run_job, "interval", seconds=float(app.config[job.interval_setting]),
                          args=(app, job.name, job.run), id=job.name, name=job.name,
                          # The first run is at once: catch up on whatever fell due while we were down.
                          next_run_time=clock.now())
    return scheduler


_start_lock = threading.Lock()


def start_in_process(app: Flask) -> None:
    """The embedded demo runs the jobs inside the web process, started on the first request."""
    with _start_lock:
        if app.extensions.get("in_process_scheduler") is None:
            scheduler = build_scheduler(app, blocking=False)
            app.extensions["in_process_scheduler"] = scheduler
            scheduler.start()
