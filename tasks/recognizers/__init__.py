"""tunegate's recognizers, one per file, Presidio-style (patterns and context as class constants)."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from tasks.recognizers.credit_card import CreditCardRecognizer
from tasks.recognizers.date_of_birth import DateOfBirthRecognizer
from tasks.recognizers.email import EmailRecognizer
from tasks.recognizers.iban import IbanRecognizer
from tasks.recognizers.ip_address import IpAddressRecognizer
from tasks.recognizers.person_cue import PersonCueRecognizer
from tasks.recognizers.references import reference_recognizer
from tasks.recognizers.street_address import StreetAddressRecognizer
from tasks.recognizers.uk_bank_account import UkBankAccountRecognizer
from tasks.recognizers.uk_driving_licence import UkDrivingLicenceRecognizer
from tasks.recognizers.uk_nhs import UkNhsRecognizer
from tasks.recognizers.uk_nino import UkNinoRecognizer
from tasks.recognizers.uk_passport import UkPassportRecognizer
from tasks.recognizers.uk_phone import UkPhoneRecognizer
from tasks.recognizers.uk_postcode import UkPostcodeRecognizer
from tasks.recognizers.uk_sort_code import UkSortCodeRecognizer
from tasks.recognizers.vehicle_registration import VehicleRegistrationRecognizer

PATTERN_RECOGNIZERS = (
    CreditCardRecognizer, DateOfBirthRecognizer, EmailRecognizer, IbanRecognizer, IpAddressRecognizer,
    PersonCueRecognizer, StreetAddressRecognizer, UkBankAccountRecognizer, UkDrivingLicenceRecognizer,
    UkNhsRecognizer, UkNinoRecognizer, UkPassportRecognizer, UkPhoneRecognizer, UkPostcodeRecognizer,
    UkSortCodeRecognizer, VehicleRegistrationRecognizer,
)


def build_recognizers(references: list[tuple[str, str, list[str], float]] = ()) -> list[EntityRecognizer]:
    """All of tunegate's recognizers plus one per configured reference (entity, pattern, context, score)."""
    out: list[EntityRecognizer] = [cls() for cls in PATTERN_RECOGNIZERS]
    out += [reference_recognizer(*ref) for ref in references]
    return out
