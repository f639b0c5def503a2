"""Arranging benchmark data with the real operations and the real clock (nothing frozen).

Every person is invented. Phone numbers are NANP fictional numbers, 555-0100 to 555-0199, which
are reserved for fiction in every area code: one area code gives only 100 of them, so N patients
with a sitter each draw from several area codes (201, 202, 203, ... in the order of `AREA_CODES`).
No number here belongs to anyone.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import phonenumbers  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402

from telehealth import clock  # noqa: E402
from telehealth.accounts import operations as accounts  # noqa: E402
from telehealth.accounts.models import PatientStatus, Role  # noqa: E402
from telehealth.actor import Actor  # noqa: E402
from telehealth.db import database  # noqa: E402
from telehealth.dispensing import operations as dispensing  # noqa: E402
from telehealth.dispensing.operations import DispensingSettings  # noqa: E402
from telehealth.dosing import scheduling  # noqa: E402
from telehealth.dosing.models import DoseSession  # noqa: E402
from telehealth.dosing.operations import DosingSettings  # noqa: E402
from telehealth.prescriptions import operations as prescribing  # noqa: E402

# US area codes (each with its fictional 555-01xx block). 2 phones per patient: 50 patients per code.
AREA_CODES = (201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225,
              228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260, 262, 267, 269, 270, 276, 281,
              301, 302, 303, 304, 305, 307, 308, 309, 310, 312, 313, 314, 315, 316, 317, 318, 319, 320, 321,
              323, 325, 330, 334, 336, 337, 339, 347, 351, 352, 360, 361, 386, 401, 402, 404, 405, 406, 407,
              408, 409, 410, 412, 413, 414, 415, 417, 419, 423, 424, 425, 432, 434, 435, 440, 443, 469, 478,
              479, 480, 484)
STAFF_PASSWORD = "bench-only-password-2026"   # invented; the benchmark database is thrown away
PRESCRIPTION = dict(strength_mg=100, lozenges_per_dose=1, quantity=8, refills=5, doses_in_series=6,
                    min_hours_between_doses=72, max_doses_per_7_days=2,
                    directions="Dissolve one lozenge under the tongue at the scheduled session, with your "
                               "sitter present. Do not chew or swallow.")
ON_HAND = 8
PATIENTS_PER_PRESCRIBER = 250


def fictional_phones() -> Iterator[str]:
    """+1 NPA 555 0100..0199 for each area code in turn (skipping 0100, often used as a clinic's)."""
    for area in AREA_CODES:
        for line in range(101, 200):
            number = f"+1{area}555{line:04d}"
            if phonenumbers.is_valid_number(phonenumbers.parse(number, None)):
                yield number


def dea_number(n: int) -> str:
    """An invented DEA number with a valid check digit (prefix BZ: no real registrant is implied)."""
    digits = [int(c) for c in f"{900000 + n:06d}"]
    check = (digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])) % 10
    return "BZ" + "".join(map(str, digits)) + str(check)


@dataclass
class Pair:
    patient_id: int
    patient_phone: str
    sitter_id: int
    sitter_phone: str
    prescriber_id: int


