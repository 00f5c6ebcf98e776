"""The lenient whole-number parser the pages read their forms with."""
import pytest

from mlapi.web.forms import form_int


@pytest.mark.parametrize("text, expected", [("7", 7), (" 7 ", 7), ("0", 0), ("52", 52), ("052", 52),
                                            ("0" * 5000 + "7", 7)])
def test_ascii_digits_in_range_are_read(text, expected):
    assert form_int(text, None, 0, 52) == expected


@pytest.mark.parametrize("text", [None, "", " ", "²", "٣", "1²", "-1", "+1", "1_0", "1.0", "1e1", "53", "0053",
                                  "9" * 5000])
def test_anything_else_is_the_default(text):
    assert form_int(text, "default", 0, 52) == "default"


def test_below_the_lowest_is_the_default():
    assert form_int("0", 8, 1, 52) == 8
