"""The verbs of the accounts room. Each takes the session and the acting party, checks the
rules, changes rows, writes audit events, and never commits."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from telehealth import clock
from telehealth.accounts import rules
from telehealth.accounts.models import ApiToken, LoginAttempt, Patient, PatientStatus, Role, Sitter, User
from telehealth.accounts.policy import AccountPolicy
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.errors import NotAllowed, NotAuthenticated, NotFound, RuleViolation


def new_login_id() -> str:
    return secrets.token_urlsafe(32)


# --- phones: one party per number -------------------------------------------------------

def ensure_phone_free(session: Session, phone: str, field: str = "phone") -> None:
    taken = session.scalar(sa.select(User.id).where(User.phone == phone)) is not None or \
        session.scalar(sa.select(Sitter.id).where(Sitter.phone == phone)) is not None
    if taken:
        raise RuleViolation("That phone number already belongs to someone else.",
                            {field: ["This number is already registered to another person."]})


@dataclass(frozen=True)
class Party:
    """Who is texting us. `kind` is patient, sitter, prescriber, staff or unknown; `role` is the
    user's role for people with an account."""

    kind: str
    phone: str
    user_id: int | None = None
    patient_id: int | None = None
    sitter_id: int | None = None
    role: str | None = None


def who_is_texting(session: Session, phone: str) -> Party:
    """Look up an inbound sender (already E.164) among users and sitters."""
    # The patient row comes with the login (joined): every text from a patient needs it.
    user = session.scalar(sa.select(User).options(joinedload(User.patient))
                          .where(User.phone == phone, User.active.is_(True)))
    if user is not None:
        if user.role is Role.PATIENT and user.patient is not None:
            return Party("patient", phone, user_id=user.id, patient_id=user.patient.id, role=user.role.value)
        kind = "prescriber" if user.role is Role.PRESCRIBER else "staff"
        return Party(kind, phone, user_id=user.id, role=user.role.value)
    sitter = session.scalar(sa.select(Sitter).where(Sitter.phone == phone, Sitter.active.is_(True)))
    if sitter is not None:
        return Party("sitter", phone, sitter_id=sitter.id, patient_id=sitter.patient_id)
    return Party("unknown", phone)


# --- users -------------------------------------------------------------------------------