class World:
    """Patients ready to book: each with an active prescription, a verified sitter and 8 on hand."""

    def __init__(self, app: Flask):
        self.app = app
        self.db = database(app)
        self.policy = app.extensions["account_policy"]
        self.phones = fictional_phones()
        self.numbers = count(1)
        self.system = Actor.system("benchmark arrangement")
        self.dispensing = DispensingSettings.from_config(app.config)
        self.dosing = DosingSettings.from_config(app.config)
        self.prescribers: list[int] = []
        self.pharmacist_id: int | None = None

    def _staff(self, session, role: Role, name: str):  # noqa: ANN001, ANN202
        n = next(self.numbers)
        user = accounts.create_user(session, self.system, self.policy, email=f"{role.value}{n}@bench.example.org",
                                    full_name=f"{name} {n}", role=role, password=STAFF_PASSWORD,
                                    phone=next(self.phones) if role is Role.PRESCRIBER else None)
        if role is Role.PRESCRIBER:
            prescribing.set_dea_number(session, self.system, user, dea_number(n))
        return user

    def _prescriber_for(self, session, index: int) -> int:  # noqa: ANN001
        wanted = index // PATIENTS_PER_PRESCRIBER
        while len(self.prescribers) <= wanted:
            self.prescribers.append(self._staff(session, Role.PRESCRIBER, "Dr. Bench Prescriber").id)
        return self.prescribers[wanted]

    def patients(self, n: int, *, progress: bool = True) -> list[Pair]:
        pairs = []
        with self.db.new_session() as session:
            if self.pharmacist_id is None:
                self.pharmacist_id = self._staff(session, Role.PHARMACIST, "Bench Pharmacist").id
                session.commit()
            pharmacist = Actor.for_user(session.get(accounts.User, self.pharmacist_id))
            for i in range(n):
                pairs.append(self._one(session, i, pharmacist))
                session.commit()
                if progress and (i + 1) % 100 == 0:
                    print(f"  arranged {i + 1}/{n} patients", flush=True)
        return pairs

    def _one(self, session, i: int, pharmacist: Actor) -> Pair:  # noqa: ANN001
        n = next(self.numbers)
        prescriber_id = self._prescriber_for(session, i)
        prescriber = session.get(accounts.User, prescriber_id)
        patient = accounts.enrol_patient(
            session, self.system, self.policy, email=f"patient{n}@bench.example.org", full_name=f"Pat Bench{n}",
            phone=next(self.phones), date_of_birth=date(1985, 1, 1), address_line1=f"{n} Elm Street",
            city="Springfield", region="IL", postal_code="62701", timezone="America/Chicago",
            prescriber_id=prescriber_id)
        patient.status = PatientStatus.ACTIVE
        patient.sms_consent_at = clock.now()
        sitter = accounts.add_sitter(session, self.system, self.policy, patient, full_name=f"Sid Sitter{n}",
                                     phone=next(self.phones), relationship_to_patient="friend")
        # As the demo does: the texted code is skipped, the sitter starts verified and consenting.
        sitter.phone_verified_at = sitter.consent_at = clock.now()
        doctor = Actor.for_user(prescriber)
        prescribing.record_screening(session, doctor, patient.id, contraindications=[], baseline_systolic=124,
                                     baseline_diastolic=78, phq9=16, gad7=11)
        prescription = prescribing.issue_prescription(session, doctor, patient.id, **PRESCRIPTION)
        fill = dispensing.dispense(session, pharmacist, self.dispensing, prescription.id, quantity=ON_HAND,
                                   lot_number="BENCH-LOT-1", lot_expiry=date.today() + timedelta(days=365))
        shipment = dispensing.ship(session, pharmacist, self.dispensing, fill.id, carrier="USPS",
                                   tracking_number=f"9400 1000 0000 {n:04d} 0000")
        dispensing.mark_delivered(session, pharmacist, self.dispensing, shipment.id)
        dispensing.confirm_receipt(session, Actor.for_user(patient.user), self.dispensing, patient_id=patient.id,
                                   count=ON_HAND, channel="web")
        return Pair(patient.id, patient.user.phone, sitter.id, sitter.phone, prescriber_id)

    def book(self, pair: Pair, at: datetime) -> int:
        """Book one session at `at` (by the patient's prescriber), committed; returns its id."""
        with self.db.new_session() as session:
            doctor = Actor.for_user(session.get(accounts.User, pair.prescriber_id))
            booked = scheduling.schedule_session(session, doctor, self.dosing, pair.patient_id, scheduled_at=at)
            session.commit()
            return booked.id

    def session_states(self) -> dict[str, int]:
        with self.db.new_session() as session:
            return {state.value: n for state, n in session.execute(
                sa.select(DoseSession.state, sa.func.count()).group_by(DoseSession.state))}
