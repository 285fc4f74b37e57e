"""Recall on the user's own text, every run: seeded synthetic identifiers inserted into real documents.

Real data has no ground truth. So the scrub stage takes a seeded sample of the real documents, copies
them, inserts into each copy a few synthetic identifiers of the enabled types, in their real formats
and with the phrases people write around them ("NI number …", "Spoke to …", a name with no cue at
all), scrubs the copies with the same engine and counts, per type, the inserted values that the
detected spans cover (at least 80% of their characters, the rule of tasks.pii.score.score). The copies
live in memory only and are never written. The estimate says how the scrubber does on this corpus's
language around identifiers; it cannot see formats that the probes do not generate (a firm's own
reference format is probed only through the cue rule).
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from collections.abc import Callable

from tasks.ingest.sample_values import _card, _iban, _licence, _nhs, _nino, _reg
from tasks.pii.score import COVER

FIRST = ("Olivia", "Liam", "Aoife", "Callum", "Amara", "Chinedu", "Priya", "Rohan", "Mei", "Jun", "Fatima",
         "Omar", "Katarzyna", "Piotr", "Lukas", "Lena", "Camille", "Théo", "Lucía", "Javier", "Giulia",
         "Matteo", "Sanne", "Daan", "Ingrid", "Mikael", "Dolores", "Tyrone", "Shanice", "Bogdan", "Eilidh")
LAST = ("Whitfield", "Okonkwo", "Ramaswamy", "Lindqvist", "Moreau", "García-López", "Bianchi", "de Vries",
        "Kowalczyk", "Nakamura", "Al-Sayed", "MacLeod", "O'Sullivan", "Brennan", "Dubois", "Schneider",
        "Petrović", "Haddad", "Fernandes", "Van den Berg", "Thorsen", "Adebayo", "Chaudhry", "Novak")
TOWNS = ("Leeds", "Dundee", "Springfield", "Portland", "Lyon", "Bremen", "Utrecht", "Valencia", "Bologna")
STREETS = ("Oak", "Station", "Mill", "Victoria", "Maple", "Church", "Cedar", "Kings", "Bridge", "Lake")
NAME_TEMPLATES = ("Spoke to {v} about this.", "{v} called back later.", "Mrs {v} confirmed the details.",
                  "Kind regards,\n{v}", "The customer, {v}, asked for an update.", "My name is {v}.")


def _d(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _valid(r: random.Random, make: Callable[[], str], ok: Callable[[str], bool]) -> str:
    for _ in range(5000):
        v = make()
        if ok(v):
            return v
    raise RuntimeError("no valid probe value generated")  # cannot happen for the formats below


def _phone(r: random.Random, region: str) -> str:
    import phonenumbers

    ex = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(ex.national_number)

    def make() -> str:
        n = national[:-3] + _d(r, 3)
        return phonenumbers.format_number(phonenumbers.parse(n, region), r.choice(
            (phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.NATIONAL)))
    return _valid(r, make, lambda v: phonenumbers.is_valid_number(phonenumbers.parse(v, region)))


def _stdnum(r: random.Random, module: str, make: Callable[[], str]) -> str:
    import importlib

    return _valid(r, make, importlib.import_module(f"stdnum.{module}").is_valid)


def _postcode(r: random.Random) -> str:
    from tasks.pii.formats import AREAS

    area = r.choice(sorted(a for a in AREAS if len(a) == 2))
    return (f"{area}{r.randint(1, 20)} {r.randint(0, 9)}"
            f"{r.choice('ABDEFGHJLNPQRSTUWXYZ')}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}")


def _ssn(r: random.Random) -> str:
    return f"{r.randint(1, 665):03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def _routing(r: random.Random) -> str:
    def ok(v: str) -> bool:
        w = (3, 7, 1) * 3
        return sum(int(c) * k for c, k in zip(v, w)) % 10 == 0
    # the first two digits name a Federal Reserve district (01-12, 21-32), as real routing numbers do
    return _valid(r, lambda: f"{r.choice((r.randint(1, 12), r.randint(21, 32))):02d}" + _d(r, 7), ok)


# entity -> (locale or None, templates, value generator)
PROBES: dict[str, tuple[str | None, tuple[str, ...], Callable[[random.Random], str]]] = {
    "PERSON": (None, NAME_TEMPLATES, lambda r: f"{r.choice(FIRST)} {r.choice(LAST)}"),
    "EMAIL_ADDRESS": (None, ("Email {v} for updates.", "contact: {v}"),
                      lambda r: (f"{r.choice(FIRST).lower()}.{_d(r, 2)}"
                                 f"@{r.choice(('mail.com', 'example.org', 'web.de'))}")),
    "CREDIT_CARD": (None, ("Card number {v} was charged.", "paid with card {v}"), _card),
    "IBAN_CODE": (None, ("IBAN {v} for the refund.", "pay into {v}"), _iban),
    "IP_ADDRESS": (None, ("Logged in from {v}.",),
                   lambda r: f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"),
    "REFERENCE_NUMBER": (None, ("Claim ref {v} logged.", "policy no. {v}", "case {v} opened"),
                         lambda r: r.choice(("", "AB", "X")) + _d(r, r.randint(6, 9)) + r.choice(("", "/" + _d(r, 2)))),
    "PHONE_NUMBER": (None, ("Call back on {v} please.", "mobile {v}", "Tel: {v}"),
                     lambda r: _phone(r, r.choice(("GB", "US", "DE", "FR", "NL", "ES", "IT", "IE")))),
    "STREET_ADDRESS": (None, ("Lives at {v}.", "Address: {v}", "Send it to {v}."),
                       lambda r: r.choice((
                           f"{r.randint(1, 250)} {r.choice(STREETS)} Road, {r.choice(TOWNS)}",
                           f"Flat {r.randint(1, 20)}, {r.randint(1, 99)} {r.choice(STREETS)} Street",
                           f"{r.randint(100, 9999)} {r.choice(STREETS)} Avenue, Apt {r.randint(1, 40)}",
                           f"{r.choice(STREETS)}straße {r.randint(1, 120)}"))),
    "UK_POSTCODE": ("uk", ("Postcode {v}.", "moved to {v} last year"), _postcode),
    "UK_NINO": ("uk", ("NI number {v} given.",), _nino),
    "UK_NHS": ("uk", ("NHS number {v} for the GP.",), _nhs),
    "UK_SORT_CODE": ("uk", ("sort code {v}",), lambda r: f"{r.randint(10, 99)}-{_d(r, 2)}-{_d(r, 2)}"),
    "UK_BANK_ACCOUNT": ("uk", ("account number {v}",), lambda r: _d(r, 8)),
    "UK_PASSPORT": ("uk", ("Passport number {v} noted.",), lambda r: str(r.randint(1, 9)) + _d(r, 8)),
    "UK_DRIVING_LICENCE": ("uk", ("Driving licence {v} checked.",), _licence),
    "UK_VEHICLE_REGISTRATION": ("uk", ("Vehicle reg {v}.",), _reg),
    "US_SSN": ("us", ("SSN {v}", "social security number {v}"), _ssn),
    "US_ZIP_CODE": ("us", ("Austin, TX {v}", "zip code {v}"), lambda r: _d(r, 5)),
    "US_DRIVER_LICENSE": ("us", ("driver's license {v}",), lambda r: r.choice(string.ascii_uppercase) + _d(r, 7)),
    "US_PASSPORT": ("us", ("passport number {v}",), lambda r: _d(r, 9)),
    "US_BANK_ROUTING": ("us", ("routing number {v}",), _routing),
    "DE_TAX_ID": ("eu", ("Steuer-ID {v}", "tax id {v}"),
                  lambda r: _stdnum(r, "de.idnr", lambda: str(r.randint(1, 9)) + _d(r, 10))),
    "ES_DNI": ("eu", ("DNI {v}",), lambda r: (lambda n: n + "TRWAGMYFPDXBNJZSQVHLCKE"[int(n) % 23])(_d(r, 8))),
    "NL_BSN": ("eu", ("BSN {v}",), lambda r: _stdnum(r, "nl.bsn", lambda: _d(r, 9))),
    "EU_VAT": ("eu", ("VAT number {v}",),
               lambda r: _stdnum(r, "eu.vat", lambda: "DE" + str(r.randint(1, 9)) + _d(r, 8))),
}


def probes_for(locales: list[str] | tuple[str, ...]) -> list[str]:
    return [e for e, (loc, _, _) in PROBES.items() if loc is None or loc in locales]


def insert_probes(texts: list[str], locales, seed: int, per_doc: int = 2):
    """Copies of ``texts`` with ``per_doc`` probes each, at sentence ends; returns
    (copies, [(doc, entity, start, end)])."""
    r = random.Random(seed)
    kinds = probes_for(locales)
    copies, where = [], []
    for i, text in enumerate(texts):
        for _ in range(per_doc):
            entity = kinds[(i * per_doc + len(where)) % len(kinds)] if r.random() < 0.5 else r.choice(kinds)
            _, templates, make = PROBES[entity]
            value, template = make(r), r.choice(templates)
            cuts = [j + 2 for j in range(len(text) - 1) if text[j] in ".!?\n" and text[j + 1] in " \n"] or [len(text)]
            at = r.choice(cuts)
            pre, post = template.split("{v}")
            piece = ("" if at == 0 or text[at - 1] in " \n" else " ") + pre
            start = at + len(piece)
            text = f"{text[:at]}{piece}{value}{post} {text[at:]}"
            # probes already placed after this point shift right
            shift = len(piece) + len(value) + len(post) + 1
            where = [(d, e, s + shift, t + shift) if d == i and s >= at else (d, e, s, t) for d, e, s, t in where]
            where.append((i, entity, start, start + len(value)))
        copies.append(text)
    return copies, where


def estimate_recall(texts: list[str], detect: Callable[[list[str]], list[list]], locales, seed: int = 0,
                    per_doc: int = 2) -> dict[str, dict]:
    """Per probed type {inserted, caught, recall}, plus "_overall"; ``detect`` is the scrubber's span finder."""
    copies, where = insert_probes(texts, locales, seed, per_doc)
    spans = detect(copies)
    inserted, caught = defaultdict(int), defaultdict(int)
    for doc, entity, a, b in where:
        inserted[entity] += 1
        hit = sum(max(0, min(b, s.end) - max(a, s.start)) for s in spans[doc])
        caught[entity] += hit / max(1, b - a) >= COVER
    out = {e: {"inserted": inserted[e], "caught": caught[e], "recall": round(caught[e] / inserted[e], 4)}
           for e in sorted(inserted)}
    n, c = sum(inserted.values()), sum(caught.values())
    out["_overall"] = {"inserted": n, "caught": c, "recall": round(c / n, 4) if n else 0.0}
    return out