def create_user(session: Session, actor: Actor, policy: AccountPolicy, *, email: str, full_name: str,
                role: str | Role, password: str | None, phone: str | None = None) -> User:
    """Create a login. Every field is checked first and all problems reported together."""
    if actor.role not in ("admin", "system"):
        raise NotAllowed("Only an administrator creates accounts.", object_type="user")
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}

    def check(field: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - a local collector
        try:
            values[field] = fn(*args, **kwargs)
        except RuleViolation as exc:
            for key, messages in exc.errors.items():
                errors.setdefault(key, []).extend(messages)

    check("email", rules.normalize_email, email)
    check("role", lambda r: r if isinstance(r, Role) else rules.parse_role(r), role)
    name = (full_name or "").strip()
    if not name or len(name) > 120:
        errors["full_name"] = ["Enter a name of at most 120 characters."]
    if password is not None:
        check("password", rules.check_password_strength, password, email=values.get("email", email or ""),
              min_length=policy.password_min_length)
    elif values.get("role") is not Role.PATIENT:
        errors["password"] = ["Staff accounts need a password."]
    if phone:
        check("phone", rules.normalize_phone, phone, policy.default_phone_region)
    elif values.get("role") is Role.PRESCRIBER:
        errors["phone"] = ["Prescribers need a phone number: escalations are paged to it."]
    if "email" in values and session.scalar(sa.select(User.id).where(User.email == values["email"])):
        errors.setdefault("email", []).append("An account with this email already exists.")
    if values.get("phone"):
        try:
            ensure_phone_free(session, values["phone"])
        except RuleViolation as exc:
            errors.setdefault("phone", []).extend(exc.errors["phone"])
    if errors:
        raise RuleViolation("The account was not created.", errors)

    user = User(email=values["email"], full_name=name, role=values["role"], phone=values.get("phone"),
                password_hash=policy.hash_password(password) if password else None, active=True,
                login_id=new_login_id(), created_at=clock.now())
    session.add(user)
    session.flush()
    record(session, actor, AuditAction.USER_CREATED, object_type="user", object_id=user.id,
           details={"role": user.role.value})
    return user


def set_password(session: Session, actor: Actor, policy: AccountPolicy, user: User, password: str) -> None:
    if actor.role not in ("admin", "system") and actor.user_id != user.id:
        raise NotAllowed("You may change only your own password.", object_type="user", object_id=user.id)
    rules.check_password_strength(password, email=user.email, min_length=policy.password_min_length)
    user.password_hash = policy.hash_password(password)
    user.login_id = new_login_id()  # ends every other session
    record(session, actor, AuditAction.PASSWORD_CHANGED, object_type="user", object_id=user.id)


def set_on_call(session: Session, actor: Actor, user: User, on_call: bool, *, starts: time | None = None,
                ends: time | None = None) -> None:
    """Flag a prescriber on call (urgent and high escalations reach them after a while), with
    optional daily hours in the clinic's time zone."""
    if actor.role not in ("admin", "system") and actor.user_id != user.id:
        raise NotAllowed("Only an administrator or the prescriber sets on-call.", object_type="user",
                         object_id=user.id)
    if user.role is not Role.PRESCRIBER:
        raise RuleViolation("Only prescribers go on call.", {"role": ["This account is not a prescriber."]})
    if (starts is None) != (ends is None):
        raise RuleViolation("Give both on-call hours or neither.", {"hours": ["Give a start and an end."]})
    user.on_call, user.on_call_from, user.on_call_until = on_call, starts, ends
    record(session, actor, AuditAction.ON_CALL_CHANGED, object_type="user", object_id=user.id,
           details={"on_call": on_call, "from": starts.isoformat() if starts else None,
                    "until": ends.isoformat() if ends else None})


def user_by_login_id(session: Session, login_id: str) -> User | None:
    return session.scalar(sa.select(User).where(User.login_id == login_id, User.active.is_(True)))


# --- log-in, with failures counted per account and per address ---------------------------

@dataclass(frozen=True)
class LoginOutcome:
    user: User | None = None
    retry_after_seconds: int | None = None  # set when locked out

    @property
    def succeeded(self) -> bool:
        return self.user is not None


def log_in(session: Session, policy: AccountPolicy, *, email: str, password: str,
           client_address: str) -> LoginOutcome:
    """Check a password. Returns the outcome rather than raising, because a failure must be
    written down (it counts towards the lockout) and so committed by the caller."""
    now = clock.now()
    email_key = (email or "").strip().lower()[:254]
    actor = Actor.anonymous(client_address)
    since = now - policy.login_window

    def failures(*condition: sa.ColumnElement[bool]) -> list[datetime]:
        return list(session.scalars(sa.select(LoginAttempt.attempted_at).where(
            LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at > since, *condition)
            .order_by(LoginAttempt.attempted_at)))

    # Locked while `limit` failures sit in the window; it opens when the oldest of them leaves.
    locked_until = [times[-limit] + policy.login_window for times, limit in (
        (failures(LoginAttempt.email == email_key), policy.max_failures_per_account),
        (failures(LoginAttempt.client_address == client_address), policy.max_failures_per_address),
    ) if len(times) >= limit]
    if locked_until:
        retry_after = int((max(locked_until) - now).total_seconds()) + 1
        record(session, actor, AuditAction.LOGIN_RATE_LIMITED, object_type="login",
               details={"email": email_key, "retry_after_seconds": retry_after})
        return LoginOutcome(retry_after_seconds=retry_after)

    user = session.scalar(sa.select(User).where(User.email == email_key))
    ok = policy.password_matches(user.password_hash if user else None, password or "") and \
        user is not None and user.active
    session.add(LoginAttempt(attempted_at=now, email=email_key, client_address=client_address, succeeded=ok))
    if not ok:
        record(session, actor, AuditAction.LOGIN_FAILED, object_type="login", details={"email": email_key})
        return LoginOutcome()
    assert user is not None
    if policy.hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = policy.hash_password(password)
    user.last_login_at = now
    record(session, Actor.for_user(user, client_address), AuditAction.LOGIN_SUCCEEDED,
           object_type="user", object_id=user.id)
    return LoginOutcome(user=user)


# --- API tokens --------------------------------------------------------------------------

def _token_digest(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough, and it lets us look them up.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(session: Session, actor: Actor, policy: AccountPolicy, user: User,
                    name: str = "api") -> tuple[ApiToken, str]:
    """Returns the row and the token itself, which is shown once and never stored."""
    if not user.active:
        raise NotAllowed("This account is deactivated.", object_type="user", object_id=user.id)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    row = ApiToken(user_id=user.id, token_hash=_token_digest(token), name=(name or "api")[:80],
                   created_at=now, expires_at=now + policy.api_token_ttl)
    session.add(row)
    session.flush()
    record(session, actor, AuditAction.API_TOKEN_CREATED, object_type="api_token", object_id=row.id,
           details={"user_id": user.id, "expires_at": row.expires_at.isoformat()})
    return row, token


def user_for_api_token(session: Session, token: str) -> tuple[User, ApiToken]:
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _token_digest(token or "")))
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.active:
        raise NotAuthenticated("The token is unknown, expired or revoked.")
    row.last_used_at = now
    return row.user, row


