"""How common an English word is: wordfreq's Zipf frequency, without importing wordfreq for plain words.

``import wordfreq`` costs ~0.25 s in every scrubbing process (0.1 s of it ``inspect.stack()``, which its
data-path helper calls at import) before its English list is even read. A word of ASCII letters only is one
token whatever wordfreq's tokenizer does, so its frequency is the list's entry, rounded as
``wordfreq.zipf_frequency`` rounds it: that path reads wordfreq's own installed data file (``large_en``, the
"best" English list) directly. Anything else (digits, apostrophes, hyphens, accents) goes to wordfreq
itself. ``tests/pii/test_frequency.py`` checks both paths against ``wordfreq.zipf_frequency`` word for word.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

_PLAIN = re.compile(r"[A-Za-z]+")


@lru_cache(maxsize=1)
def _english() -> dict[str, float]:
    """word -> its Zipf value, from wordfreq's ``large_en`` cBpack file (gzip, msgpack: a header, then one
    bucket of words per centibel of frequency)."""
    import gzip
    import importlib.util
    from pathlib import Path

    import msgpack

    spec = importlib.util.find_spec("wordfreq")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "large_en.msgpack.gz"
    with gzip.open(path, "rb") as f:
        pack = msgpack.load(f, raw=False)
    if pack[0] != {"format": "cB", "version": 1}:
        raise ValueError(f"{path}: not a cBpack file of the version this reader knows")
    out: dict[str, float] = {}
    for index, bucket in enumerate(pack[1:]):
        zipf = _rounded_zipf(10 ** (-index / 100))
        for word in bucket:
            out[word] = zipf
    return out


def _rounded_zipf(freq: float) -> float:
    """wordfreq's rounding: the frequency to three significant digits, then its Zipf value to two decimals."""
    freq = round(freq, math.floor(-math.log(freq, 10)) + 3)
    return round(math.log(freq, 10) + 9, 2)


def zipf(word: str) -> float:
    """``wordfreq.zipf_frequency(word, "en")``: 0.0 for a word the list does not hold."""
    if _PLAIN.fullmatch(word):
        return _english().get(word.lower(), 0.0)
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")
