"""A synthetic UK insurance-claims corpus with the ground truth of every PII and keep span.

``generate(rows, seed, drift)`` returns records and gold; ``write_sample`` streams them to
.jsonl/.csv/.parquet plus the sidecar ``<out>.pii.jsonl``. One ``random.Random`` per call, so the
same seed gives the same corpus. Every personal datum comes from a slot, never from template text,
so the sidecar offsets are exact by construction.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

LABELS = ("motor", "escape_of_water", "fire", "theft", "travel", "liability", "storm", "personal_accident")
DRIFT_KINDS = ("none", "mix", "product", "length")
PERIL_PREFIX = {"motor": "MTR", "escape_of_water": "EOW", "fire": "FIR", "theft": "THF", "travel": "TRV",
                "liability": "LIA", "storm": "STM", "personal_accident": "PAC"}
WEIGHTS = {"none": (22, 17, 8, 12, 12, 8, 12, 9), "mix": (6, 24, 6, 8, 4, 6, 38, 8)}
PRODUCTS = {"motor": ("DriveSafe Comprehensive", "DriveSafe Third Party"),
            "escape_of_water": ("HomeShield Plus", "HomeShield Essentials", "Landlord Complete"),
            "fire": ("HomeShield Plus", "HomeShield Essentials", "Landlord Complete"),
            "theft": ("HomeShield Plus", "HomeShield Essentials", "DriveSafe Comprehensive"),
            "travel": ("Voyager Annual Travel", "Voyager Single Trip"),
            "liability": ("TradeGuard Liability", "Landlord Complete", "HomeShield Plus"),
            "storm": ("HomeShield Plus", "HomeShield Essentials", "Landlord Complete"),
            "personal_accident": ("HomeShield Plus", "Voyager Annual Travel", "DriveSafe Comprehensive")}
MAKES = ("Ford", "Vauxhall", "Volkswagen", "BMW", "Audi", "Toyota", "Nissan", "Kia", "Hyundai", "Tesla", "Skoda",
         "Honda", "Mercedes-Benz", "Peugeot", "Renault", "Mini", "Land Rover", "Jaguar", "Volvo", "Fiat", "Citroen",
         "Mazda")
CHANNELS = ("phone", "email", "web", "broker", "app", "letter")

FIRST = ("James", "Oliver", "Amelia", "Olivia", "Mohammed", "Aisha", "Fatima", "Oluwaseun", "Chidi", "Ngozi", "Priya",
         "Rahul", "Anjali", "Siobhan", "Niamh", "Ciaran", "Wei", "Agnieszka", "Tomasz", "Kwame", "Ama", "Yusuf",
         "Zainab", "Dylan", "Rhys", "Eilidh", "Callum", "Sophie", "Emily", "Harry", "Grace", "Leila", "Arjun", "Deepa",
         "Hannah", "Sean", "Connor", "Mei", "Kofi", "Ioana", "Andrei", "Lucy", "Daniel", "Sarah", "Chloe", "Bartosz")
LAST = ("Smith", "Jones", "Williams", "Taylor", "Davies", "Evans", "Wilson", "Roberts", "Johnson", "Patel", "Khan",
        "Ahmed", "Begum", "Hussain", "Singh", "Sharma", "Adeyemi", "Okafor", "Mensah", "O'Connor", "O'Brien",
        "McLaughlin", "MacDonald", "Nguyen", "Tran", "Kowalski", "Nowak", "Popescu", "Chen", "Hughes", "Edwards",
        "Clarke", "Walker", "Wright", "Robinson", "Hall-Jones", "Rahman", "Campbell", "Stewart", "Murphy", "Kelly",
        "Ivanova", "Da Silva", "Owusu", "Szymanski", "Ferreira")
WHOLE = ("Nguyen Thi Hoa", "Oluwaseun Adeyemi", "Siobhan O'Connor", "priya sharma", "Tran Van Minh",
         "Muhammad Ali Rahman", "Chukwuemeka Obi", "Zofia Wiśniewska")
STREETS = ("Elm Grove", "Station Road", "High Street", "Church Lane", "Victoria Road", "Mill Lane", "Park Avenue",
           "Kingsway", "Queen's Drive", "Oakfield Close", "Bridge Street", "Manor Way", "Beech Crescent")
TOWNS = ("Leeds", "Manchester", "Bristol", "Cardiff", "Glasgow", "Norwich", "Reading", "Sheffield", "Belfast",
         "Swansea", "Leicester", "Croydon", "York", "Derby")
DOMAINS = ("gmail.com", "outlook.com", "yahoo.co.uk", "btinternet.com", "hotmail.co.uk", "icloud.com")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
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


def nhs_check_digit(nine: str) -> int | None:
    c = 11 - sum(int(x) * w for x, w in zip(nine, range(10, 1, -1))) % 11
    return {11: 0, 10: None}.get(c, c)


def _nhs(rng: random.Random) -> str:
    while (c := nhs_check_digit(nine := _d(rng, 9))) is None:
        pass
    n = f"{nine}{c}"
    return rng.choice((n, f"{n[:3]} {n[3:6]} {n[6:]}", f"{n[:3]}-{n[3:6]}-{n[6:]}"))


def iban_valid(iban: str) -> bool:
    s = iban.replace(" ", "")
    s = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in s)) % 97 == 1


def _iban(rng: random.Random) -> str:
    country, bban = rng.choice((
        ("GB", lambda: "".join(rng.choice(L) for _ in range(4)) + _d(rng, 14)),
        ("GB", lambda: rng.choice(("NWBK", "BARC", "LOYD", "HBUK", "MIDL")) + _d(rng, 14)),
        ("DE", lambda: _d(rng, 18)), ("FR", lambda: _d(rng, 23)), ("ES", lambda: _d(rng, 20)),
        ("NL", lambda: rng.choice(("ABNA", "INGB", "RABO")) + _d(rng, 10)),
        ("IE", lambda: "AIBK" + _d(rng, 14))))
    bban = bban()
    check = 98 - int("".join(str(int(ch, 36)) for ch in bban + country + "00")) % 97
    s = f"{country}{check:02d}{bban}"
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4)) if rng.random() < 0.6 else s


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


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


KEEP_SLOTS = {"product": "PRODUCT", "peril": "PERIL_CODE", "make": "VEHICLE_MAKE", "amount": "AMOUNT",
              "amount2": "AMOUNT"}
STICKY = {"channel", "name", "phone", "postcode", "policy", "claim", "cust", "reg", "product", "peril", "make", "email"}
FILL = {
    "room": ("kitchen", "bathroom", "hallway", "living room", "bedroom", "utility room", "loft", "en-suite"),
    "town": TOWNS, "dest": ("Malaga", "Lisbon", "Orlando", "Bangkok", "Crete", "Geneva", "Dubrovnik", "Cancun"),
    "appliance": ("washing machine hose", "dishwasher", "combi boiler", "shower mixer", "hot water cylinder"),
    "road": ("M62", "A34", "M25", "A1(M)", "B4009", "ring road"), "storm": ("Ciaran", "Eunice", "Babet", "Isha"),
    "date": ("last night", "on Saturday", "yesterday morning", "over the weekend", "on the 14th", "earlier today"),
}

INCIDENT = {
    "motor": (
        "Insured's {make} was hit from behind at lights on the {road}; third party admitted liability at scene.",
        "Policyholder reversing out of a space at the supermarket car park and collided with a parked {make}.",
        "Vehicle {reg} declared a total loss after collision on the {road}. Engineer puts pre-accident value at {amount}.",
        "windscreen chipped by a stone on the motorway, customer wants repair rather than replacement",
        "Hit a pothole in {town}, nearside front tyre and alloy damaged, car recovered to approved repairer.",
        "Third party pulled out of a side road, our driver swerved and struck the kerb. Dashcam footage available.",
        "Credit hire company has supplied a replacement {make}; TP insurer disputing liability, proposing 50/50.",
        "Collided with a deer on a country lane at night, airbags deployed, driver shaken but unhurt.",
        "Courtesy car requested. Car at garage awaiting parts for bumper, headlamp and wing, estimate {amount}.",
        "Rear-end shunt in queuing traffic, whiplash alleged by the other driver, repair estimate {amount}.",
        "Side swiped in a multi-storey car park, scrapes along both doors of the {make}, no witnesses.",
    ),
    "escape_of_water": (
        "Leak from the {appliance} in the {room} has come through the ceiling below; plasterboard saturated.",
        "Burst pipe in the loft during the cold snap, water through to the landing and {room}. Plumber isolated supply.",
        "Trace and access needed: damp patch spreading on the {room} wall, suspect failed shower tray seal.",
        "Flat above had an overflowing bath and water came through the policyholder's kitchen ceiling.",
        "Drying company booked, moisture readings high in the subfloor and laminate is lifting.",
        "toilet cistern cracked overnight, bathroom and hallway flooded, carpets ruined",
        "Radiator valve failed while customer was away, water pooled under floorboards for days.",
        "Corroded pipe under the sink leaking slowly for weeks, cabinets swollen and mould on skirting.",
        "Water tank in the loft split, ceiling in the {room} collapsed. Emergency plumber invoice {amount}.",
        "Loss adjuster confirms escape of water from a pushed-fit joint, strip-out of the {room} agreed.",
    ),
    "fire": (
        "Chip pan fire in the kitchen, fire brigade attended, smoke damage throughout the ground floor.",
        "Electrical fault in the tumble dryer started a fire in the utility room; fire service report requested.",
        "Candle left unattended, curtains caught alight, scorching to the bay window and soot on the ceiling.",
        "Neighbour's garden bonfire spread to the fence and shed, shed and contents destroyed.",
        "smoke alarm went off, toaster caught fire, worktop and cupboards damaged, soot everywhere",
        "Fire investigation report attached; cause recorded as an overloaded extension lead in the {room}.",
        "Barbecue flare-up spread to timber decking and melted the uPVC back door.",
        "E-bike battery ignited while charging in the hallway, heavy smoke damage, family stayed in a hotel.",
        "Chimney fire, brigade attended, flue liner cracked and lounge redecoration needed, quote {amount}.",
    ),
    "theft": (
        "Burglary overnight, entry forced via the rear patio door. Laptop, jewellery and cash taken.",
        "Bicycle stolen from a locked shed, police crime number obtained, proof of purchase to follow.",
        "Catalytic converter stolen from the {make} parked on the driveway, police informed.",
        "Keys taken in a break-in and the car ({reg}) stolen from the drive; tracker company contacted.",
        "handbag snatched in {town} town centre, phone purse and keys gone, locks to be changed",
        "Shed broken into, power tools and a lawnmower taken, padlock cut.",
        "Distraction burglary reported: two men posing as water board staff took cash and a watch.",
        "Parcel theft from the porch and a stolen garden ornament, customer asks if worth claiming.",
        "Front door lock snapped, TV and games console stolen, replacement value around {amount}.",
    ),
    "travel": (
        "Flight to {dest} cancelled, extra hotel and meals cost {amount}, receipts provided.",
        "Baggage lost by the airline on return from {dest}; property irregularity report obtained at airport.",
        "Medical emergency in {dest}: insured admitted to hospital with appendicitis, assistance team arranging repatriation.",
        "Trip cancelled due to a close relative's illness, wants refund of non-refundable deposits.",
        "passport and wallet stolen at the hotel in {dest}, emergency travel document needed",
        "Missed connection in {dest} after a delayed first leg, additional flights purchased.",
        "Skiing fall in {dest}, broken wrist treated at a local clinic, medical bills {amount}.",
        "Tour operator went bust two days before departure to {dest}, holiday not protected.",
        "Gastroenteritis on the cruise, ship's doctor fees and a missed excursion claimed.",
    ),
    "liability": (
        "Member of the public slipped on a wet floor in the insured's café; solicitor's letter of claim received.",
        "Contractor working for the insured damaged a neighbour's boundary wall with a mini digger.",
        "Tenant alleges injury from a loose stair carpet at the rental property; landlord liability claim.",
        "Insured plumber drilled through a client's water pipe; third party claiming for the damage.",
        "Dog owned by the policyholder bit a delivery driver; claim for injury and lost earnings.",
        "Tree from the insured's garden fell onto the neighbour's car, neighbour holds us responsible.",
        "Pre-action protocol letter received, claimant alleges a trip on an uneven paving slab at the shop.",
        "Customer's child injured on play equipment at the premises, public liability notified.",
        "Paint overspray from the insured decorator damaged cars in the street, several third parties.",
    ),
    "storm": (
        "High winds during Storm {storm} dislodged roof tiles; rain coming into the loft bedroom.",
        "Fence panels blown down in gales, three panels and one concrete post to replace.",
        "Flash flooding after heavy rain, river burst its banks, ground floor under 30cm of water.",
        "Chimney stack damaged by wind, scaffolding needed for roofer to inspect, quote {amount}.",
        "Lightning strike took out the TV aerial and fused the consumer unit.",
        "Hailstones cracked the conservatory roof panels, glazier booked.",
        "Tree blown over in the storm onto the garage roof, garage unsafe.",
        "flat roof felt torn off in the wind overnight, water dripping into {room}",
        "Storm {storm} brought down the garden wall, debris across the neighbour's path.",
    ),
    "personal_accident": (
        "Insured fell from a ladder clearing gutters, fractured wrist, off work for six weeks.",
        "Slipped on ice outside home, broken ankle, claiming weekly accident benefit.",
        "Accidental injury at the gym, torn ACL, surgery scheduled; hospital letter provided.",
        "Loss of sight in one eye following an accident at work; permanent disablement benefit claim.",
        "Cycling accident, collarbone fracture, discharge summary requested from hospital.",
        "Burns to the hand from hot oil while cooking, treated at A&E, dressing changes for a month.",
        "Fall down the stairs at home, two cracked ribs and a head injury, unable to drive.",
        "Tripped while running, dislocated shoulder, physiotherapy invoices {amount}.",
    ),
}
# Ambiguous or class-free lines keep the task short of trivial (a note can be mostly about another peril).
CROSS = {
    "storm": ("Rain got in through the damaged roof and came through the {room} ceiling.",),
    "escape_of_water": ("Heavy rain that week, customer first thought it was the roof.",),
    "theft": ("The stolen car was later found burnt out, bodywork beyond repair.",),
    "motor": ("Thieves had tried the door handles on the car earlier that week.",),
    "travel": ("Police report from abroad obtained for the stolen items.",),
    "personal_accident": ("Injury happened on holiday but the claim is under the accident section.",),
    "liability": ("Water from the insured's flat damaged the shop below, owner claiming.",),
    "fire": ("Lightning was mentioned by the neighbour but the brigade found an electrical cause.",),
}
ADMIN = (
    "Caller verified as {name}, DOB {dob}, postcode {postcode}.",
    "Contact number {phone}, email {email}.", "Best number to call back is {phone}.",
    "Address on file: {addr}, {town} {postcode}.", "Correspondence address {addr}, {town}, {postcode}.",
    "Settlement to sort code {sort}, account {acct}.", "Pay the excess refund to {sort} / {acct} please.",
    "Customer asked for payment to an overseas account, IBAN {iban}.",
    "Customer read out card number {card}; reminded we do not take card details by phone.",
    "NI number {nino} provided for the income check.", "Policy {policy}, claim ref {claim}, customer {cust}.",
    "Claim {claim} logged against policy {policy}.", "Cust ref {cust}.", "Web claim submitted from IP {ip}.",
    "Third party is {tp}, contact {phone}.", "Excess of {amount} applies under {product}.",
    "Reserve set at {amount}, peril code {peril}.", "Cover confirmed under {product}, peril {peril}.",
)
EXTRA = {
    "motor": ("Driving licence {licence} checked with DVLA.", "Vehicle reg {reg}, a {make}."),
    "theft": ("Vehicle reg {reg}.",),
    "travel": ("Passport number {passport} noted for the assistance company.", "NHS number {nhs} for the GP letter."),
    "personal_accident": ("NHS number {nhs} given for medical records.", "Passport {passport} provided as ID."),
}
GENERIC = ("Customer chased an update on claim {claim}. Still awaiting the loss adjuster's report.",
           "Left voicemail on {phone}, will try again tomorrow.", "Documents received, file passed to the team.",
           "Complaint logged about the time taken, apology given and callback booked.")
OPEN = {"formal": ("Claim notification received by {channel}. ", "First notification of loss. ",
                   "Claim handler note: ", ""),
        "call": ("call w/ {name} - ", "spoke to {name}, ", "inbound call from {name}. ", "cust called: ")}
CLOSE = {"formal": (" Handler: {handler}.", " Next review in 14 days.", "", " Next steps: await invoices."),
         "call": (" adv will call back", " pls chase docs", "", " tbc")}
ABBR = (("policyholder", "PH"), ("Policyholder", "PH"), ("third party", "TP"), ("customer", "cust"),
        ("with", "w/"), ("please", "pls"), ("approximately", "approx"), ("because", "bc"))
NEW_PRODUCT = {  # the `product` drift: a new product line with its own words, labels from the existing set
    "PetCare Plus": (("personal_accident", "Labrador needed cruciate ligament surgery, vet fees {amount} under {product}."),
                     ("theft", "Cocker spaniel stolen from the garden, microchip details passed to police."),
                     ("liability", "Insured's dog knocked over a cyclist, third party claim under the pet policy; vet report attached.")),
    "CyberShield SME": (("theft", "Invoice redirection fraud, {amount} paid to a fraudster's account after a phishing email."),
                        ("theft", "Ransomware locked the office server, forensic IT firm engaged, ransom not paid."),
                        ("liability", "Data breach exposed client records, ICO notified within 72 hours, claimants instructed solicitors.")),
}
_SLOT = re.compile(r"\{(\w+)\}")
_PARSED: dict[str, list[str]] = {}


def _parse(template: str) -> list[str]:
    """Alternating literal, slot, literal, ... (cached)."""
    if (p := _PARSED.get(template)) is None:
        p = _PARSED[template] = _SLOT.split(template)
    return p


def _typo(rng: random.Random, s: str) -> str:
    words = s.split(" ")
    i = rng.randrange(len(words))
    w = words[i]
    if len(w) > 4 and w.isalpha():
        j = rng.randrange(len(w) - 1)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


class _Doc:
    """Appends literals and slots, recording each span's offsets as it goes."""

    def __init__(self, rng: random.Random, style: str, channel: str, product: str, label: str):
        self.rng, self.style, self.parts, self.pii, self.keep, self.n = rng, style, [], [], [], 0
        self.lower = style == "call" and rng.random() < 0.4
        self.typos = rng.random() < 0.2
        self.values: dict[str, str] = {"channel": channel, "product": product}
        self.label = label

    def lit(self, s: str) -> None:
        if not s:
            return
        if self.style == "call":
            for a, b in ABBR:
                s = s.replace(a, b)
            if self.lower:
                s = s.lower()
        if self.typos and self.rng.random() < 0.3:
            s = _typo(self.rng, s)
        self.parts.append(s)
        self.n += len(s)

    def slot(self, name: str) -> None:
        value = self.values.get(name) if name in STICKY else None
        if value is None:
            value = self._value(name)
            if name in STICKY:
                self.values[name] = value
        kind = PII_SLOTS.get(name, (None,))[0] or ("EMAIL_ADDRESS" if name == "email" else None)
        span = {"start": self.n, "end": self.n + len(value)}
        if kind:
            self.pii.append({**span, "type": kind})
        elif name in KEEP_SLOTS:
            self.keep.append({**span, "type": KEEP_SLOTS[name]})
        self.parts.append(value)
        self.n += len(value)

    def _value(self, name: str) -> str:
        rng = self.rng
        if name in PII_SLOTS:
            return PII_SLOTS[name][1](rng)
        if name == "email":
            who = re.sub(r"[^a-z. ]", "", (self.values.get("name") or _person(rng)).lower()).split()
            local = rng.choice((".".join(who), who[0][0] + who[-1], who[-1] + str(rng.randint(1, 99))))
            return f"{local}@{rng.choice(DOMAINS)}"
        if name == "peril":
            return f"{PERIL_PREFIX[self.label]}-{rng.randint(1, 12):02d}"
        if name == "make":
            return rng.choice(MAKES)
        if name in ("amount", "amount2"):
            return _amount(rng)
        if name == "sent":
            return f"{rng.randint(1, 28)} {MONTHS[rng.randrange(12)][:3]} 2025 {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}"
        return rng.choice(FILL[name])

    def add(self, template: str) -> None:
        for i, piece in enumerate(_parse(template)):
            if i % 2:
                self.slot(piece)
            else:
                self.lit(piece)

    def text(self) -> str:
        return "".join(self.parts)


