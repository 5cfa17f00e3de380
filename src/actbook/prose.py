"""Numbers and lists as the book's sentences and table cells write them.

A number in prose gets a true minus sign (U+2212), not a hyphen, and a very
small or large one is written "3.7 × 10⁻⁹", not "3.7e-09"; a list of names
ends with "and".
"""

from __future__ import annotations

__all__ = ["MINUS", "minus", "number", "sci", "join_and"]

#: The minus sign of typeset text; a hyphen-minus reads as a hyphen.
MINUS = "\u2212"
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def minus(text: str) -> str:
    """``text`` with every hyphen-minus written as a true minus sign."""
    return text.replace("-", MINUS)


def number(value: float, fmt: str = ".3g") -> str:
    """``value`` formatted with ``fmt``, with a true minus sign: ``number(-0.25, ".2f")`` is "−0.25"."""
    return minus(format(value, fmt))


def sci(value: float, digits: int = 1) -> str:
    """``value`` in scientific notation as a reader writes it: ``sci(3.74e-9)`` is "3.7 × 10⁻⁹"
    (``digits`` after the decimal point of the mantissa)."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"{minus(mantissa)} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def join_and(items) -> str:
    """``["a", "b", "c"]`` as "a, b and c" (one item alone; "" for none)."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
