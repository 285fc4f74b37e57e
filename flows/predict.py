"""Batch prediction: ingest → scrub → score with the champion (or a named version) → write predictions.

The output holds ``id``, ``prediction``, ``confidence`` and ``model_version`` only: no text, scrubbed or
not, so a predictions file can be shared without becoming a copy of the documents. The complete log
(scrubbed text, prediction, confidence, sentence embedding) goes to the prediction store, where
``tunegate monitor`` on the same batch finds it instead of scoring the batch again.
"""

from __future__ import annotations

from prefect import flow

from tasks.governance.pinning import DeployedConfig
from tasks.governance.task import check_pinned_config
from tasks.ingest.task import RAW_COPY_HOOKS, discard_raw_copy, ingest_documents, prediction_source
from tasks.pii.columns import ScrubColumns
from tasks.pii.task import scrub_pii
from tasks.predict.batch import PredictionsRef
from tasks.predict.output import check_output
from tasks.predict.task import batch_digest, predict_batch
from tasks.refs import new_run_id
from tasks.registry.task import resolve_version


@flow(name="predict", log_prints=True, **RAW_COPY_HOOKS)
def predict(config: DeployedConfig, input: str, output: str, model_version: str = "champion") -> PredictionsRef:
    """Score a file of documents.

    0. a deployment's run: stop unless the config is the one pinned at deployment (policy fields may tighten)
       then refuse an ``output`` on tunegate's own records (work folder, monitored folder, tracking database)
    1. resolve the model version first (no champion: stop before reading any data)
    2. ingest the file (id and text; no label needed, no quality gate beyond format errors)
    3. scrub PII with the pipeline's settings (no recall estimate: that is evidence about training data)
    4. score every document; write id, prediction, confidence; log to the prediction store
    """
    check_pinned_config(config, "predict")
    out = check_output(config.registry_scope, config.deploy.monitor_batch, output)
    version = resolve_version(config, model_version)
    run_id = new_run_id("predict")
    run_dir = config.work_path("predictions", run_id).resolve()
    dataset = ingest_documents(prediction_source(config.data, input), run_dir)
    digest = batch_digest(dataset)
    columns = ScrubColumns.of(config.train, config.data)
    scrubbed, _ = scrub_pii(dataset, config.pii, run_dir, None, estimate=False, columns=columns)
    discard_raw_copy(run_dir, config.retention)
    return predict_batch(scrubbed, version, out, config.work_path("predictions"), run_id, digest)
