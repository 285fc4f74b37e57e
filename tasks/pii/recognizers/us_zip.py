"""US ZIP code: five digits or ZIP+4 (12345-6789), only where it is written as a ZIP.

A five-digit number is a quantity, an amount or an order number far more often than a ZIP, so it is
reported only right after a US state (name, any case, or USPS abbreviation in capitals, with an
optional comma: "Austin, TX 78701", "texas 78701") or a ZIP cue ("zip", "zip code", "zipcode",
"postal code"). The abbreviations must be capitals because most of them are English words in lower
case ("in", "or", "me", "ok", "hi"). The span is the ZIP only.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from tasks.pii.recognizers.cue_value import CueValueRecognizer

_STATES = (
    "alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|hawaii|idaho|"
    "illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|minnesota|"
    "mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|new mexico|new york|"
    "north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|rhode island|south carolina|south dakota|"
    "tennessee|texas|utah|vermont|virginia|washington|west virginia|wisconsin|wyoming|district of columbia|"
    "puerto rico|guam"
).replace(" ", r"[ \t]+")
# The 50 states, DC, territories and the military "states" (AA, AE, AP).
_ABBREVIATIONS = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC|PR|GU|VI|AS|MP|AA|AE|AP"
)
_STATE_CUE = rf"(?:(?<!\w)(?:{_STATES})|(?<![\w.])(?-i:{_ABBREVIATIONS}))(?!\w),?[ \t]+"
_ZIP_CUE = r"(?<!\w)(?:zip(?:[ -]?code)?|postal[ \t]+code)(?!\w)(?:[ \t]*(?::|#|-|is(?=[ \t])))?[ \t]*"
_ZIP = r"(?<![\w-])\d{5}(?:-\d{4})?(?![\w-])"
_ZIP_AT_END = re.compile(_ZIP + r"\Z")


class TgUsZipRecognizer(CueValueRecognizer):
    LOCALE = "us"
    ENTITY = "US_ZIP_CODE"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("zip_after_cue", rf"(?:{_STATE_CUE}|{_ZIP_CUE}){_ZIP}", 0.6)]
    # The cue is part of the pattern: nothing is reported without it, so context has nothing to add.
    CONTEXT: ClassVar[list[str]] = []
    VALUE_AT_END: ClassVar[re.Pattern] = _ZIP_AT_END
