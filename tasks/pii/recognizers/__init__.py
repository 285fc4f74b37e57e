"""tunegate's recognizers, one per file, Presidio-style (patterns and context as class constants).

Class names carry a Tg prefix: Presidio's registry loader finds recognizer classes by name among all
subclasses, so a same-named class here would replace its own in every default AnalyzerEngine.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from tasks.pii.recognizers.credit_card import TgCreditCardRecognizer
from tasks.pii.recognizers.date_of_birth import TgDateOfBirthRecognizer
from tasks.pii.recognizers.de_tax_id import TgDeTaxIdRecognizer
from tasks.pii.recognizers.email import TgEmailRecognizer
from tasks.pii.recognizers.es_dni import TgEsDniRecognizer, TgEsNieRecognizer
from tasks.pii.recognizers.eu_vat import TgEuVatRecognizer
from tasks.pii.recognizers.fr_nir import TgFrNirRecognizer
from tasks.pii.recognizers.iban import TgIbanRecognizer
from tasks.pii.recognizers.ip_address import TgIpAddressRecognizer
from tasks.pii.recognizers.it_fiscal_code import TgItFiscalCodeRecognizer
from tasks.pii.recognizers.nl_bsn import TgNlBsnRecognizer
from tasks.pii.recognizers.person_cue import TgPersonCueRecognizer
from tasks.pii.recognizers.phone import TgPhoneRecognizer
from tasks.pii.recognizers.reference_cue import TgReferenceCueRecognizer
from tasks.pii.recognizers.references import reference_recognizer
from tasks.pii.recognizers.street_address import TgStreetAddressRecognizer
from tasks.pii.recognizers.uk_bank_account import TgUkBankAccountRecognizer
from tasks.pii.recognizers.uk_driving_licence import TgUkDrivingLicenceRecognizer
from tasks.pii.recognizers.uk_nhs import TgUkNhsRecognizer
from tasks.pii.recognizers.uk_nino import TgUkNinoRecognizer
from tasks.pii.recognizers.uk_passport import TgUkPassportRecognizer
from tasks.pii.recognizers.uk_postcode import TgUkPostcodeRecognizer
from tasks.pii.recognizers.uk_sort_code import TgUkSortCodeRecognizer
from tasks.pii.recognizers.us_bank import TgUsBankAccountRecognizer, TgUsBankRoutingRecognizer
from tasks.pii.recognizers.us_driver_license import TgUsDriverLicenseRecognizer
from tasks.pii.recognizers.us_itin import TgUsItinRecognizer
from tasks.pii.recognizers.us_passport import TgUsPassportRecognizer
from tasks.pii.recognizers.us_ssn import TgUsSsnRecognizer
from tasks.pii.recognizers.us_zip import TgUsZipRecognizer
from tasks.pii.recognizers.vehicle_registration import TgVehicleRegistrationRecognizer

PATTERN_RECOGNIZERS = (
    TgCreditCardRecognizer, TgDateOfBirthRecognizer, TgEmailRecognizer, TgIbanRecognizer, TgIpAddressRecognizer,
    TgPersonCueRecognizer, TgStreetAddressRecognizer, TgUkBankAccountRecognizer, TgUkDrivingLicenceRecognizer,
    TgUkNhsRecognizer, TgUkNinoRecognizer, TgUkPassportRecognizer, TgPhoneRecognizer, TgUkPostcodeRecognizer,
    TgUkSortCodeRecognizer, TgVehicleRegistrationRecognizer,
    TgUsSsnRecognizer, TgUsItinRecognizer, TgUsDriverLicenseRecognizer, TgUsPassportRecognizer, TgUsZipRecognizer,
    TgUsBankRoutingRecognizer, TgUsBankAccountRecognizer,
    TgDeTaxIdRecognizer, TgFrNirRecognizer, TgEsDniRecognizer, TgEsNieRecognizer, TgItFiscalCodeRecognizer,
    TgNlBsnRecognizer, TgEuVatRecognizer, TgReferenceCueRecognizer,
)


def in_locales(cls: type, locales: tuple[str, ...] | list[str]) -> bool:
    """A recognizer class runs when it has no ``LOCALE`` (locale-free) or its locale is enabled."""
    return getattr(cls, "LOCALE", None) in (None, *locales)


def build_recognizers(references: list[tuple[str, str, list[str], float]] = (),
                      locales: tuple[str, ...] | list[str] = ("uk", "us", "eu")) -> list[EntityRecognizer]:
    """tunegate's recognizers for the enabled locales plus one per configured reference (entity, pattern,
    context, score). A class with ``TAKES_LOCALES`` gets the locales (e.g. the phone recognizer's regions)."""
    out: list[EntityRecognizer] = [cls(locales=tuple(locales)) if getattr(cls, "TAKES_LOCALES", False) else cls()
                                   for cls in PATTERN_RECOGNIZERS if in_locales(cls, locales)]
    out += [reference_recognizer(*ref) for ref in references]
    return out
