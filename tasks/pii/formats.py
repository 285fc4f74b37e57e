"""Format checks shared by the recognizers and the residual scan, without Presidio.

The residual scan runs in the process that writes the output (and is imported by worker processes
before they block Presidio's optional torch import), so what it needs lives here, not in a
recognizer module.
"""

import re

AREAS = frozenset("""
AB AL B BA BB BD BF BH BL BN BR BS BT BX CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC EH EN
EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL LN LS LU M ME MK ML N NE
NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR
TS TW UB W WA WC WD WF WN WR WS WV YO ZE
""".split())
SHAPE = re.compile(r"\b(?:([A-Za-z]{1,2})\d[A-Za-z\d]?|GIR) ?\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}\b")


def postcode_valid(text: str) -> bool:
    """A real postcode area and a well-formed inward code (GIR 0AA, the Girobank code, included)."""
    m = SHAPE.fullmatch(text.strip())
    return bool(m) and (m.group(1) is None or m.group(1).upper() in AREAS)
