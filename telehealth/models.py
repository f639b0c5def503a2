"""Every room's models, imported in one place so the metadata (and Alembic) sees them all."""
from telehealth.accounts.models import ApiToken, LoginAttempt, Patient, Sitter, User  # noqa: F401
from telehealth.audit.models import AuditEvent  # noqa: F401
from telehealth.db import Base
from telehealth.dosing.models import CheckIn, Deadline, DoseSession  # noqa: F401
from telehealth.dispensing.models import Dispensing, InventoryMovement, ReleaseOverride, Shipment  # noqa: F401
from telehealth.escalations.models import Escalation, EscalationEvent  # noqa: F401
from telehealth.messaging.models import Message, SmsConsent  # noqa: F401
from telehealth.prescriptions.models import Prescription, Screening  # noqa: F401

metadata = Base.metadata
