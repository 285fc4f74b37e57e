"""The words of the synthetic claims corpus: vocabularies and note templates, no code.

Product lines, vehicle makes, people's names, streets, towns, e-mail domains and months, and the
sentences a claim note is built from: the incident lines per peril (``INCIDENT``), the lines that
point at another peril (``CROSS``), the admin lines that carry identifiers (``ADMIN``, ``EXTRA``),
chase-ups, openings, closings, call-note abbreviations, and the new product line of the ``product``
drift (``NEW_PRODUCT``). A ``{slot}`` in a template is filled by ``tasks.ingest.sample_data``.
"""

PERIL_PREFIX = {"motor": "MTR", "escape_of_water": "EOW", "fire": "FIR", "theft": "THF", "travel": "TRV",
                "liability": "LIA", "storm": "STM", "personal_accident": "PAC"}
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
        "Vehicle {reg} declared a total loss after collision on the {road}. "
        "Engineer puts pre-accident value at {amount}.",
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
        "Burst pipe in the loft during the cold snap, water through to the landing and {room}. "
        "Plumber isolated supply.",
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
        "Medical emergency in {dest}: insured admitted to hospital with appendicitis, "
        "assistance team arranging repatriation.",
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
    "PetCare Plus": (
        ("personal_accident", "Labrador needed cruciate ligament surgery, vet fees {amount} under {product}."),
        ("theft", "Cocker spaniel stolen from the garden, microchip details passed to police."),
        ("liability", "Insured's dog knocked over a cyclist, third party claim under the pet policy; "
                      "vet report attached."),
    ),
    "CyberShield SME": (
        ("theft", "Invoice redirection fraud, {amount} paid to a fraudster's account after a phishing email."),
        ("theft", "Ransomware locked the office server, forensic IT firm engaged, ransom not paid."),
        ("liability", "Data breach exposed client records, ICO notified within 72 hours, "
                      "claimants instructed solicitors."),
    ),
}
