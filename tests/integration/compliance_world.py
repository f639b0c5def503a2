"""A small clinic with known movements, for the compliance reports' exact figures.

All through the real verbs (dispense, ship, deliver, receipt, dose taken, waste, return, count),
one clinic day apart (the clinic is in America/New_York; the tests' clock starts 10:00 there):

  day 1, Nov 20  Rx1 (Gale Harper, Dr. Dana) fill 1: lot LOT-A, 8 dispensed, 8 received.
                 Rx2 (Remy Stone, Dr. Bell)  fill 1: lot LOT-A, 8 dispensed, 7 received.
  day 2, Nov 21  Gale takes 1, then 1 (LOT-A); Remy takes 2 (LOT-A).
  day 3, Nov 22  Rx1 fill 2: lot LOT-B, 8 dispensed, 8 received.
  day 4, Nov 23  Gale wastes 1 of LOT-A (witnessed); 2 of LOT-B are returned to the pharmacy.
                 Gale counts 10 (the ledger says 5 + 6 = 11); Remy counts 4 (the ledger says 5).
  day 5, Nov 24  Remy takes 1 (LOT-A).
"""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.dispensing import inventory, operations
from telehealth.dispensing.operations import DispensingSettings
from tests.integration.dispensing_world import delivered_package, prescribe

SYSTEM = Actor.system("test")


def build(session, make, app, clock, *, gale_name: str = "Gale Harper", lot_a: str = "LOT-A") -> SimpleNamespace:
    settings = DispensingSettings.from_config(app.config)
    dana = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    bell = make.user(Role.PRESCRIBER, name="Bell Prescriber")
    pharmacist = make.user(Role.PHARMACIST, name="Ira Pharmacist")
    gale = make.patient(dana, name=gale_name)
    remy = make.patient(bell, name="Remy Stone")
    rx1 = prescribe(session, gale, dana)
    rx2 = prescribe(session, remy, bell)

    def receive(patient, package, count):
        operations.confirm_receipt(session, Actor.for_user(patient.user), settings, patient_id=patient.id,
                                   count=count, channel="web", shipment_id=package.id)
        session.commit()

    receive(gale, delivered_package(session, pharmacist, settings, rx1, lot=lot_a), 8)
    receive(remy, delivered_package(session, pharmacist, settings, rx2, lot=lot_a), 7)
    clock.advance(timedelta(days=1))
    inventory.record_dose_taken(session, SYSTEM, gale.id, 1)
    inventory.record_dose_taken(session, SYSTEM, gale.id, 1)
    inventory.record_dose_taken(session, SYSTEM, remy.id, 2)
    session.commit()
    clock.advance(timedelta(days=1))
    receive(gale, delivered_package(session, pharmacist, settings, rx1, lot="LOT-B"), 8)
    clock.advance(timedelta(days=1))
    inventory.record_waste(session, Actor.for_user(gale.user), gale.id, lot_number=lot_a, quantity=1,
                           witness_name="Casey Harper")
    inventory.record_return(session, Actor.for_user(pharmacist), gale.id, lot_number="LOT-B", quantity=2)
    gale_count = inventory.report_count(session, Actor.for_user(gale.user), settings, gale.id, 10, channel="web")
    remy_count = inventory.report_count(session, Actor.for_user(remy.user), settings, remy.id, 4, channel="web")
    session.commit()
    clock.advance(timedelta(days=1))
    inventory.record_dose_taken(session, SYSTEM, remy.id, 1)
    session.commit()
    return SimpleNamespace(dana=dana, bell=bell, pharmacist=pharmacist, gale=gale, remy=remy, rx1=rx1, rx2=rx2,
                           gale_count=gale_count, remy_count=remy_count, settings=settings, lot_a=lot_a)
