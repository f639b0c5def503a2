"""The dispensing log (SPEC §8): every fill with what a DEA Schedule III dispensing record holds
(21 CFR 1304.22(c): patient's name and address, drug, strength, dosage form, quantity, date,
dispenser) plus the prescriber with the DEA number printed on the prescription, and the lot
with its expiry, fill number and prescription.

Where each field lives: the patient's name on their login (`users.full_name`) and the address on
`patients`; drug, strength and dosage form on the prescription, with the prescriber's DEA number
as it was when issued (`prescriptions.prescriber_dea_number`); quantity, lot, expiry, fill
number, time and pharmacist on the dispensing.

Filters: the dispensed date (clinic days), prescriber, patient, lot. Ordered by dispensing id,
keyset-paged on it; the export streams the same query.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from telehealth.accounts.models import Patient, User
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.compliance.listed import ListedReport
from telehealth.dispensing.models import Dispensing
from telehealth.prescriptions.models import Prescription

REPORT = "dispensing_log"
HEADER = ("dispensing", "dispensed_on", "dispensed_at_utc", "patient", "patient_address", "drug", "strength_mg",
          "dosage_form", "quantity", "prescriber", "prescriber_dea_number", "dispenser", "lot", "lot_expiry",
          "fill_number", "prescription")


@dataclass(frozen=True)
class Entry:
    dispensing_id: int
    dispensed_at: datetime
    dispensed_on: date          # the clinic's calendar day
    patient_id: int
    patient: str
    patient_address: str
    drug: str
    strength_mg: int
    dosage_form: str
    quantity: int
    prescriber_id: int
    prescriber: str
    prescriber_dea_number: str
    dispenser: str
    lot_number: str
    lot_expiry: date
    fill_number: int
    prescription_id: int

    @property
    def key(self) -> int:
        return self.dispensing_id

    @property
    def cells(self) -> tuple[Any, ...]:
        return (self.dispensing_id, self.dispensed_on, self.dispensed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                self.patient, self.patient_address, self.drug, self.strength_mg, self.dosage_form, self.quantity,
                self.prescriber, self.prescriber_dea_number, self.dispenser, self.lot_number, self.lot_expiry,
                self.fill_number, self.prescription_id)


def address(line1: str, line2: str | None, city: str, region: str, postal_code: str) -> str:
    return ", ".join(part for part in (line1, line2, city, f"{region} {postal_code}") if part)


def query(filters: ReportFilters, zone: ZoneInfo, page: Page | None = None) -> sa.Select:
    patient_user, prescriber, pharmacist = aliased(User), aliased(User), aliased(User)
    statement = (
        sa.select(Dispensing.id, Dispensing.dispensed_at, Prescription.patient_id, patient_user.full_name,
                  Patient.address_line1, Patient.address_line2, Patient.city, Patient.region, Patient.postal_code,
                  Prescription.drug, Prescription.strength_mg, Prescription.dosage_form, Dispensing.quantity,
                  Prescription.prescriber_id, prescriber.full_name, Prescription.prescriber_dea_number,
                  pharmacist.full_name, Dispensing.lot_number, Dispensing.lot_expiry, Dispensing.fill_number,
                  Dispensing.prescription_id)
        .join(Prescription, Prescription.id == Dispensing.prescription_id)
        .join(Patient, Patient.id == Prescription.patient_id)
        .join(patient_user, patient_user.id == Patient.user_id)
        .join(prescriber, prescriber.id == Prescription.prescriber_id)
        .join(pharmacist, pharmacist.id == Dispensing.pharmacist_id)
        .order_by(Dispensing.id)
    )
    statement = statement.where(*filters.conditions(
        prescriber=Prescription.prescriber_id, patient=Prescription.patient_id, lot=Dispensing.lot_number,
        at=Dispensing.dispensed_at, zone=zone))
    if page is not None:
        statement = statement.where(Dispensing.id > (page.after or 0)).limit(page.size)
    return statement


def _entry(row: sa.Row, zone: ZoneInfo) -> Entry:
    (dispensing_id, dispensed_at, patient_id, patient, line1, line2, city, region, postal_code, drug, strength,
     form, quantity, prescriber_id, prescriber, dea, dispenser, lot, expiry, fill_number, prescription_id) = row
    return Entry(dispensing_id, dispensed_at, dispensed_at.astimezone(zone).date(), patient_id, patient,
                 address(line1, line2, city, region, postal_code), drug, strength, form, quantity, prescriber_id,
                 prescriber, dea, dispenser, lot, expiry, fill_number, prescription_id)


# Read a page, export it all (see `listed.ListedReport`: audited once per patient shown).
REPORT_LIST = ListedReport(REPORT, query, _entry, patient_column=Prescription.patient_id, batch=1000)
read_page = REPORT_LIST.read_page
export = REPORT_LIST.export
