"""CSV exports: streamed row by row, with spreadsheet formulas neutralised.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets
strip before looking) is run as a formula when the file is opened, so such a cell is prefixed with
a single quote (OWASP's advice). Numbers are written as numbers: a negative discrepancy stays -2.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from sqlalchemy.orm import Session

from telehealth.compliance.filters import Page

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A cell as it may safely be written: text that could start a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, datetime):   # to the second: a record's times are read by people
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The header, then one CSV line per row, produced as the rows arrive (never all at once)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: Sequence[Any]) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line([neutralise(cell) for cell in header])
    for row in rows:
        yield line([neutralise(cell) for cell in row])


T = TypeVar("T")


def keyset_batches(read: Callable[[Page], list[T]], key: Callable[[T], int], size: int) -> Iterator[list[T]]:
    """Every row of a keyset-paged report, `size` at a time, each batch read only when the caller
    asks for it: a ten-year export costs one batch of memory."""
    after = None
    while True:
        rows = read(Page(after=after, size=size))
        if rows:
            yield rows
        if len(rows) < size:
            return
        after = key(rows[-1])


def released(session: Session, batches: Iterable[list[T]], cells: Callable[[T], Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """An export's rows, read a keyset batch at a time, each batch's read transaction ended before
    its lines go out to the client, and ended too if the client goes away mid-download. The
    export's audit event was committed with the request, so only reads are rolled back. Why: on
    SQLite every transaction holds the write lock (`BEGIN IMMEDIATE`), and on PostgreSQL a long
    snapshot holds back vacuum; a slow download must hold neither."""
    try:
        for batch in batches:
            lines = [cells(item) for item in batch]  # before the rollback expires the rows
            session.rollback()
            yield from lines
    finally:
        session.rollback()
