"""The one implementation of each check digit (tasks/checksums.py), and the recognizers and residual scan on it."""

import pytest

from tasks.checksums import iban_check_digits, iban_checksum_ok, luhn_valid, mod97, nhs_check_digit
from tasks.pii.recognizers.credit_card import card_number_valid
from tasks.pii.recognizers.iban import iban_valid
from tasks.pii.recognizers.uk_nhs import nhs_valid
from tasks.pii.residual import find


@pytest.mark.parametrize("number, ok", [
    ("4111 1111 1111 1111", True), ("4111-1111-1111-1112", False), ("378282246310005", True),
    ("5555555555554444", True), ("5555555555554443", False), ("79927398713", True), ("0", True),
])
def test_luhn(number, ok):
    assert luhn_valid(number) is ok


@pytest.mark.parametrize("text, ok", [
    ("4111 1111 1111 1111", True), ("79927398713", False),  # valid Luhn, too short for a card
    ("4111 1111 1111 1111 1111", False),  # 20 digits
])
def test_card_number(text, ok):
    assert card_number_valid(text) is ok


@pytest.mark.parametrize("iban, ok", [
    ("GB82 WEST 1234 5698 7654 32", True), ("GB82 WEST 1234 5698 7654 33", False),
    ("DE89370400440532013000", True), ("FR1420041010050500013M02606", True), ("gb82west12345698765432", True),
])
def test_iban(iban, ok):
    assert iban_checksum_ok(iban) is ok
    assert iban_valid(iban) is ok


def test_iban_check_digits_make_valid_ibans():
    assert iban_check_digits("GB", "WEST12345698765432") == "82"
    assert iban_check_digits("DE", "370400440532013000") == "89"
    assert mod97("WEST12345698765432GB82") == 1
    assert iban_valid("GB82 WEST 1234 5698 7654 3!") is False  # not alphanumeric: invalid, not an error


@pytest.mark.parametrize("nine, digit", [("943476591", 9), ("401023213", 7), ("000000006", None), ("000000001", 9)])
def test_nhs_check_digit(nine, digit):
    assert nhs_check_digit(nine) == digit


@pytest.mark.parametrize("text, ok", [("943 476 5919", True), ("943 476 5918", False), ("401-023-2137", True)])
def test_nhs_number(text, ok):
    assert nhs_valid(text) is ok


def test_residual_scan_uses_the_same_checks():
    kinds = {k for k, *_ in find("card 4111 1111 1111 1111 and iban GB82 WEST 1234 5698 7654 32 then")}
    assert {"CARD_NUMBER", "IBAN_CODE"} <= kinds
    kinds = {k for k, *_ in find("card 4111 1111 1111 1112 and iban GB82 WEST 1234 5698 7654 33 then")}
    assert "CARD_NUMBER" not in kinds and "IBAN_CODE" not in kinds
