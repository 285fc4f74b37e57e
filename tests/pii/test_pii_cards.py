"""Card numbers: every grouping Presidio's CreditCardRecognizer accepts is found by ours too."""

import pytest
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

from tasks.pii.recognizers.credit_card import TgCreditCardRecognizer

VISA, AMEX, MC, VISA13, DISCOVER = "4111111111111111", "378282246310005", "5555555555554444", "4222222222222", \
    "6011111111111117"


def _group(number: str, sizes: list[int], sep: str) -> str:
    out, i = [], 0
    for n in sizes:
        out.append(number[i:i + n])
        i += n
    return sep.join(out)


ROWS = [
    *(f"card {_group(VISA, g, s)} on file" for g in ([4, 4, 4, 4], [4, 3, 4, 5], [4, 4, 3, 5], [16]) for s in " -"),
    *(f"amex {_group(AMEX, g, s)} used" for g in ([4, 6, 5], [4, 3, 4, 4], [4, 4, 4, 3], [15]) for s in " -"),
    *(f"visa {_group(VISA13, g, s)}" for g in ([4, 3, 3, 3], [13]) for s in " -"),
    f"mc {_group(MC, [4, 4, 4, 4], ' ')}.", f"discover {DISCOVER}",
    f"card-{_group(VISA, [4, 4, 4, 4], '-')}-",              # hyphens touching the number
    f"ref 12 {_group(VISA, [4, 4, 4, 4], ' ')} paid",         # digits before it
    f"({_group(MC, [4, 4, 4, 4], '-')})", f"#{VISA}#",
]


def _found(recognizer, entity: str, text: str, value: str) -> bool:
    start = text.index(value)
    return any(r.start <= start and r.end >= start + len(value)
               for r in recognizer.analyze(text, [entity], None))


def _value(text: str) -> str:
    import re

    return max(re.findall(r"\d[\d -]*\d", text), key=len).removeprefix("12 ")


@pytest.mark.parametrize("text", ROWS)
def test_card_found_where_presidio_finds_it(text):
    value = _value(text)
    theirs = _found(CreditCardRecognizer(), "CREDIT_CARD", text, value)
    ours = _found(TgCreditCardRecognizer(), "CREDIT_CARD", text, value)
    assert ours or not theirs


def test_table_has_what_presidio_finds():
    # The comparison above is only honest if Presidio finds most rows.
    assert sum(_found(CreditCardRecognizer(), "CREDIT_CARD", t, _value(t)) for t in ROWS) >= len(ROWS) - 4


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112 declined",      # Luhn fails
    "order 1234567890123 shipped",            # 13 digits, Luhn fails
])
def test_card_lookalike(text):
    assert not TgCreditCardRecognizer().analyze(text, ["CREDIT_CARD"], None)