def _compose(rng: random.Random, label: str, drift: str) -> tuple[str, str, str, str, list[dict], list[dict]]:
    """One note: returns label, text, channel, product, pii spans, keep spans."""
    style = rng.choices(("formal", "call", "email"), (45, 35, 20))[0]
    channel = {"call": "phone", "email": "email"}.get(style) or rng.choice(CHANNELS)
    product, new_line = rng.choice(PRODUCTS[label]), None
    if drift == "product" and rng.random() < 0.45:
        product = rng.choice(tuple(NEW_PRODUCT))
        label, new_line = rng.choice(NEW_PRODUCT[product])
    doc = _Doc(rng, "formal" if style == "email" else style, channel, product, label)
    long = drift == "length"
    lines = list(rng.sample(INCIDENT[label], rng.randint(4, 7) if long else rng.choices((1, 2, 3), (50, 35, 15))[0]))
    if new_line:
        lines[0] = new_line
    if rng.random() < 0.05 and not long:
        lines = [rng.choice(GENERIC)]  # a chase-up note: no class signal at all
    if rng.random() < 0.12:
        lines.insert(rng.randint(0, len(lines)), CROSS[label][0])
    admin = rng.sample(ADMIN, rng.randint(4, 9) if long else rng.choices((0, 1, 2, 3, 4), (15, 30, 30, 15, 10))[0])
    if label in EXTRA and rng.random() < 0.5:
        admin.append(rng.choice(EXTRA[label]))
    if rng.random() < 0.35:
        admin.append(rng.choice(("Peril code {peril}.", "{peril}", "Coded as {peril} on {product}.")))
    if rng.random() < 0.4:
        admin.append(rng.choice(("Policy type {product}.", "Cover: {product}.", "Estimate so far {amount}.")))
    body = lines + admin
    if long:
        body += rng.sample(GENERIC, 2) + list(rng.sample(INCIDENT[label], 3))
        rng.shuffle(body)
    sep = rng.choice((" ", " ", "\n", ". ")) if style == "call" else " "
    if style == "email":
        doc.add("Email pasted in below.\n\n" if rng.random() < 0.3 else "")
        doc.add("From: {name} <{email}>\nSent: {sent}\nSubject: Claim {claim}\n\nHi,\n\n")
    else:
        doc.add(rng.choice(OPEN[style]))
    for k, line in enumerate(body):
        if k:
            doc.lit("\n\n" if (long or len(body) > 4) and rng.random() < 0.3 else sep)
        doc.add(line.rstrip(".") if sep == ". " else line)
    doc.add("\n\nKind regards,\n{name}" if style == "email" else rng.choice(CLOSE[style]))
    return label, doc.text(), channel, product, doc.pii, doc.keep