def revoke_api_token(session: Session, actor: Actor, token_row: ApiToken) -> None:
    if actor.user_id != token_row.user_id and actor.role not in ("admin", "system"):
        raise NotAllowed("You may revoke only your own tokens.", object_type="api_token", object_id=token_row.id)
    if token_row.revoked_at is None:
        token_row.revoked_at = clock.now()
        record(session, actor, AuditAction.API_TOKEN_REVOKED, object_type="api_token", object_id=token_row.id)


# --- patients and sitters ----------------------------------------------------------------

def _prescriber(session: Session, user_id: int | None, field: str) -> User:
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or user.role is not Role.PRESCRIBER or not user.active:
        raise RuleViolation("Unknown prescriber.", {field: ["Choose an active prescriber."]})
    return user


def enrol_patient(session: Session, actor: Actor, policy: AccountPolicy, *, email: str, full_name: str,
                  phone: str, date_of_birth: date, address_line1: str, city: str, region: str,
                  postal_code: str, timezone: str, prescriber_id: int, backup_prescriber_id: int | None = None,
                  address_line2: str | None = None, password: str | None = None) -> Patient:
    """A prescriber enrols a patient (SPEC §3 step 1); the patient's login is created with it."""
    if actor.role not in ("prescriber", "system"):
        raise NotAllowed("Only a prescriber enrols patients.", object_type="patient")
    if actor.role == "prescriber" and actor.user_id not in (prescriber_id, backup_prescriber_id):
        raise NotAllowed("You may enrol patients only into your own care.", object_type="patient")
    errors: dict[str, list[str]] = {}
    for field, value in (("address_line1", address_line1), ("city", city), ("region", region),
                         ("postal_code", postal_code)):
        if not (value or "").strip():
            errors[field] = ["Required."]
    if date_of_birth > clock.now().date():
        errors["date_of_birth"] = ["The date of birth is in the future."]
    for field, check in (("timezone", lambda: rules.check_timezone(timezone)),
                         ("prescriber_id", lambda: _prescriber(session, prescriber_id, "prescriber_id")),
                         ("backup_prescriber_id", lambda: backup_prescriber_id is None or
                          _prescriber(session, backup_prescriber_id, "backup_prescriber_id"))):
        try:
            check()
        except RuleViolation as exc:
            errors.update(exc.errors)
    if backup_prescriber_id is not None and backup_prescriber_id == prescriber_id:
        errors["backup_prescriber_id"] = ["The backup must be a different prescriber."]
    if errors:
        raise RuleViolation("The patient was not enrolled.", errors)

    user = create_user(session, Actor.system(f"enrolment by {actor.label}"), policy, email=email,
                       full_name=full_name, role=Role.PATIENT, password=password, phone=phone)
    patient = Patient(user_id=user.id, date_of_birth=date_of_birth, address_line1=address_line1.strip(),
                      address_line2=(address_line2 or "").strip() or None, city=city.strip(),
                      region=region.strip(), postal_code=postal_code.strip(), timezone=timezone,
                      prescriber_id=prescriber_id, backup_prescriber_id=backup_prescriber_id,
                      status=PatientStatus.ONBOARDING, created_at=clock.now())
    session.add(patient)
    session.flush()
    record(session, actor, AuditAction.PATIENT_CREATED, object_type="patient", object_id=patient.id,
           patient_id=patient.id)
    return patient


