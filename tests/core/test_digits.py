from roost.core.digits import MAX_INT64, parse_digits


def test_only_ascii_digits_within_the_bound_are_numbers() -> None:
    assert parse_digits("0") == 0 and parse_digits("042") == 42
    assert parse_digits(str(MAX_INT64)) == MAX_INT64
    assert parse_digits("500", hi=500) == 500 and parse_digits("501", hi=500) is None
    for bad in ("", "-1", "+1", " 1", "1 ", "1.5", "²", "٣", "１", str(MAX_INT64 + 1), "9" * 5000):
        assert parse_digits(bad) is None, bad
