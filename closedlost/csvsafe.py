"""CSV a spreadsheet opens safely: every CSV the project writes goes through these writers.

A text cell that starts with =, +, -, @, a tab or a carriage return would be run as a formula
(CSV injection, OWASP): it gets a leading apostrophe, which spreadsheets show as text. Numbers,
negative ones included, stay numbers.
"""

import csv
import re
from decimal import Decimal

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value):
    """The value as a CSV cell that no spreadsheet evaluates."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class SafeWriter:
    """csv.writer whose rows are made safe cell by cell."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(value) for value in row])


class SafeDictWriter(csv.DictWriter):
    """csv.DictWriter whose values (and header) are made safe cell by cell."""

    def writerow(self, rowdict):
        return super().writerow({key: safe_cell(value) for key, value in rowdict.items()})
