"""Named errors: part of tunegate's interface.

Every message says what to fix and never quotes raw document text (it may hold personal data).
The CLI prints ``<ErrorName>: <message>`` and exits non-zero, without a traceback.
"""


class TunegateError(Exception):
    """Base of every error tunegate raises on purpose."""

    exit_code = 2


class ConfigError(TunegateError):
    """The pipeline config is invalid: unknown key, wrong type, missing path."""


class PseudonymKeyMissing(ConfigError):
    """Pseudonyms need a key and none is configured where production requires one (``pii.require_key``)."""


class PseudonymKeyMismatch(PseudonymKeyMissing):
    """A scrubbing worker (a Dask worker) holds another pseudonymisation key than the run that sent it work."""


class InputError(TunegateError):
    """An input file or folder cannot be read as documents."""


class QualityGateFailed(TunegateError):
    """The data quality gate (Great Expectations) rejected the dataset."""

    exit_code = 3


class PiiGateFailed(TunegateError):
    """Too much personal data survived scrubbing (residual rate above the limit)."""

    exit_code = 4


class TrainingFailed(TunegateError):
    """The torchrun training job failed, timed out or was cancelled."""

    exit_code = 5


class NodesDidNotJoin(TrainingFailed):
    """A run on several nodes: the other nodes did not join node 0's rendezvous in time; nothing was trained."""


class PromotionError(TunegateError):
    """Registering or promoting a model version failed."""

    exit_code = 6


class NoChampion(TunegateError):
    """No model version holds the ``champion`` alias yet."""

    exit_code = 7


class EventNotDelivered(TunegateError):
    """A Prefect event could not be confirmed on the server (e.g. missing API credentials)."""

    exit_code = 8


class StackError(TunegateError):
    """The local Prefect stack (`tunegate up`) could not start or stop: port taken, server unhealthy."""

    exit_code = 9


class PoolError(StackError):
    """`tunegate deploy` cannot register the deployments: no server configured, no such work pool, a pool type it
    does not deploy to, or an image missing where the pool needs one."""


class ErasureError(TunegateError):
    """An erasure request cannot be carried out now (a retrain holds the lock); nothing was changed."""

    exit_code = 10


class PolicyLoosened(ConfigError):
    """A run's config relaxes a policy field fixed at deployment, or four-eyes lacks the starter's name."""


class ChampionWithdrawn(NoChampion):
    """An erasure request withdrew the champion (it was trained on the subject) and no approved version trained
    without the subject could take its place."""


class ErasureIncomplete(ErasureError):
    """An erasure was carried out, but a servable or restorable artifact still holds the subject."""

    exit_code = 11


class SigningKeyMissing(ConfigError):
    """A deployment's run needs the evidence signing key or the audit key and neither the environment nor the
    configured Prefect Secret block provides it; no development key is made up in production."""


class TrustedKeyMissing(ConfigError):
    """``evidence verify`` was given no public key to trust (``--public-key``, ``--trust-file`` or
    ``registry.evidence_public_keys``): a pack's own key proves nothing about who signed it."""


class AuditLogDamaged(TunegateError):
    """A line of ``audit.jsonl`` cannot be read (a cut-off write or an edit); ``tunegate audit verify`` names it."""

    exit_code = 12


class RollbackRefused(PromotionError):
    """A rollback's target was never promoted, is pending erasure or archived, or its approval is missing,
    stale, already used, or given by the person who asked for it (``promotion.four_eyes``)."""


class IdentityRequired(PolicyLoosened):
    """A starter's or reviewer's name is missing, or nothing once case, spaces and zero-width characters are
    folded: four-eyes and the audit log need a person."""


class RetrainBusy(TunegateError):
    """Another training run, retrain or erasure of this model holds the retrain lock; nothing was started."""

    exit_code = 13


class PersonalDataInColumn(PiiGateFailed):
    """A column that is not rewritten (one in ``data.non_personal_columns``, or a class label) holds identifiers."""


class PseudonymKeyTooShort(PseudonymKeyMissing):
    """The configured pseudonymisation key is shorter than 32 bytes, so it is not a usable key."""


class BatchOutsideInbox(ConfigError):
    """A production batch lies outside ``deploy.inbox`` (or none is set), so it may not join training."""


class DeploymentNotPinned(PolicyLoosened):
    """A deployment's flow run found no pinned config in its process environment (``tunegate serve`` sets it)."""


class RevalidationFailed(TunegateError):
    """``tunegate revalidate``: a version's recomputed numbers differ from those it was registered with beyond the
    stated tolerance, its files differ from what was signed, or its recorded split cannot be found."""

    exit_code = 14


class ValidatorNotIndependent(IdentityRequired):
    """Under ``promotion.four_eyes`` a re-validation is refused when the validator started the version's run."""


class LockServerUnreachable(TunegateError):
    """A Prefect server holds the locks (``PREFECT_API_URL`` is set, or ``registry.shared_dir`` needs one) and
    its global concurrency limit could not be taken: nothing was started, no local lock stands in for it."""

    exit_code = 15


class RegistryBusy(PromotionError):
    """Another process held the registry lock (alias moves of this model) longer than the wait allows."""