def iter_sample(rows: int, seed: int, drift: str = "none") -> Iterator[tuple[dict, dict]]:
    """Yield (record, gold) pairs one at a time; the same (seed, drift) gives the same sequence."""
    if drift not in DRIFT_KINDS:
        raise ValueError(f"unknown drift kind {drift!r}; use one of {', '.join(DRIFT_KINDS)}")
    rng = random.Random(f"tunegate-sample:{seed}:{drift}")
    weights = WEIGHTS.get(drift, WEIGHTS["none"])
    start = datetime(2025, 7, 1, tzinfo=UTC) if drift != "none" else datetime(2024, 1, 1, tzinfo=UTC)
    t0, span_s = int(start.timestamp()), 365 * 24 * 3600 if drift == "none" else 150 * 24 * 3600
    for i in range(rows):
        label, text, channel, product, pii, keep = _compose(rng, rng.choices(LABELS, weights)[0], drift)
        ts = datetime.fromtimestamp(t0 + rng.randrange(span_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc_id = f"doc-{i + 1:06d}"
        yield ({"id": doc_id, "text": text, "label": label, "created_at": ts, "channel": channel, "product": product},
               {"id": doc_id, "pii": pii, "keep": keep})


def generate(rows: int, seed: int, drift: str = "none") -> tuple[list[dict], list[dict]]:
    """Records and their gold PII/keep spans, in memory (use ``write_sample`` for big corpora)."""
    records, gold = [], []
    for rec, g in iter_sample(rows, seed, drift):
        records.append(rec)
        gold.append(g)
    return records, gold


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".pii.jsonl")


def write_sample(out: Path, rows: int, seed: int, drift: str = "none") -> Path:
    """Stream a corpus to ``out`` (.jsonl, .csv or .parquet by suffix) and its sidecar; both atomically."""
    from tasks.refs import atomic_file

    out = Path(out)
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("jsonl", "csv", "parquet"):
        from tasks.errors import InputError

        raise InputError(f"{out}: cannot tell the format from the suffix; name the output .jsonl, .csv or .parquet.")
    fields = ["id", "text", "label", "created_at", "channel", "product"]
    with atomic_file(out) as tmp, atomic_file(sidecar_path(out)) as tmp_gold, \
            open(tmp_gold, "w", encoding="utf-8") as gf:
        pq_writer, batch = None, []
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f) if kind == "csv" else None
            if writer:
                writer.writerow(fields)
            for rec, g in iter_sample(rows, seed, drift):
                gf.write(json.dumps(g, separators=(",", ":")) + "\n")
                if kind == "jsonl":
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                elif writer:
                    writer.writerow([rec[k] for k in fields])
                else:
                    batch.append(rec)
                    if len(batch) >= 50_000:
                        pq_writer = _write_parquet_batch(tmp, pq_writer, batch)
                        batch = []
        if kind == "parquet":
            pq_writer = _write_parquet_batch(tmp, pq_writer, batch)
            pq_writer.close()
        for p in (tmp, tmp_gold):  # temp files are created 0600; the corpus is synthetic, so plain file modes
            os.chmod(p, 0o666 & ~_umask())
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_parquet_batch(path: Path, writer, batch: list[dict]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(k, pa.string()) for k in ("id", "text", "label", "created_at", "channel", "product")])
    if writer is None:
        writer = pq.ParquetWriter(path, schema)
    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return writer
