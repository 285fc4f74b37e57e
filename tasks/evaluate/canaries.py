"""Can a fine-tuned causal LM give back a secret it saw in training? Canary exposure and extraction.

Carlini et al., "The Secret Sharer" (USENIX Security 2019). A canary is a synthetic record in the domain's
formats ("The policy number is PN-482913.") whose secret is drawn at random from a known space (here six
digits: 10^6 candidates, 19.9 bits). After training, the canary's **exposure** is
``log2(|space|) - log2(rank)``, where ``rank`` is the canary's position among all candidate secrets ordered
by the model's likelihood of the whole response (scored in bf16 where the CPU or GPU runs it natively, as
training is). The rank is estimated from ``CANDIDATES`` random candidates:
where enough of them beat the canary, as their share; otherwise (the tail) from a skew-normal fitted to the
candidates' log-perplexities, the paper's extrapolation. A model that never saw the canary gives about 1.4
bits on average (the exposure of a uniformly random rank); a memorised one approaches 19.9. **Extraction**:
greedy decoding from the canary's prompt; the canary counts as extracted when the secret appears in the text.

Where the canaries ride: in the real run. ``train.canaries`` of them (default 10, each once, a realistic
frequency for one customer's identifier) are added to the training rows in memory by the recipe
(tasks/train/canaries.py), from the run's seed, so the model measured is exactly the model promoted; the only
extra cost is the measurement. A shadow run would double the training cost to measure a different model. The
price: the promoted model has seen ten synthetic records, which carry no one's data (the secrets are random
digits, the prompts name no person) and are a negligible share of the rows. Only the exposures and counts are
recorded, never the secrets.

Gate (``promotion.max_canary_exposure``, default 10 bits): mean exposure at most the limit and no canary
extracted. Limits: exposure measures one format of secret at one frequency; a model can memorise other
things (names, free text) that no canary tests. Classification models get the membership-inference test
instead (tasks/evaluate/membership.py).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from tasks.train.canaries import DIGITS, SPACE, Canary

CANDIDATES = 200  # random candidate secrets per canary (the tail beyond their reach is extrapolated)
TAIL = 10  # fewer candidates than this beat the canary: extrapolate with the fitted skew-normal


def exposure_of(true_nll: float, candidate_nll: np.ndarray) -> tuple[float, str]:
    """(exposure in bits, how the rank was estimated) of one canary given its candidates' NLLs."""
    beaten_by = int((candidate_nll <= true_nll).sum())
    if beaten_by >= TAIL:
        share, how = beaten_by / len(candidate_nll), "rank"
    else:
        from scipy.stats import skewnorm

        a, loc, scale = skewnorm.fit(candidate_nll)
        share, how = float(skewnorm.cdf(true_nll, a, loc, scale)), "skew-normal tail"
    share = max(share, 1.0 / SPACE)  # the best rank is 1 of the space
    return max(0.0, min(math.log2(SPACE), -math.log2(share))), how


def canary_test(model_dir: Path, canaries: list[Canary], candidates: int = CANDIDATES, seed: int = 0) -> dict:
    """Exposure and greedy extraction of each canary on a causal-LM model folder."""
    import torch

    from tasks.predict.generate import generate_responses, load_causal_model, response_nll

    t0 = time.perf_counter()
    if not canaries:
        return {"measured": False, "method": "canary_exposure", "why": "train.canaries is 0"}
    model = load_causal_model(Path(model_dir))
    rng = np.random.default_rng(seed)
    prompts, responses, owner = [], [], []
    for k, c in enumerate(canaries):
        others = [f"{x:0{DIGITS}d}" for x in rng.choice(SPACE, size=candidates + 1, replace=False)]
        others = [x for x in others if x != c.secret][:candidates]
        for s in [c.secret, *others]:
            prompts.append(c.prompt)
            responses.append(c.response(s))
            owner.append(k)
    from tasks.train.devices import autocast_dtype

    dtype = autocast_dtype("auto", model.device)  # bf16 where the hardware runs it natively, as training does
    with torch.autocast(model.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        nll = response_nll(model, prompts, responses, batch_size=64).nll
    owner_arr = np.asarray(owner)
    rows = []
    longest = max(len(model.tokenizer(c.response(), add_special_tokens=False)["input_ids"]) for c in canaries)
    gen = generate_responses(model, [c.prompt for c in canaries], max_new_tokens=longest + 8)  # room for it all
    for k, c in enumerate(canaries):
        mine = nll[owner_arr == k]
        bits, how = exposure_of(float(mine[0]), mine[1:])
        rows.append({"kind": c.kind, "exposure_bits": round(bits, 3), "estimate": how,
                     "extracted": c.secret in gen.texts[k].replace(" ", "")})
    exposures = [r["exposure_bits"] for r in rows]
    return {"measured": True, "method": "canary_exposure", "canaries": len(canaries), "candidates": candidates,
            "space_bits": round(math.log2(SPACE), 3), "mean_exposure_bits": round(float(np.mean(exposures)), 3),
            "max_exposure_bits": round(float(np.max(exposures)), 3),
            "extracted": sum(r["extracted"] for r in rows), "per_canary": rows,
            "seconds": round(time.perf_counter() - t0, 3)}
