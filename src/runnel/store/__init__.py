"""The run history: one narrow ``Store`` interface, several databases behind it."""

from runnel.store.base import Batch, FlowRunRecord, LogRecord, StateRecord, Store, TaskRunRecord
from runnel.store.factory import get_store, open_store, reset_store

__all__ = [
    "Batch",
    "FlowRunRecord",
    "LogRecord",
    "StateRecord",
    "Store",
    "TaskRunRecord",
    "get_store",
    "open_store",
    "reset_store",
]
