"""Pure parts of the compliance reports: the filter parser every report shares, CSV cells, the
dispensing log's address line, how the chain's backlog age reads."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from telehealth.compliance.chain_state import ChainState
from telehealth.compliance.dispensing_log import address
from telehealth.compliance.escalation_stats import ALLOWED_FILTERS
from telehealth.compliance.export import csv_lines, neutralise
from telehealth.compliance.filters import MAX_PAGE_SIZE, Page, ReportFilters, parse
from telehealth.errors import RuleViolation


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_that_could_start_a_formula_is_quoted(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value, cell", [("Gale Harper", "Gale Harper"), (-1, -1), (Decimal("2.5"), Decimal("2.5")),
                                         (None, ""), (True, "yes"), (date(2026, 11, 20), "2026-11-20")])
def test_other_cells_are_written_as_they_are(value, cell):
    assert neutralise(value) == cell


def test_a_time_is_written_to_the_second_with_its_offset():
    at = datetime(2026, 11, 19, 11, 17, 1, 744106, tzinfo=ZoneInfo("America/New_York"))
    assert neutralise(at) == "2026-11-19T11:17:01-05:00"


def test_csv_lines_come_one_by_one_with_the_header_first():
    lines = csv_lines(["patient", "discrepancy"], iter([("=cmd", -1), ("Remy, Stone", 0)]))
    assert next(lines) == "patient,discrepancy\r\n"
    assert list(lines) == ["'=cmd,-1\r\n", '"Remy, Stone",0\r\n']


def test_no_arguments_is_everything_first_page():
    assert parse({}) == (ReportFilters(), Page())


def test_every_filter_is_read():
    filters, page = parse({"start": "2026-11-01", "end": "2026-11-30", "prescriber": "3", "patient": "7",
                           "lot": "KX-1", "after": "40", "size": "25"})
    assert filters == ReportFilters(date(2026, 11, 1), date(2026, 11, 30), 3, 7, "KX-1")
    assert page == Page(after=40, size=25)


def test_empty_arguments_from_a_form_mean_no_filter():
    assert parse({"start": "", "lot": ""}) == (ReportFilters(), Page())


@pytest.mark.parametrize("arguments, field", [
    ({"start": "20-11-2026"}, "start"), ({"end": "2026-02-30"}, "end"),
    ({"start": "2026-11-02", "end": "2026-11-01"}, "end"), ({"size": "0"}, "size"),
    ({"size": str(MAX_PAGE_SIZE + 1)}, "size"), ({"prescriber": "x"}, "prescriber"), ({"sort": "name"}, "sort"),
])
def test_a_bad_argument_is_refused_naming_its_field(arguments, field):
    with pytest.raises(RuleViolation) as refused:
        parse(arguments)
    assert field in refused.value.errors


def test_a_filter_the_report_does_not_take_is_refused():
    with pytest.raises(RuleViolation) as refused:
        parse({"lot": "KX-1", "patient": "2"}, allowed=ALLOWED_FILTERS)
    assert refused.value.errors == {"lot": ["This report cannot be filtered by this."]}


def test_days_are_the_clinics_midnight_to_midnight_in_utc():
    start, end = ReportFilters(start_on=date(2026, 11, 1), end_on=date(2026, 11, 1)).utc_range(
        ZoneInfo("America/New_York"))
    # 1 November 2026: daylight saving time ends, a 25-hour day.
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    assert (start, end - start) == (datetime(2026, 11, 1, 4, tzinfo=timezone.utc), timedelta(hours=25))


def test_the_audit_details_carry_only_the_filters_given():
    assert ReportFilters(start_on=date(2026, 1, 2), lot_number="KX-1").as_details() == {
        "start_on": "2026-01-02", "lot_number": "KX-1"}


def test_the_address_line_skips_an_empty_second_line():
    assert address("1 Elm Street", None, "Springfield", "IL", "62701") == "1 Elm Street, Springfield, IL 62701"
    assert address("1 Elm Street", "Apt 2", "Springfield", "IL", "62701") == \
        "1 Elm Street, Apt 2, Springfield, IL 62701"


@pytest.mark.parametrize("seconds, text", [(None, None), (5, "5 s"), (61, "1 minute"), (7300, "2 hours"),
                                           (3 * 86400, "3 days")])
def test_the_backlog_age_reads_in_a_whole_unit(seconds, text):
    now = datetime(2026, 11, 20, tzinfo=timezone.utc)
    oldest = None if seconds is None else now - timedelta(seconds=seconds)
    state = ChainState(sealed=0, head_event_id=None, head_event_at=None, head_hash=None, waiting=0,
                       oldest_waiting_at=oldest, now=now)
    assert state.oldest_waiting_age_text == text
