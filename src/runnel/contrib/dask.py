"""``DaskTaskRunner``: task runs on a Dask ``distributed`` cluster.

With no address the runner starts a ``LocalCluster`` of worker processes on this machine
for the flow run and stops it afterwards; with an address it connects to a running
scheduler and leaves the cluster alone. Each submitted run travels as a ``TaskWork``
(Dask pickles it with cloudpickle) and runs its whole lifecycle on a worker, so retries,
timeouts, logs and history are the same as on threads. Workers write history to the
store their own settings name: a ``LocalCluster``'s workers inherit this process's
environment (``RUNNEL_HOME`` and the rest); workers of an external cluster need the same
settings (``RUNNEL_API_URL`` or ``RUNNEL_DATABASE_URL`` for a shared store), and runnel
installed. As with any pool of spawned processes, a script that starts a ``LocalCluster``
calls its flow under ``if __name__ == "__main__":``.

``distributed`` is imported when the runner starts, so importing this module is cheap.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from types import ModuleType
from typing import Any

from runnel.engine.work import TaskRunner, TaskWork
from runnel.exceptions import ConfigurationError
from runnel.states import State

#: What runnel asks of a ``LocalCluster`` unless ``cluster_kwargs`` says otherwise: worker
#: processes sized by Dask for this machine (two single-threaded workers on two cores),
#: reachable from this machine only, the scheduler's HTTP server (the dashboard, when bokeh
#: is installed) on a free port of 127.0.0.1 rather than a fixed 8787 that may be taken, and
#: Dask's own logs at WARNING.
LOCAL_CLUSTER_DEFAULTS: dict[str, Any] = {
    "processes": True,
    "host": "127.0.0.1",
    "dashboard_address": "127.0.0.1:0",
    "silence_logs": logging.WARNING,
}

#: A runner's client is its own, not the process-wide default of ``dask.compute``.
CLIENT_DEFAULTS: dict[str, Any] = {"set_as_default": False}


def run_on_worker(work: TaskWork) -> State:
    """What a Dask worker runs: the task run's whole lifecycle; returns its final state."""
    return work.execute()


class DaskTaskRunner(TaskRunner):
    """Runs submitted task runs on a Dask cluster: a new ``LocalCluster``, or ``address``'s."""

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address):
            raise ConfigurationError(
                f"address={address!r}: use a scheduler address such as 'tcp://10.0.0.5:8786'"
            )
        for option, value in (("cluster_kwargs", cluster_kwargs), ("client_kwargs", client_kwargs)):
            if value is not None and not isinstance(value, dict):
                raise ConfigurationError(f"{option}={value!r}: use a dict of keyword arguments")
        if address is not None and cluster_kwargs:
            raise ConfigurationError(
                "cluster_kwargs configure the LocalCluster the runner starts when no address is "
                f"given; with address={address!r} the cluster is already running: drop one"
            )
        self.address = address
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.client_kwargs = dict(client_kwargs or {})
        self._cluster: Any = None
        self._client: Any = None

    def options(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "cluster_kwargs": dict(self.cluster_kwargs),
            "client_kwargs": dict(self.client_kwargs),
        }

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` of the started runner (``None`` before ``start()``)."""
        return self._client

    @property
    def cluster(self) -> Any:
        """The ``LocalCluster`` the started runner made (``None`` with an address)."""
        return self._cluster

    def start(self) -> None:
        if self._client is not None:
            return
        distributed = _import_distributed()
        client_kwargs = {**CLIENT_DEFAULTS, **self.client_kwargs}
        if self.address is not None:
            self._client = distributed.Client(self.address, **client_kwargs)
            return
        cluster = distributed.LocalCluster(**{**LOCAL_CLUSTER_DEFAULTS, **self.cluster_kwargs})
        try:
            self._client = distributed.Client(cluster, **client_kwargs)
        except BaseException:
            cluster.close()
            raise
        self._cluster = cluster

    def shutdown(self) -> None:
        """Close the client, and the cluster if this runner started it (never an external one)."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    def submit(self, work: TaskWork) -> cf.Future[State]:
        if self._client is None:
            self.start()
        bridge: cf.Future[State] = cf.Future()
        bridge.set_running_or_notify_cancel()
        # A key naming the run makes it recognisable in Dask's dashboard and logs.
        key = f"{work.run.name}-{work.run.id}"
        handle = self._client.submit(run_on_worker, work, key=key, pure=False)
        # Dask keeps ``handle`` alive until the callback ran (the callback holds it).
        handle.add_done_callback(lambda done: _settle(bridge, done))
        return bridge

    def __repr__(self) -> str:
        where = (
            f"address={self.address!r}"
            if self.address
            else f"cluster_kwargs={self.cluster_kwargs!r}"
        )
        return f"DaskTaskRunner({where})"


def _settle(bridge: cf.Future[State], handle: Any) -> None:
    """Finish ``bridge`` from a finished Dask future (on Dask's callback thread).

    A task's own failure is a Failed state, a normal result; an error here means the run
    never reported back (its worker died, the future was cancelled, the state did not
    unpickle), and the submission records the run as Crashed.
    """
    try:
        state = handle.result()
    except BaseException as error:  # CancelledError too: every way of not answering is a crash
        handle.release()
        bridge.set_exception(error)
        return
    handle.release()  # before the flow can see the run end and close the client
    bridge.set_result(state)


def _import_distributed() -> ModuleType:
    try:
        import distributed
    except ImportError as error:
        raise ConfigurationError(
            "DaskTaskRunner needs Dask's distributed package: pip install 'runnel[dask]'"
        ) from error
    return distributed
