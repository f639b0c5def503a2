"""`flask --app wsgi ...` commands. The CLI is one of the three commit points."""
from __future__ import annotations

import json
from datetime import time

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from telehealth import migrate
from telehealth.accounts import operations as accounts
from telehealth.accounts.models import User
from telehealth.accounts.policy import AccountPolicy
from telehealth.actor import Actor
from telehealth.db import get_session
from telehealth.errors import DomainError
from telehealth.prescriptions import operations as prescriptions


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(users_group)
    app.cli.add_command(seed_demo)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(audit_group)


def _policy() -> AccountPolicy:
    return current_app.extensions["account_policy"]


def _fail(error: DomainError) -> None:
    details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.errors.items())
    raise click.ClickException(error.message + (f" ({details})" if details else ""))


@click.group("db", cls=AppGroup, help="Database schema (Alembic migrations).")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    migrate.upgrade(current_app.config["DATABASE_URL"], revision=revision)
    click.echo(f"database is at {revision}")


@db_group.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (default: one step)."""
    migrate.downgrade(current_app.config["DATABASE_URL"], revision=revision)


@click.group("users", cls=AppGroup, help="Staff accounts and API tokens.")
def users_group() -> None:
    pass


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--role", required=True, help="prescriber, pharmacist, compliance or admin")
@click.option("--phone", default=None, help="Mobile phone (required for prescribers)")
@click.option("--dea", default=None, help="DEA registration number (prescribers: needed to prescribe)")
@click.password_option("--password", help="Prompted for when not given")
def users_create(email: str, full_name: str, role: str, phone: str | None, dea: str | None, password: str) -> None:
    """Create a staff account."""
    session = get_session()
    actor = Actor.system("cli")
    try:
        user = accounts.create_user(session, actor, _policy(), email=email, full_name=full_name,
                                    role=role, password=password, phone=phone)
        if dea is not None:  # in the same transaction: a bad number creates no account
            prescriptions.set_dea_number(session, actor, user, dea)
    except DomainError as error:
        _fail(error)
    session.commit()
    click.echo(f"created {user.role.value} {user.email} (id {user.id})")


@users_group.command("on-call")
@click.argument("email")
@click.option("--off", is_flag=True, help="Take the prescriber off call")
@click.option("--hours", default=None, metavar="HH:MM-HH:MM",
              help="Daily hours in the clinic's time zone (may cross midnight); always, when not given")
def users_on_call(email: str, off: bool, hours: str | None) -> None:
    """Put a prescriber on call (or --off): urgent and high escalations page them after a while."""
    session = get_session()
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no account with email {email}")
    starts = ends = None
    if hours:
        try:
            starts, ends = (time.fromisoformat(part.strip()) for part in hours.split("-", 1))
        except ValueError:
            raise click.ClickException("give --hours as HH:MM-HH:MM, for example 18:00-08:00") from None
    try:
        accounts.set_on_call(session, Actor.system("cli"), user, not off, starts=starts, ends=ends)
    except DomainError as error:
        _fail(error)
    session.commit()
    click.echo(f"{user.email} is {'off call' if off else 'on call'}" + (f" {hours}" if hours and not off else ""))


@users_group.command("create-token")
@click.argument("email")
@click.option("--name", default="cli", help="What the token is for")
def users_create_token(email: str, name: str) -> None:
    """Issue an API bearer token for EMAIL and print it (shown once)."""
    session = get_session()
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no account with email {email}")
    try:
        row, token = accounts.issue_api_token(session, Actor.system("cli"), _policy(), user, name=name)
    except DomainError as error:
        _fail(error)
    session.commit()
    click.echo(token)
    click.echo(f"expires {row.expires_at.isoformat()}", err=True)


@click.command("seed-demo")
@with_appcontext
@click.option("--json", "as_json", is_flag=True, help="Print every account, phone and id as JSON")
def seed_demo(as_json: bool) -> None:
    """Create the demo clinic (idempotent: a second run changes nothing)."""
    from telehealth.demo import seed

    if current_app.config["PROFILE"] == "production":
        raise click.ClickException("seed-demo refuses to run in production")
    session = get_session()
    summary = seed(session, _policy(), current_app.config)
    session.commit()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"Demo clinic {'created' if summary['created'] else 'already present'}. "
               f"Every demo account's password is: {summary['password']}")
    for account in summary["accounts"]:
        click.echo(f"  {account['role']:<11} {account['email']:<40} {account['phone'] or ''}")
    for sitter in summary["sitters"]:
        click.echo(f"  {'sitter':<11} {sitter['name'] + ' (for patient ' + str(sitter['patient_id']) + ')':<40} "
                   f"{sitter['phone']}")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler's jobs (outbox dispatch...) until stopped. Any number may run at once."""
    import signal

    from telehealth.jobs.schedule import JOBS, build_scheduler

    scheduler = build_scheduler(current_app._get_current_object(), blocking=True)
    # SIGTERM (from systemd or a test) stops cleanly, letting a running job finish its step.
    signal.signal(signal.SIGTERM, lambda *_: scheduler.shutdown(wait=False))
    click.echo(f"scheduler running: {', '.join(job.name for job in JOBS)}")
    scheduler.start()


@click.group("audit", cls=AppGroup, help="The hash-chained audit log.")
def audit_group() -> None:
    pass


@audit_group.command("verify")
@click.option("--grace", default=60.0, show_default=True, metavar="SECONDS",
              help="An event older than this must be sealed")
def audit_verify(grace: float) -> None:
    """Check the whole audit chain: every link, every event's MAC, nothing left unsealed.
    Prints OK with counts and speed, or names the first broken event and exits 1."""
    from datetime import timedelta

    from telehealth import clock
    from telehealth.audit.keys import chain_key
    from telehealth.audit.verify import verify_chain

    session = get_session()
    try:
        report = verify_chain(session.connection(), chain_key(session), now=clock.now(),
                              grace=timedelta(seconds=grace))
    finally:
        session.rollback()
    speed = f"{report.seconds:.2f} s, {report.events_per_second:,.0f} events/s"
    head = f"head: seal #{report.head_seq} {report.head_hash.hex()}"
    if report.ok:
        click.echo(f"OK: {report.sealed:,} events sealed and verified, {report.pending:,} awaiting seal; "
                   f"{head}; {speed}")
        return
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    if report.problem_count > len(report.problems):
        click.echo(f"  ... and {report.problem_count - len(report.problems)} more", err=True)
    click.echo(f"FAILED: {report.problem_count} problem(s) in {report.sealed:,} sealed events; first: "
               f"{report.problems[0]}; {head}; {speed}", err=True)
    raise SystemExit(1)