def add_sitter(session: Session, actor: Actor, policy: AccountPolicy, patient: Patient, *, full_name: str,
               phone: str, relationship_to_patient: str) -> Sitter:
    """Register a sitter. Their phone is verified by a texted code (the SMS channel issue)."""
    ensure_may_read_patient(actor, patient)
    errors: dict[str, list[str]] = {}
    normalized = None
    try:
        normalized = rules.normalize_phone(phone, policy.default_phone_region)
        ensure_phone_free(session, normalized)
    except RuleViolation as exc:
        errors.update(exc.errors)
    if not (full_name or "").strip():
        errors["full_name"] = ["Enter the sitter's name."]
    if not (relationship_to_patient or "").strip():
        errors["relationship_to_patient"] = ["Say how the sitter knows the patient (spouse, friend...)."]
    if errors:
        raise RuleViolation("The sitter was not added.", errors)
    sitter = Sitter(patient_id=patient.id, full_name=full_name.strip(), phone=normalized,
                    relationship_to_patient=relationship_to_patient.strip(), active=True, created_at=clock.now())
    session.add(sitter)
    session.flush()
    record(session, actor, AuditAction.SITTER_ADDED, object_type="sitter", object_id=sitter.id,
           patient_id=patient.id)
    return sitter


def ensure_may_read_patient(actor: Actor, patient: Patient) -> None:
    if actor.role == "system":
        return
    team = rules.PatientCareTeam(patient_user_id=patient.user_id, prescriber_id=patient.prescriber_id,
                                 backup_prescriber_id=patient.backup_prescriber_id)
    if actor.role is None or actor.user_id is None or not rules.may_read_patient(Role(actor.role), actor.user_id, team):
        # 404, not 403: a refusal must not confirm that this patient exists.
        raise NotAllowed("This patient is not in your care.", object_type="patient", object_id=patient.id,
                         patient_id=patient.id, hide_existence=True)


def read_patient_record(session: Session, actor: Actor, patient_id: int) -> Patient:
    """Open one patient's record; every staff read is audited."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    ensure_may_read_patient(actor, patient)
    if actor.role not in ("patient", "system"):
        record(session, actor, AuditAction.PATIENT_RECORD_READ, object_type="patient", object_id=patient.id,
               patient_id=patient.id)
    return patient


def list_patients(session: Session, actor: Actor) -> list[Patient]:
    """The patients this actor may see: a prescriber's own and backed-up patients, or all for
    compliance. The read is audited with the ids shown."""
    query = sa.select(Patient).join(Patient.user).order_by(User.full_name, Patient.id)
    if actor.role == "prescriber":
        query = query.where(sa.or_(Patient.prescriber_id == actor.user_id,
                                   Patient.backup_prescriber_id == actor.user_id))
    elif actor.role != "compliance":
        raise NotAllowed("Only prescribers and compliance staff list patients.", object_type="patient")
    patients = list(session.scalars(query))
    record(session, actor, AuditAction.PATIENT_LIST_READ, object_type="patient",
           details={"patient_ids": [p.id for p in patients]})
    return patients
