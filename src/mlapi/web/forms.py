"""Numbers typed into or hand-edited in a page's form, read without ever failing."""
from __future__ import annotations

from typing import TypeVar

Default = TypeVar("Default")


def form_int(text: str | None, default: Default, lowest: int, highest: int) -> int | Default:
    """``text`` as a whole number from ``lowest`` to ``highest``, or ``default`` for anything else.

    Only ASCII digits, spaces around them allowed: ``str.isdigit`` alone also takes "²",
    which ``int`` refuses, and ``int`` alone takes "-1", "1_000" and "٣". Leading zeros
    aside, no more digits than ``highest`` has, so ``int`` never meets its limit of 4,300.
    """
    text = (text or "").strip()
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(highest)):
        return default
    number = int(digits)
    return number if lowest <= number <= highest else default


def form_number(text: str) -> float | str:
    """A typed number as a float; anything else stays text, so the schema's 422 names the field."""
    try:
        return float(text)
    except ValueError:
        return text.strip()


def form_decimal(text: str) -> float | str:
    """A number typed with a decimal point or a decimal comma, as a spreadsheet of either language writes it:
    ``12,50`` and ``1.234,56`` (dots group thousands where a comma is the decimal mark), ``12.5`` and
    ``1,234.56`` (commas group thousands before a decimal point). Anything else stays text, as in form_number."""
    text = text.strip()
    if "," in text:
        if "." in text and text.rindex(".") > text.rindex(","):
            text = text.replace(",", "")
        else:
            text = text.replace(".", "").replace(",", ".")
    return form_number(text)
