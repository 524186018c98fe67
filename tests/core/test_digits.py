from roost.core.digits import MAX_INT64, digits_pattern, parse_digits


def test_only_ascii_digits_within_the_bound_are_numbers() -> None:
    assert parse_digits("0") == 0 and parse_digits("042") == 42
    assert parse_digits(str(MAX_INT64)) == MAX_INT64
    assert parse_digits("500", hi=500) == 500 and parse_digits("501", hi=500) is None
    for bad in ("", "-1", "+1", " 1", "1 ", "1.5", "²", "٣", "１", str(MAX_INT64 + 1), "9" * 5000):
        assert parse_digits(bad) is None, bad


def test_the_pattern_accepts_what_parse_digits_accepts() -> None:
    import re

    for hi in (MAX_INT64, 500, 9, 10, 1000):
        pattern = re.compile(digits_pattern(hi))
        near = [str(hi + d) for d in range(-12, 12)] + ["0" + str(hi)[1:], "0" * len(str(hi))]
        for raw in [*near, "0", "007", "", "-1", "1.5", "²", "9" * 30, str(hi) + "0"]:
            assert bool(pattern.fullmatch(raw)) == (parse_digits(raw, hi) is not None), (hi, raw)
