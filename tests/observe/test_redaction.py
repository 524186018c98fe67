"""The default redactor masks the secrets that leak most often; user hooks are added in order."""

from __future__ import annotations

import pytest

from roost.observe import add_redactor, default_redactor, redact, remove_redactor


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGci"),
        ("key sk-proj-abcdefghijklmnop1234567890", "abcdefghijklmnop1234567890"),
        ("anthropic sk-ant-api03-abcdefghijklmnopqrstu", "api03-abcdefghijklmnopqrstu"),
        ("gh token ghp_abcdefghijklmnopqrstuvwxyz012345", "ghp_abcdefghij"),
        ("aws AKIAABCDEFGHIJKLMNOP here", "AKIAABCDEFGHIJKLMNOP"),
        ('{"api_key": "hunter22hunter"}', "hunter22hunter"),
        ("password=correct-horse-battery", "correct-horse-battery"),
        ("mail alice.smith@example.co.uk now", "alice.smith@example.co.uk"),
        ("roost key Bearer rk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "rk_AAAAAAAAAAAA"),
    ],
)
def test_default_redactor_masks_secrets(text: str, secret: str) -> None:
    out = default_redactor(text)
    assert secret not in out
    assert "[REDACTED]" in out or "[EMAIL]" in out


def test_plain_text_is_untouched() -> None:
    text = "The weather in Paris is 21 degrees; order A-17 shipped."
    assert redact(text) == text


def test_user_redactors_run_after_the_default_and_can_be_removed() -> None:
    def customer_ids(text: str) -> str:
        return text.replace("CUST-42", "[CUSTOMER]")

    add_redactor(customer_ids)
    try:
        assert redact("CUST-42 mailed bob@example.com") == "[CUSTOMER] mailed [EMAIL]"
    finally:
        remove_redactor(customer_ids)
    assert redact("CUST-42") == "CUST-42"
