"""The robustness suite's perturbations as tables (pure functions on strings), and its promotion gate."""

import random
import re

import pytest

from tasks.config import PromotionPolicy
from tasks.evaluate import robustness as rb

P1, P2, P3 = "<PERSON_0123456789abcdef>", "<PERSON_fedcba9876543210>", "<POLICY_NUMBER_00000000aaaaaaaa>"


def _letters_changed(a: str, b: str) -> int:
    assert len(a) == len(b)
    return sum(x != y for x, y in zip(a, b))


@pytest.mark.parametrize("rate, low, high", [(0.0, 0, 0), (0.02, 20, 60), (0.05, 70, 140), (1.0, 2000, 2000)])
def test_character_noise_replaces_about_its_rate_of_letters_and_nothing_else(rate, low, high):
    text = ("abcde fghij. " * 200).strip()  # 2,000 letters
    noisy = rb.char_noise(text, rate, random.Random(1))
    assert low <= _letters_changed(text, noisy) <= high
    assert [i for i, c in enumerate(text) if not c.isalpha()] == [i for i, c in enumerate(noisy) if not c.isalpha()]
    assert noisy == rb.char_noise(text, rate, random.Random(1))  # seeded


@pytest.mark.parametrize("text, expected", [
    ("modern 10 Offices", "rnodem lO 0ffices"),  # rn→m, m→rn, 1→l, 0→O, O→0 (every spot at rate 1)
    ("call 01 me", "ca11 Ol rne"),
    ("no confusable spot here?", "no confusab1e spot here?"),
    ("ABC xyz", "ABC xyz"),  # nothing to confuse
])
def test_ocr_confusions_swap_each_twin(text, expected):
    assert rb.ocr_confusions(text, random.Random(0), rate=1.0) == expected


def test_ocr_at_its_default_rate_swaps_some_spots_and_tokens_stay_intact():
    text = f"claim lodged on 10 May by {P1} for the kitchen roll " * 20
    out = rb.ocr_confusions(text, random.Random(3))
    assert out != text and out.count(P1) == 20
    assert rb.ocr_confusions(text, random.Random(0), rate=0.0) == text


@pytest.mark.parametrize("text, expected", [
    ("Water leak at flat 2", "WATER LEAK AT FLAT 2"),
    (f"call {P1} about <EMAIL_ADDRESS>", f"CALL {P1} ABOUT <EMAIL_ADDRESS>"),  # the scrubber's tokens kept
    ("", ""),
])
def test_upper_case(text, expected):
    assert rb.upper_case(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("one two three four", "one two"),
    ("one two three four five", "one two three"),  # rounded up
    ("  one  two   three  ", "  one  two"),  # the kept part's spacing unchanged
    ("single", "single"),
    ("", ""),
])
def test_first_half_keeps_the_first_half_of_the_words(text, expected):
    assert rb.first_half(text) == expected


def test_pseudonym_swap_replaces_every_token_by_another_of_its_type():
    texts = [f"{P1} rang about {P3}; {P1} again", f"{P2} wrote", "<EMAIL_ADDRESS> only"]
    pool = rb.pseudonym_pool(texts)
    assert pool == {"PERSON": [P1, P2], "POLICY_NUMBER": [P3]}
    out = rb.swap_pseudonyms(texts[0], pool, random.Random(0))
    tokens = rb.PSEUDONYM.findall(out)
    assert out.startswith(P2) and out.count(P2) == 2  # the only other person; the same person stays one person
    assert P1 not in out and P3 not in out and [k for k, _ in tokens] == ["PERSON", "POLICY_NUMBER", "PERSON"]
    assert re.sub(rb.PSEUDONYM, "X", out) == "X rang about X; X again"  # the rest of the text unchanged
    assert rb.swap_pseudonyms(texts[2], pool, random.Random(0)) == texts[2]  # placeholders are not pseudonyms
    assert rb.swap_pseudonyms(texts[0], pool, random.Random(5)) == rb.swap_pseudonyms(texts[0], pool, random.Random(5))


def test_perturb_is_seeded_and_returns_every_perturbation():
    texts = [f"Modern flat 10, {P1} reported a leak in the kitchen", f"{P2} lost 1 bag"]
    a, b = rb.perturb(texts, seed=7), rb.perturb(texts, seed=7)
    assert a == b and set(a) == {"char_noise_2", "char_noise_5", "ocr", "upper", "first_half", "pseudonym_swap"}
    assert all(len(v) == 2 for v in a.values())
    assert a["pseudonym_swap"] == [f"Modern flat 10, {P2} reported a leak in the kitchen", f"{P1} lost 1 bag"]
    assert rb.drops(0.9, {"upper": 0.85, "first_half": 0.95}) == {"upper": 0.05, "first_half": -0.05}


def _result(**drop):
    return {"measured": True, "metric": "macro_f1", "clean": 0.9,
            "perturbations": {k: {"value": 0.9 - v, "drop": v, "docs_changed": 10} for k, v in drop.items()}}


@pytest.mark.parametrize("result, limit, ok, part", [
    (_result(upper=0.02, pseudonym_swap=0.0), None, True, "reported only: promotion.max_robustness_drop is null"),
    (_result(upper=0.02, pseudonym_swap=0.0), 0.05, True, "limit 0.0500 — passes"),
    (_result(upper=0.02, pseudonym_swap=0.08, first_half=0.3), 0.05, False, "fails on pseudonym_swap, first_half"),
    (_result(upper=0.05), 0.05, True, "passes"),  # at the limit
    ({"measured": False, "why": "a causal LM"}, 0.05, True, "robustness not measured: a causal LM"),
])
def test_max_robustness_drop_gates_promotion_and_names_the_perturbation(result, limit, ok, part):
    from tasks.registry.promote import decide_promotion
    from tests.registry.test_promote import report

    d = decide_promotion(report(0.8), None, PromotionPolicy(floors={}, max_robustness_drop=limit), None, None,
                         robustness=result)
    assert d.promote is ok and any(part in r for r in d.reasons), d.reasons


def test_a_perturbed_document_with_the_clean_token_ids_keeps_its_clean_prediction_unscored():
    """An uncased tokenizer makes upper case the same input: nothing is scored again; changed documents are
    scored once each, and their predictions (not the clean ones) are what the perturbation reports."""
    calls: list[list[str]] = []

    def predict(batch: list[str]) -> list[str]:  # a stand-in classifier: the label is the note's first word
        calls.append(list(batch))
        return [t.split()[0].lower() for t in batch]

    def encode(batch: list[str]) -> list[list[str]]:  # an uncased tokenizer cut at 3 tokens
        return [t.lower().split()[:3] for t in batch]

    texts = ["fire in kitchen", "theft of car stereo", "storm roof"]
    variants = rb.perturb(texts, seed=0) | {"upper": [t.upper() for t in texts],
                                             "tail_noise": ["fire in kitchen", "theft of car sterXo", "wind roof"]}
    clean, scored = rb.scored_variants(predict, encode, texts, variants)
    assert clean == ["fire", "theft", "storm"] and calls[0] == texts
    assert scored["upper"] == (clean, 0)  # same token ids: not scored, clean predictions kept
    assert scored["tail_noise"] == (["fire", "theft", "wind"], 1)  # past the cut: only "wind roof" is scored
    assert ["wind roof"] in calls and not any(b == [] for b in calls)
    assert scored["first_half"][1] == 3 and scored["first_half"][0] == ["fire", "theft", "storm"]
