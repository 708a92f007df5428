"""Every error runnel raises on purpose.

    RunnelError
    ├── NotSupportedYet            a documented option that a later release builds
    ├── ConfigurationError         a setting or argument that cannot be used
    │   ├── ParameterValidationError   a flow argument that does not fit its annotation
    │   └── LimitNotFound          ``strict=True`` named a limit that does not exist
    ├── StoreError                 the run history cannot be opened or written
    │   └── NotARunnelDatabase     the file or database is not (or no longer) ours
    ├── UpstreamTaskError          a task's input came from a task that did not complete
    ├── UnhashableInput            an argument cannot be part of a cache key (runnel.cache_policies)
    ├── RecordMissing (also KeyError), CorruptRecord, SerializationError,
    │   LockTimeout (also TimeoutError)   cache records (runnel.results.errors)
    ├── UnobservedTaskFailure      a flow's submitted task failed and nothing used its result
    ├── WorkerTransferError        a task, its arguments or its outcome cannot cross processes
    ├── UnfinishedRun              ``state.result()`` on a state that has no result yet
    ├── MissingContext             a run-only call (``get_run_logger``) made outside any run
    ├── AcquireTimeout (also TimeoutError)   limit slots not granted within ``timeout_seconds``
    ├── RunTimeoutError (also TimeoutError)
    │   ├── TaskRunTimeoutError
    │   └── FlowRunTimeoutError
    └── CrashedRun                 the run was interrupted (KeyboardInterrupt, SystemExit, kill)

Control-flow signals are not errors and do not live here.
"""

from __future__ import annotations


class RunnelError(Exception):
    """Base class of every error runnel raises on purpose."""


class NotSupportedYet(RunnelError):
    """An option is accepted by the API but not built yet."""


class ConfigurationError(RunnelError):
    """A setting or an argument cannot be used as given."""


class ParameterValidationError(ConfigurationError):
    """A flow argument does not fit the annotation of its parameter."""


class LimitNotFound(ConfigurationError):
    """A limit named with ``strict=True`` does not exist."""


class AcquireTimeout(RunnelError, TimeoutError):
    """Slots of a limit were not granted within ``timeout_seconds``."""


class StoreError(RunnelError):
    """The run history cannot be opened, read or written."""


class NotARunnelDatabase(StoreError):
    """The database named by the settings is not a runnel database."""


class UpstreamTaskError(RunnelError):
    """A task's input comes from an upstream task run that did not complete."""


class UnobservedTaskFailure(RunnelError):
    """A task run a flow submitted failed, and nothing asked for its result."""


class WorkerTransferError(RunnelError):
    """A task run, its arguments, or what it returned or raised cannot cross between processes."""


class UnfinishedRun(RunnelError):
    """A result was asked of a state that is not final."""


class MissingContext(RunnelError):
    """Something that needs a running flow or task was called outside of one."""


class RunTimeoutError(RunnelError, TimeoutError):
    """A run took longer than its ``timeout_seconds``."""


class TaskRunTimeoutError(RunTimeoutError):
    """A task run took longer than its ``timeout_seconds``."""


class FlowRunTimeoutError(RunTimeoutError):
    """A flow run took longer than its ``timeout_seconds``."""


class CrashedRun(RunnelError):
    """A run was interrupted before it could finish."""
