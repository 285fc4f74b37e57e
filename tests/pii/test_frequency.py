"""tasks/pii/frequency.py gives wordfreq's Zipf values, and plain words never import wordfreq."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from tasks.pii.frequency import zipf


def test_every_value_is_wordfreqs_own():
    from wordfreq import get_frequency_dict, zipf_frequency

    from tasks.pii.name_lists import name_lists

    words = sorted(get_frequency_dict("en"))
    given, family = name_lists()
    sample = random.Random(7).sample(words, 5000) + sorted(given)[::20] + sorted(family)[::20] + [
        "Michael", "SMITH", "Warthin", "xqzzyq", "O'Brien", "co-pay", "Zoë", "café", "ab12", "", "A", "NHS",
        "iPhone", "Crohn's", "1990s", "the"]
    assert [zipf(w) for w in sample] == [zipf_frequency(w, "en") for w in sample]
    assert zipf("the") > 7 and zipf("xqzzyq") == 0.0  # the comparison above covers both ends


def test_a_plain_word_is_looked_up_without_importing_wordfreq():
    code = ("import sys; from tasks.pii.frequency import zipf; v = zipf('Michael'); "
            "print(v > 3, 'wordfreq' in sys.modules); zipf(\"O'Brien\"); print('wordfreq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2]).stdout.split()
    assert out == ["True", "False", "True"]
