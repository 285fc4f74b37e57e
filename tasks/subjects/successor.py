"""Does the model that serves after an erasure know the erased documents? The loss-threshold membership test
(``tasks/evaluate/membership.py``) of the champion after the erasure, on the subject's rows, for the certificate.

The erased rows are read (scrubbed, as training saw them) just before they are deleted, and scored by the
champion that serves once the erasure has withdrawn every version trained on them: the newest approved
version trained without them, or the champion that was never trained on them. Their per-document loss is
compared with that of the champion's own test rows, documents it never saw: an AUC near 0.5 means the erased
documents look to it like any unseen document. With a handful of rows the interval is wide, and the record
says how many rows it rests on. Where no version trained without the subject exists at erasure (every version
saw them), nothing serves, and the retrain that succeeds trains after the rows are gone: the test cannot be
run, and the certificate says so (holding the rows for it would keep personal data past the erasure).

Only numbers leave this module: counts, losses, the AUC and its interval; never a text or an id.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from tasks.config import RegistryScope

NO_SUCCESSOR = ("not measured: no version trained without the subject was approved when it was erased (every "
                "version had seen it), so nothing serves; the retrain that succeeds trains after the rows are "
                "deleted, and keeping them to test it would keep personal data past the erasure")


def erased_rows(folders: dict[str, list[str]]) -> pd.DataFrame:
    """The subject's labelled rows (``text``, ``label``), one per document id, from the run folders' scrubbed
    datasets (or, where a run folder kept only its split, its split files), before they are rewritten."""
    frames = []
    for folder, ids in folders.items():
        wanted = set(ids)
        scrubbed = Path(folder) / "scrubbed.parquet"
        files = [scrubbed] if scrubbed.is_file() else sorted(Path(folder).glob("split/*.parquet"))
        for f in files:
            try:
                df = pd.read_parquet(f, columns=["id", "text", "label"])
            except (KeyError, ValueError):  # a file without labels: a prediction store, not a training set
                continue
            frames.append(df[df["id"].astype(str).isin(wanted)])
    if not frames:
        return pd.DataFrame(columns=["id", "text", "label"])
    rows = pd.concat(frames, ignore_index=True).dropna(subset=["label"])
    return rows.drop_duplicates(subset="id").reset_index(drop=True)


def membership_on(model_dir: Path, test_uri: str, rows: pd.DataFrame, unseen: int = 1000, seed: int = 0) -> dict:
    """The attack's AUC separating ``rows`` from up to ``unseen`` of the model's own test rows, by loss."""
    from tasks.evaluate.membership import loss_attack
    from tasks.predict.classify import load_model

    test = pd.read_parquet(test_uri, columns=["text", "label"]).dropna(subset=["label"])
    test = test.sample(n=min(unseen, len(test)), random_state=seed)
    erased, other, a, (low, high) = loss_attack(load_model(Path(model_dir)), rows, test)
    if not len(erased) or not len(other):
        return {"measured": False, "why": "no erased row or test row had a label the model knows"}
    return {"measured": True, "attack": "loss-threshold membership inference", "auc": round(a, 4),
            "auc_95": [round(low, 4), round(high, 4)], "erased_rows": int(len(erased)),
            "unseen_rows": int(len(other)), "mean_loss_erased": round(float(erased.mean()), 4),
            "mean_loss_unseen": round(float(other.mean()), 4),
            "reading": "0.5: the erased documents look like documents the model never saw; 1.0: it recognises "
                       "each of them"}


def successor_test(reg: RegistryScope, version: int | None, folders: dict[str, list[str]]) -> dict:
    """The membership test of ``version`` (the champion after the erasure) on the erased rows of ``folders``
    (run folder -> document ids). A test that cannot run (a version without weights or lineage) is recorded as
    not measured, with the error's name: the erasure itself never waits on it."""
    if version is None:
        return {"measured": False, "why": NO_SUCCESSOR}
    try:
        rows = erased_rows(folders)
        if rows.empty:
            return {"measured": False, "version": version, "why": "the erased documents had no labelled row to score"}
        return _test(reg, version, rows)
    except Exception as e:  # noqa: BLE001 - recorded in the certificate; the rows are erased regardless
        return {"measured": False, "version": version, "why": f"could not be run: {type(e).__name__}"}


def _test(reg: RegistryScope, version: int, rows: pd.DataFrame) -> dict:
    from tasks.governance.revalidation import find_part
    from tasks.predict.folder import read_train_config
    from tasks.registry.versions import _resolve, client_for

    client = client_for(reg)
    mv = _resolve(reg, client, version)
    with tempfile.TemporaryDirectory(prefix="tunegate-erasure-test-") as tmp:
        folder = Path(client.download_artifacts(mv.run_id, "", tmp))
        if read_train_config(folder / "model").get("task") != "classification":
            return {"measured": False, "version": version, "why": "a causal LM: its memorisation is tested with "
                    "canaries at training (tasks/evaluate/canaries.py), not with a classifier's loss"}
        split = json.loads((folder / "lineage.json").read_text()).get("split", {})
        test = find_part(reg.work_path(), split.get("test"))
        if test is None:
            return {"measured": False, "version": version, "why": "the version's recorded test split is in no run "
                    "folder of the work folder: no unseen documents to compare with"}
        return {"version": version, **membership_on(folder / "model", str(test), rows)}
