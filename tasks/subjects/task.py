"""The subjects stage's Prefect boundary: erased subjects kept out of every training run, retention applied."""

from __future__ import annotations

from prefect import get_run_logger, task

from tasks.config import PipelineConfig
from tasks.locks import shared_path
from tasks.pii.ops import pseudonym_key
from tasks.refs import DatasetRef
from tasks.subjects.erased import drop_erased


@task(name="drop_erased")
def drop_erased_documents(dataset: DatasetRef, config: PipelineConfig) -> DatasetRef:
    """The scrubbed dataset without the documents of subjects erased so far (``tunegate subject erase``)."""
    key = pseudonym_key(config.pii.model_copy(update={"subject_index": True}), config.work_path(), index=True)
    out = drop_erased(dataset, shared_path(config.registry_scope), key)
    if out.erasures:
        get_run_logger().info("erasure list: %d request(s) applied; %d document(s) removed here", out.erasures,
                              dataset.rows - out.rows)
    return out


@task(name="erasure_tags")
def erasure_tags_of(dataset: DatasetRef, config: PipelineConfig) -> dict[str, str]:
    """The erasure tags of a version about to be registered from ``dataset`` (handed to the registry's
    ``register_and_promote``): the requests it was filtered against, and a request made while it trained."""
    from tasks.subjects.erase import erasure_tags

    return erasure_tags(config.work_path(), dataset)


@task(name="purge_expired")
def purge_expired(config: PipelineConfig) -> dict:
    """Raw copies, prediction-store days and every store that could serve or restore a model past
    ``retention``; counts go to the audit log."""
    from tasks.audit import audit
    from tasks.subjects.stores import purge_all

    out = purge_all(config.registry_scope, config.retention)
    audit(config, action="retention.purge", **out)
    get_run_logger().info("purge: %s", out)
    return out
