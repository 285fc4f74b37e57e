import json

import pandas as pd
import pytest

from tasks.config import SplitConfig
from tasks.errors import InputError
from tasks.refs import DatasetRef
from tasks.train.split import assign_parts, class_counts, ids_sha256, split_frame, write_split
from tasks.train.task import split_dataset


@pytest.mark.parametrize("n, tf, vf, expected", [
    (0, 0.2, 0.1, (0, 0, 0)),
    (1, 0.2, 0.1, (1, 0, 0)),      # a singleton class trains, it cannot be tested
    (2, 0.2, 0.1, (1, 0, 1)),
    (3, 0.2, 0.1, (1, 1, 1)),
    (10, 0.2, 0.1, (7, 1, 2)),
    (100, 0.2, 0.0, (80, 0, 20)),
    (100, 0.5, 0.4, (10, 40, 50)),
])
def test_class_counts(n, tf, vf, expected):
    assert class_counts(n, tf, vf) == expected


def _frame(counts: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{lab}-{i}", f"note {i}", lab) for lab, n in counts.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["id", "text", "label"])


def test_split_is_stratified_and_seeded():
    df = _frame({"motor": 300, "fire": 100, "theft": 20, "rare": 2, "single": 1})
    parts = split_frame(df, 0.2, 0.1, seed=13)
    test = parts["test"]["label"].value_counts()
    assert test["motor"] == 60 and test["fire"] == 20 and test["theft"] == 4 and test["rare"] == 1
    assert "single" in set(parts["train"]["label"]) and "single" not in set(test.index)
    assert sum(len(p) for p in parts.values()) == len(df)
    assert set().union(*(set(p["id"]) for p in parts.values())) == set(df["id"])
    again = split_frame(df.sample(frac=1, random_state=1), 0.2, 0.1, seed=13)  # row order does not matter
    assert set(again["test"]["id"]) == set(test_ids := parts["test"]["id"])
    other = split_frame(df, 0.2, 0.1, seed=14)
    assert set(other["test"]["id"]) != set(test_ids)


def test_added_rows_keep_old_test_rows_in_test():
    old = _frame({"motor": 200, "fire": 200})
    new = pd.concat([old, _frame({"motor": 220, "fire": 220}).iloc[::11]]).drop_duplicates("id")
    before = set(split_frame(old, 0.2, 0.1, 13)["test"]["id"])
    after = set(split_frame(new, 0.2, 0.1, 13)["test"]["id"])
    assert len(before & after) / len(before) > 0.9


def test_unlabelled_rows_are_their_own_stratum():
    parts = assign_parts([f"d{i}" for i in range(20)], [None] * 10 + ["a"] * 10, 0.2, 0.0, 1)
    assert parts[:10].count("test") == 2 and parts[10:].count("test") == 2


def test_duplicate_ids_are_rejected():
    with pytest.raises(InputError, match="duplicate ids"):
        assign_parts(["a", "a"], ["x", "x"], 0.2, 0.1, 1)


def _ref(tmp_path, df) -> DatasetRef:
    df.to_parquet(tmp_path / "scrubbed.parquet")
    return DatasetRef(uri=str(tmp_path / "scrubbed.parquet"), sha256="d" * 64, rows=len(df), columns={},
                      scrubbed=True)


def test_split_dataset_task_writes_and_records(tmp_path):
    df = _frame({"motor": 50, "fire": 30})
    ref = split_dataset.fn(_ref(tmp_path, df), SplitConfig(test_fraction=0.2, val_fraction=0.1, seed=13), tmp_path)
    assert ref.dataset_sha256 == "d" * 64 and ref.seed == 13
    assert ref.train.rows + ref.val.rows + ref.test.rows == 80 and ref.train.scrubbed
    assert ref.test.label_counts == {"motor": 10, "fire": 6}
    test_ids = pd.read_parquet(ref.test.uri)["id"].tolist()
    assert ref.test_ids_sha256 == ids_sha256(test_ids)
    record = json.loads((tmp_path / "split" / "split.json").read_text())
    assert record["test_ids_sha256"] == ref.test_ids_sha256 and record["dataset_sha256"] == "d" * 64
    assert ref.val is not None and pd.read_parquet(ref.val.uri)["id"].isin(test_ids).sum() == 0
    # one dataset digest: each part's recorded digest is recomputable from its file alone
    from tasks.datasets import parquet_sha256

    assert [r.sha256 for r in (ref.train, ref.val, ref.test)] == [parquet_sha256(r.uri) for r in (ref.train, ref.val,
                                                                                                  ref.test)]
    assert len({ref.train.sha256, ref.val.sha256, ref.test.sha256}) == 3


def test_no_val_fraction_gives_no_val_ref(tmp_path):
    ref = write_split(_ref(tmp_path, _frame({"a": 20, "b": 20})), 0.25, 0.0, 1, tmp_path)
    assert ref.val is None and ref.test.rows == 10


def test_too_few_rows_fail_without_writing(tmp_path):
    with pytest.raises(InputError, match="too few"):
        write_split(_ref(tmp_path, _frame({"a": 1})), 0.2, 0.1, 1, tmp_path)
    assert not (tmp_path / "split").exists()


def test_rows_the_champion_learned_from_never_enter_a_new_test_split_as_data_grows(tmp_path):
    from tasks.train.split import id_hash, trained_ids
    from tasks.train.task import champion_trained_ids

    old = _frame({"motor": 200, "fire": 120})
    champ = write_split(_ref(tmp_path, old), 0.2, 0.1, 13, tmp_path / "v1")
    learned = trained_ids(champ)  # what the champion's version records (train and validation rows)
    assert len(learned) == champ.train.rows + champ.val.rows and all(len(h) == 16 for h in learned)
    (tmp_path / "version").mkdir()
    (tmp_path / "version" / "trained_ids.json").write_text(json.dumps({"ids": learned}))
    # New rows whose ids happen to rank after the old ones: the test quota grows by 20 % of them, and naively
    # it is filled from the top of the ranking, i.e. from old rows the champion trained on.
    from tasks.train.split import _rank_key

    middle = sorted(_rank_key(13, i) for i in old["id"])[len(old) // 2]
    added = _frame({"motor": 400, "fire": 240}).assign(id=lambda d: "new-" + d["id"])
    added = added[added["id"].map(lambda i: _rank_key(13, i) > middle)]  # about half of them
    grown = pd.concat([old, added])
    (tmp_path / "g").mkdir()
    seen_by_champion = set(pd.concat([pd.read_parquet(champ.train.uri), pd.read_parquet(champ.val.uri)])["id"])
    naive = split_frame(grown, 0.2, 0.1, 13)
    assert len(set(naive["test"]["id"]) & seen_by_champion) > 10  # the leak this guards against
    new = split_dataset.fn(_ref(tmp_path / "g", grown), SplitConfig(test_fraction=0.2, val_fraction=0.1, seed=13),
                           tmp_path / "g", tmp_path / "version")
    test_ids = set(pd.read_parquet(new.test.uri)["id"])
    assert not test_ids & seen_by_champion
    assert set(pd.read_parquet(champ.test.uri)["id"]) <= test_ids  # the old test rows are still tested
    assert new.test.label_counts == naive["test"]["label"].value_counts().to_dict()  # same size per class
    record = json.loads((tmp_path / "g" / "split" / "split.json").read_text())
    assert record["champion_trained_rows_kept_out_of_test"] == len(seen_by_champion)
    assert champion_trained_ids(None) == frozenset() == champion_trained_ids(tmp_path / "absent")
    assert id_hash("motor-1") == id_hash("motor-1") != id_hash("motor-2")
