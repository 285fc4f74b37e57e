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


class ErasureError(TunegateError):
    """An erasure request cannot be carried out now (a retrain holds the lock); nothing was changed."""

    exit_code = 10


class PolicyLoosened(ConfigError):
    """A run's config relaxes a policy field fixed at deployment, or four-eyes lacks the starter's name."""


class DeploymentNotPinned(PolicyLoosened):
    """A deployment's flow run found no pinned config in its process environment (``tunegate serve`` sets it)."""
