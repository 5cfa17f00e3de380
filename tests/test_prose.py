"""actbook.prose: numbers and lists as sentences write them."""

from actbook.prose import join_and, minus, number, sci


def test_sci_writes_a_superscript_exponent_and_a_true_minus_sign():
    assert sci(3.74e-9) == "3.7 × 10⁻⁹"
    assert sci(8.9e-16, 2) == "8.90 × 10⁻¹⁶"
    assert sci(-1234.0) == "\u22121.2 × 10³"
    assert sci(1.0) == "1.0 × 10⁰"


def test_number_and_minus_use_the_typeset_minus_sign():
    assert number(-0.25, ".2f") == "\u22120.25" and number(0.001234) == "0.00123"
    assert minus("-1.5 to -0.2") == "\u22121.5 to \u22120.2"


def test_join_and_ends_a_list_with_and():
    assert join_and(["ReLU", "ELU", "SELU"]) == "ReLU, ELU and SELU"
    assert join_and(["ReLU", "ELU"]) == "ReLU and ELU"
    assert join_and(["ReLU"]) == "ReLU" and join_and([]) == ""
