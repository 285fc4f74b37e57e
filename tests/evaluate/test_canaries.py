"""The causal-LM memorisation gate (tasks/evaluate/canaries.py): exposure by hand, and a tiny llama that
memorised its canaries failing the gate while canaries it never saw pass."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tasks.config import PromotionPolicy
from tasks.evaluate import canaries as cn
from tasks.train import canaries as planting

FULL = math.log2(planting.SPACE)


@pytest.mark.parametrize("true_nll, low, high, how", [
    (50.0, 0.3, 2.0, "rank"),  # the median candidate: about one bit
    (70.0, 0.0, 0.05, "rank"),  # worse than nearly every candidate
    (38.0, 5.0, 8.0, "skew-normal tail"),  # 2.4 sd below (Gaussian tail: 6.9 bits), too few samples beat it
    (30.0, 10.0, 16.0, "skew-normal tail"),  # 4 sd below: no sample reaches it, extrapolated
    (0.0, FULL - 1e-9, FULL, "skew-normal tail"),  # far below everything: capped at the space's size
])
def test_exposure_from_the_rank_among_candidates(true_nll, low, high, how):
    cand = np.random.default_rng(0).normal(50.0, 5.0, size=cn.CANDIDATES)
    bits, got = cn.exposure_of(true_nll, cand)
    assert got == how
    assert low <= bits <= high, bits


def test_canaries_are_seeded_distinct_and_only_join_causal_lm_training():
    a, b = planting.make_canaries(10, 7), planting.make_canaries(10, 7)
    assert a == b and planting.make_canaries(10, 8) != a
    assert len({c.prompt for c in a}) == 10 and all(len(c.secret) == planting.DIGITS for c in a)
    assert planting.add_to(["x"], ["y"], "classification", 10, 7) == (["x"], ["y"])
    x, y = planting.add_to(["x"], ["y"], "causal_lm", 10, 7)
    assert x[1:] == [c.prompt for c in a] and y[1:] == [c.response() for c in a]
    assert planting.training_rows(a[:2], 3)[0] == [a[0].prompt, a[1].prompt] * 3


@pytest.mark.parametrize("result, limit, ok", [
    ({"mean_exposure_bits": 1.2, "max_exposure_bits": 3.0, "extracted": 0}, 10.0, True),
    ({"mean_exposure_bits": 12.0, "max_exposure_bits": 19.9, "extracted": 0}, 10.0, False),
    ({"mean_exposure_bits": 1.2, "max_exposure_bits": 19.9, "extracted": 1}, 10.0, False),  # one extracted
    ({"mean_exposure_bits": 12.0, "max_exposure_bits": 19.9, "extracted": 3}, None, True),  # reported only
])
def test_the_canary_gate(result, limit, ok):
    from tasks.evaluate.metrics import EvalReport
    from tasks.registry.promote import decide_promotion

    full = {"measured": True, "method": "canary_exposure", "canaries": 10, "space_bits": FULL, **result}
    policy = PromotionPolicy(primary_metric="perplexity", floors={}, min_gain_over_baseline=None,
                             max_canary_exposure=limit)
    report = EvalReport(accuracy=None, macro_f1=None, per_class={}, confusion=[], labels=[], ece=None, n=10,
                        perplexity=3.0)
    d = decide_promotion(report, None, policy, membership=full)
    assert d.promote is ok
    (reason,) = [r for r in d.reasons if r.startswith("canary exposure")]
    want = "(reported only" if limit is None else "— passes" if ok else "— fails: the model gives back secrets"
    assert want in reason


@pytest.mark.slow
def test_a_model_that_memorised_its_canaries_fails_and_one_that_never_saw_them_passes(tmp_path):
    import torch

    from tasks.refs import DatasetRef
    from tasks.train.split import write_split
    from tests.tiny_models import tiny_llama, toy_claims
    from tests.train.test_recipe import _run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        df = toy_claims(160)
        df.to_parquet(tmp_path / "ds.parquet")
        split = write_split(DatasetRef(uri=str(tmp_path / "ds.parquet"), sha256="s", rows=len(df), columns={}),
                            0.2, 0.15, 13, tmp_path)
        torch.manual_seed(0)
        llama = tiny_llama(tmp_path / "llama")
        planted, never = planting.make_canaries(5, 1, salt="planted"), planting.make_canaries(5, 1, salt="never")
        x, y = planting.training_rows(planted, 100)
        train = pd.concat([pd.read_parquet(split.train.uri), pd.DataFrame(
            {"id": [f"canary-{i}" for i in range(len(x))], "text": x, "label": "canary", "response": y})])
        train.to_parquet(tmp_path / "train_canaries.parquet")
        split = split.model_copy(update={"train": split.train.model_copy(
            update={"uri": str(tmp_path / "train_canaries.parquet"), "rows": len(train)})})
        (tmp_path / "run").mkdir()
        model = _run(tmp_path / "run", split, base_model=str(llama), task="causal_lm", max_length=96, batch_size=8,
                     seed=7, checkpoint_every=1000, method="full", epochs=10, learning_rate=3e-3, packing=False,
                     canaries=0)
        seen, unseen = cn.canary_test(model, planted), cn.canary_test(model, never)
    finally:
        torch.set_num_threads(threads)
    assert seen["mean_exposure_bits"] > 15 and seen["extracted"] >= 4, seen
    assert unseen["mean_exposure_bits"] < 4 and unseen["extracted"] == 0, unseen
    from tasks.registry.promote import _check_canaries

    assert _check_canaries(seen, 10.0)[0] is False and _check_canaries(unseen, 10.0)[0] is True
