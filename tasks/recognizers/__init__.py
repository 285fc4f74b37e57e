"""tunegate's recognizers, one per file, Presidio-style (patterns and context as class constants).

Class names carry a Tg prefix: Presidio's registry loader finds recognizer classes by name among all
subclasses, so a same-named class here would replace its own in every default AnalyzerEngine.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from tasks.recognizers.credit_card import TgCreditCardRecognizer
from tasks.recognizers.date_of_birth import TgDateOfBirthRecognizer
from tasks.recognizers.de_tax_id import TgDeTaxIdRecognizer
from tasks.recognizers.email import TgEmailRecognizer
from tasks.recognizers.es_dni import TgEsDniRecognizer, TgEsNieRecognizer
from tasks.recognizers.eu_vat import TgEuVatRecognizer
from tasks.recognizers.fr_nir import TgFrNirRecognizer
from tasks.recognizers.iban import TgIbanRecognizer
from tasks.recognizers.ip_address import TgIpAddressRecognizer
from tasks.recognizers.it_fiscal_code import TgItFiscalCodeRecognizer
from tasks.recognizers.nl_bsn import TgNlBsnRecognizer
from tasks.recognizers.person_cue import TgPersonCueRecognizer
from tasks.recognizers.phone import TgPhoneRecognizer
from tasks.recognizers.reference_cue import TgReferenceCueRecognizer
from tasks.recognizers.references import reference_recognizer
from tasks.recognizers.street_address import TgStreetAddressRecognizer
from tasks.recognizers.uk_bank_account import TgUkBankAccountRecognizer
from tasks.recognizers.uk_driving_licence import TgUkDrivingLicenceRecognizer
from tasks.recognizers.uk_nhs import TgUkNhsRecognizer
from tasks.recognizers.uk_nino import TgUkNinoRecognizer
from tasks.recognizers.uk_passport import TgUkPassportRecognizer
from tasks.recognizers.uk_postcode import TgUkPostcodeRecognizer
from tasks.recognizers.uk_sort_code import TgUkSortCodeRecognizer
from tasks.recognizers.us_bank import TgUsBankAccountRecognizer, TgUsBankRoutingRecognizer
from tasks.recognizers.us_driver_license import TgUsDriverLicenseRecognizer
from tasks.recognizers.us_itin import TgUsItinRecognizer
from tasks.recognizers.us_passport import TgUsPassportRecognizer
from tasks.recognizers.us_ssn import TgUsSsnRecognizer
from tasks.recognizers.us_zip import TgUsZipRecognizer
from tasks.recognizers.vehicle_registration import TgVehicleRegistrationRecognizer

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
