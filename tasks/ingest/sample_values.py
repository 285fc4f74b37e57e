"""The slot values of the synthetic claims corpus: fake but well-formed personal data.

One function per kind of value, each drawing from the ``random.Random`` it is given: names, phone
numbers, real postcode areas, dates of birth, NI numbers, NHS numbers, IBANs and card numbers with
valid check digits (``tasks/checksums.py``), driving licences, vehicle registrations and amounts.
``PII_SLOTS`` maps each template slot to its entity type and generator.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from tasks.checksums import iban_check_digits, luhn_valid, nhs_check_digit
from tasks.ingest.sample_text import FIRST, LAST, MONTHS, STREETS, WHOLE

L = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NINO_1 = "ABCEGHJKLMNOPRSTWXYZ"
NINO_2 = "ABCEGHJKLMNPRSTWXYZ"


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _person(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.12:
        return rng.choice(WHOLE)
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    return name.lower() if r < 0.22 else name


def _phone(rng: random.Random) -> str:
    mob = f"7700 900{_d(rng, 3)}"
    return rng.choice((f"+44 {mob}", f"0{mob.replace(' ', '')}", f"0{mob}",
                       f"(020) 7946 0{_d(rng, 3)}", f"0161 496 0{_d(rng, 3)}", f"+44 (0)113 496 0{_d(rng, 3)}"))


# Real postcode areas only: a made-up area ("Q5") is not a postcode, and the scrubber checks areas.
AREAS_1 = ("B", "E", "G", "L", "M", "N", "S", "W")
AREAS_2 = ("AB", "BD", "BS", "CF", "CR", "DN", "EH", "GL", "HU", "KT", "LS", "ME", "NE", "NG", "OX", "PR", "RG",
           "SE", "SK", "SO", "TN", "WF", "YO")


def _postcode(rng: random.Random) -> str:
    out = rng.choice((f"{rng.choice(AREAS_1)}{rng.randint(1, 9)}", f"{rng.choice(AREAS_2)}{rng.randint(1, 99)}",
                      "SW1A", "EC1V", "W1A"))
    pc = f"{out} {rng.randint(0, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
    return pc.lower() if rng.random() < 0.12 else pc


def _dob(rng: random.Random) -> str:
    y, m, day = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
    return rng.choice((f"{day:02d}/{m:02d}/{y}", f"{day} {MONTHS[m - 1]} {y}", f"{y}-{m:02d}-{day:02d}",
                       f"{day}.{m}.{y}"))


def _nino(rng: random.Random) -> str:
    while (pre := rng.choice(NINO_1) + rng.choice(NINO_2)) in ("GB", "NK", "TN", "ZZ", "BG", "KN", "NT"):
        pass
    digits, suf = _d(rng, 6), rng.choice("ABCD")
    if rng.random() < 0.3:
        return f"{pre} {digits[:2]} {digits[2:4]} {digits[4:]} {suf}"
    return f"{pre}{digits}{suf}"


def _nhs(rng: random.Random) -> str:
    while (c := nhs_check_digit(nine := _d(rng, 9))) is None:
        pass
    n = f"{nine}{c}"
    return rng.choice((n, f"{n[:3]} {n[3:6]} {n[6:]}", f"{n[:3]}-{n[3:6]}-{n[6:]}"))


def _iban(rng: random.Random) -> str:
    country, bban = rng.choice((
        ("GB", lambda: "".join(rng.choice(L) for _ in range(4)) + _d(rng, 14)),
        ("GB", lambda: rng.choice(("NWBK", "BARC", "LOYD", "HBUK", "MIDL")) + _d(rng, 14)),
        ("DE", lambda: _d(rng, 18)), ("FR", lambda: _d(rng, 23)), ("ES", lambda: _d(rng, 20)),
        ("NL", lambda: rng.choice(("ABNA", "INGB", "RABO")) + _d(rng, 10)),
        ("IE", lambda: "AIBK" + _d(rng, 14))))
    bban = bban()
    s = f"{country}{iban_check_digits(country, bban)}{bban}"
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4)) if rng.random() < 0.6 else s


def _card(rng: random.Random) -> str:
    prefix, n = rng.choice((("4", 16), ("4", 16), (str(rng.randint(51, 55)), 16), (rng.choice(("34", "37")), 15)))
    body = prefix + _d(rng, n - len(prefix) - 1)
    check = next(str(c) for c in range(10) if luhn_valid(body + str(c)))
    num = body + check
    if n == 15:
        return rng.choice((num, f"{num[:4]} {num[4:10]} {num[10:]}"))
    sep = rng.choice(("", " ", "-", " "))
    return sep.join(num[i:i + 4] for i in range(0, 16, 4))


def _licence(rng: random.Random) -> str:
    sur = re.sub(r"[^A-Z]", "", rng.choice(LAST).upper())[:5].ljust(5, "9")
    y, m, day = rng.randint(1940, 2005), rng.randint(1, 12) + rng.choice((0, 50)), rng.randint(1, 28)
    initials = rng.choice(L) + rng.choice((rng.choice(L), "9"))
    return f"{sur}{str(y)[2]}{m:02d}{day:02d}{str(y)[3]}{initials}9{rng.choice(L)}{rng.choice(L)}"


def _reg(rng: random.Random) -> str:
    reg = f"{rng.choice(L)}{rng.choice(L)}{rng.choice(('1', '2', '6', '7'))}{rng.randint(0, 9)}"
    tail = "".join(rng.choice("ABCDEFGHJKLMNOPRSTUVWXYZ") for _ in range(3))
    return rng.choice((f"{reg} {tail}", f"{reg}{tail}", f"{reg} {tail}".lower()))


def _amount(rng: random.Random) -> str:
    v = rng.choice((rng.randint(50, 999), rng.randint(1000, 25000), rng.randint(100, 5000)))
    return rng.choice((f"£{v:,}.{rng.randint(0, 99):02d}", f"£{v:,}", f"£{v}.00", f"£ {v:,}.00"))


def _flat(r: random.Random) -> str:
    return f"Flat {r.randint(1, 12)}, " if r.random() < 0.15 else ""


PII_SLOTS: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "name": ("PERSON", _person), "tp": ("PERSON", _person), "handler": ("PERSON", _person),
    "phone": ("PHONE_NUMBER", _phone), "postcode": ("UK_POSTCODE", _postcode),
    "addr": ("STREET_ADDRESS", lambda r: f"{_flat(r)}{r.randint(1, 180)} {r.choice(STREETS)}"),
    "dob": ("DATE_OF_BIRTH", _dob), "nino": ("UK_NINO", _nino), "nhs": ("UK_NHS", _nhs), "iban": ("IBAN_CODE", _iban),
    "sort": ("UK_SORT_CODE", lambda r: r.choice(("{}-{}-{}", "{} {} {}", "{}{}{}")).format(
        r.randint(10, 99), _d(r, 2), _d(r, 2))),
    "acct": ("UK_BANK_ACCOUNT", lambda r: _d(r, 8)), "card": ("CREDIT_CARD", _card),
    "passport": ("UK_PASSPORT", lambda r: str(r.randint(1, 9)) + _d(r, 8)), "licence": ("UK_DRIVING_LICENCE", _licence),
    "reg": ("UK_VEHICLE_REGISTRATION", _reg),
    "ip": ("IP_ADDRESS", lambda r: f"{r.randint(2, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"),
    "policy": ("POLICY_NUMBER", lambda r: r.choice(("POL-", "POL", "POL/", "pol-")) + _d(r, 8)),
    "claim": ("CLAIM_REFERENCE", lambda r: r.choice(("CLM-{}-{}", "CLM{}{}", "CLM/{}/{}")).format(
        r.randint(2019, 2025), _d(r, 6))),
    "cust": ("CUSTOMER_REFERENCE", lambda r: r.choice(("CUS-", "CUS", "cus-")) + _d(r, 7)),
}
