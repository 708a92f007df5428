"""Run logging: the console format, run loggers, log_prints, the level setting, stored logs."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

import pytest

from runnel import flow, get_run_logger, task
from runnel.clock import FakeClock
from runnel.exceptions import MissingContext
from runnel.store import Store
from runnel.store.base import FlowRunRecord

STAMP = r"\d\d:\d\d:\d\d\.\d{3}"
FLOW_RUN = r"Flow run '[a-z]+-[a-z]+'"


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def log_lines(text: str) -> list[str]:
    """Only the formatted log lines (tracebacks and plain prints left out)."""
    return [line for line in lines(text) if re.match(STAMP + r" \| ", line)]


# -- console format -----------------------------------------------------------------------
def test_flow_and_task_lines_have_the_exact_format(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def fetch_stats() -> int:
        return 1

    @flow
    def my_flow() -> None:
        fetch_stats()

    my_flow()
    captured = capsys.readouterr()
    assert captured.out == ""
    got = log_lines(captured.err)
    assert len(got) == 3, got
    begin = re.fullmatch(
        rf"{STAMP} \| INFO    \| Flow run '([a-z]+-[a-z]+)' - Beginning flow run '([a-z]+-[a-z]+)' "
        r"for flow 'my-flow'",
        got[0],
    )
    assert begin is not None, got[0]
    assert begin.group(1) == begin.group(2)
    name = begin.group(1)
    assert re.fullmatch(
        rf"{STAMP} \| INFO    \| Task run 'fetch_stats-[0-9a-f]{{3}}' - Finished in state "
        r"Completed\(\)",
        got[1],
    ), got[1]
    assert re.fullmatch(
        rf"{STAMP} \| INFO    \| Flow run '{name}' - Finished in state Completed\(\)", got[2]
    ), got[2]


def test_retry_and_exhausted_lines(clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    @task(retries=3, retry_delay_seconds=0.5)
    def flaky() -> None:
        raise ValueError("boom")

    flaky(return_state=True)
    got = log_lines(capsys.readouterr().err)
    prefix = rf"{STAMP} \| WARNING \| Task run 'flaky-[0-9a-f]{{3}}' - "
    for n in (1, 2, 3):
        assert re.fullmatch(
            prefix
            + re.escape(
                f"Task run failed with exception: ValueError('boom') - Retry {n}/3 will start in "
                "0.5 second(s)"
            ),
            got[n - 1],
        ), got[n - 1]
    assert re.fullmatch(
        rf"{STAMP} \| ERROR   \| Task run 'flaky-[0-9a-f]{{3}}' - "
        + re.escape("Task run failed with exception: ValueError('boom') - Retries are exhausted"),
        got[3],
    ), got[3]
    assert got[4].endswith(
        "Finished in state Failed('Task run encountered an exception ValueError: boom')"
    )
    assert " | ERROR   | " in got[4]


def test_failure_without_retries_says_so_and_prints_the_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @task
    def explode() -> None:
        raise ValueError("boom")

    explode(return_state=True)
    err = capsys.readouterr().err
    assert "Task run failed with exception: ValueError('boom') - No retries configured" in err
    assert "Traceback (most recent call last):" in err
    assert 'raise ValueError("boom")' in err
    assert (
        err.rstrip()
        .splitlines()[-1]
        .endswith("Finished in state Failed('Task run encountered an exception ValueError: boom')")
    )


def test_traceback_starts_at_the_users_code(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def explode() -> None:
        raise ValueError("boom")

    explode(return_state=True)
    err = capsys.readouterr().err
    traceback_text = err[err.index("Traceback (most recent call last):") :]
    traceback_text = traceback_text[: traceback_text.index("ValueError: boom")]
    assert "runnel/engine" not in traceback_text
    assert "in explode" in traceback_text


def test_whole_delays_print_without_decimals(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    @task(retries=2, retry_delay_seconds=[2, 1.25])
    def flaky() -> None:
        raise ValueError("boom")

    flaky(return_state=True)
    err = capsys.readouterr().err
    assert "Retry 1/2 will start in 2 second(s)" in err
    assert "Retry 2/2 will start in 1.25 second(s)" in err


# -- run loggers --------------------------------------------------------------------------
def test_get_run_logger_in_task_and_flow(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    def fetch_stats() -> None:
        get_run_logger().info("fetching %d repos", 3)
        get_run_logger().warning("slow API")

    @flow
    def my_flow() -> None:
        get_run_logger().info("starting")
        fetch_stats()

    my_flow()
    got = log_lines(capsys.readouterr().err)
    assert re.fullmatch(rf"{STAMP} \| INFO    \| {FLOW_RUN} - starting", got[1]), got[1]
    assert re.fullmatch(
        rf"{STAMP} \| INFO    \| Task run 'fetch_stats-[0-9a-f]{{3}}' - fetching 3 repos", got[2]
    ), got[2]
    assert re.fullmatch(
        rf"{STAMP} \| WARNING \| Task run 'fetch_stats-[0-9a-f]{{3}}' - slow API", got[3]
    ), got[3]


def test_get_run_logger_exception_includes_the_traceback(
    capsys: pytest.CaptureFixture[str], store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @flow
    def my_flow() -> None:
        try:
            {}["missing"]
        except KeyError:
            get_run_logger().exception("lookup failed")

    my_flow()
    err = capsys.readouterr().err
    assert "| ERROR   | " in err and " - lookup failed\nTraceback (most recent call last):" in err
    stored = [log.message for log in store.list_logs(only_flow_run().id)]
    assert any(
        m.startswith("lookup failed\nTraceback") and "KeyError: 'missing'" in m for m in stored
    ), stored


def test_get_run_logger_outside_a_run_raises_missing_context() -> None:
    with pytest.raises(MissingContext, match="outside of a flow or task run"):
        get_run_logger()


def test_get_run_logger_after_a_run_raises_missing_context() -> None:
    @flow
    def my_flow() -> None:
        pass

    my_flow()
    with pytest.raises(MissingContext):
        get_run_logger()


def test_get_run_logger_in_async_runs(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    async def fetch_stats(i: int) -> None:
        await asyncio.sleep(0)
        get_run_logger().info("task %d", i)

    @flow
    async def my_flow() -> None:
        get_run_logger().info("flow says hi")
        await asyncio.gather(fetch_stats(1), fetch_stats(2))

    asyncio.run(my_flow())
    err = capsys.readouterr().err
    assert re.search(rf"\| {FLOW_RUN} - flow says hi", err)
    for i in (1, 2):
        assert re.search(rf"\| Task run 'fetch_stats-[0-9a-f]{{3}}' - task {i}\n", err)


# -- log_prints ---------------------------------------------------------------------------
def test_log_prints_turns_prints_of_flow_and_tasks_into_run_logs(
    capsys: pytest.CaptureFixture[str], store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @task
    def get_stars(repo: str) -> int:
        print(f"looking up {repo}")
        return 42

    @flow(log_prints=True)
    def show_stars() -> None:
        stars = get_stars("PrefectHQ/prefect")
        print("PrefectHQ/prefect:", stars, "stars")

    show_stars()
    captured = capsys.readouterr()
    assert captured.out == ""
    got = log_lines(captured.err)
    assert any(
        re.fullmatch(
            rf"{STAMP} \| INFO    \| Task run 'get_stars-[0-9a-f]{{3}}' - looking up PrefectHQ/prefect",
            line,
        )
        for line in got
    ), got
    assert any(
        re.fullmatch(rf"{STAMP} \| INFO    \| {FLOW_RUN} - PrefectHQ/prefect: 42 stars", line)
        for line in got
    ), got
    record = only_flow_run()
    (task_run,) = store.list_task_runs(record.id)
    by_message = {log.message: log for log in store.list_logs(record.id)}
    assert by_message["looking up PrefectHQ/prefect"].task_run_id == task_run.id
    assert by_message["PrefectHQ/prefect: 42 stars"].task_run_id is None
    assert by_message["PrefectHQ/prefect: 42 stars"].level == logging.INFO


def test_task_with_log_prints_false_prints_normally(capsys: pytest.CaptureFixture[str]) -> None:
    @task(log_prints=False)
    def chatty() -> None:
        print("plain print from the task")

    @flow(log_prints=True)
    def my_flow() -> None:
        chatty()
        print("flow print")

    my_flow()
    captured = capsys.readouterr()
    assert captured.out == "plain print from the task\n"
    assert "plain print from the task" not in captured.err
    assert re.search(rf"\| {FLOW_RUN} - flow print\n", captured.err)


def test_task_with_log_prints_true_in_a_plain_flow(capsys: pytest.CaptureFixture[str]) -> None:
    @task(log_prints=True)
    def chatty() -> None:
        print("from the task")

    @flow
    def my_flow() -> None:
        chatty()
        print("from the flow")

    my_flow()
    captured = capsys.readouterr()
    assert captured.out == "from the flow\n"
    assert re.search(r"\| Task run 'chatty-[0-9a-f]{3}' - from the task\n", captured.err)


def test_prints_without_log_prints_and_outside_runs_are_untouched(
    capsys: pytest.CaptureFixture[str],
) -> None:
    @flow
    def quiet() -> None:
        print("inside a plain flow")

    @flow(log_prints=True)
    def loud() -> None:
        print("captured")

    print("before")
    quiet()
    loud()
    print("after", 1, sep="|", end="!\n")
    captured = capsys.readouterr()
    assert captured.out == "before\ninside a plain flow\nafter|1!\n"


def test_print_to_a_file_inside_log_prints_is_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    import sys

    @flow(log_prints=True)
    def my_flow() -> None:
        print("to stderr directly", file=sys.stderr)

    my_flow()
    err = capsys.readouterr().err
    assert "to stderr directly\n" in err
    assert not re.search(r" - to stderr directly", err)


def test_log_prints_in_async_flows(capsys: pytest.CaptureFixture[str]) -> None:
    @task
    async def shout(i: int) -> None:
        print(f"task {i}")

    @flow(log_prints=True)
    async def my_flow() -> None:
        await asyncio.gather(shout(1), shout(2))
        print("flow done")

    asyncio.run(my_flow())
    captured = capsys.readouterr()
    assert captured.out == ""
    for i in (1, 2):
        assert re.search(rf"\| Task run 'shout-[0-9a-f]{{3}}' - task {i}\n", captured.err)
    assert re.search(rf"\| {FLOW_RUN} - flow done\n", captured.err)


# -- level --------------------------------------------------------------------------------
def test_logging_level_warning_hides_info_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], clock: FakeClock
) -> None:
    monkeypatch.setenv("RUNNEL_LOGGING_LEVEL", "WARNING")

    @task(retries=1)
    def flaky() -> None:
        get_run_logger().info("info from the task")
        raise ValueError("boom")

    @flow
    def my_flow() -> None:
        get_run_logger().info("info from the flow")
        flaky(return_state=True)

    my_flow()
    err = capsys.readouterr().err
    assert " | INFO    | " not in err
    assert "Beginning flow run" not in err
    assert "info from the" not in err
    assert " | WARNING | " in err and "Retry 1/1 will start in 0 second(s)" in err
    assert " | ERROR   | " in err and "Retries are exhausted" in err


def test_logging_level_is_read_again_after_the_settings_reset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The previous test set WARNING; this one runs with the default INFO again.
    @flow
    def my_flow() -> None:
        pass

    my_flow()
    assert " | INFO    | " in capsys.readouterr().err


def test_logging_level_debug_is_accepted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNNEL_LOGGING_LEVEL", "debug")

    @flow
    def my_flow() -> None:
        get_run_logger().debug("fine detail")

    my_flow()
    assert re.search(rf"\| DEBUG   \| {FLOW_RUN} - fine detail", capsys.readouterr().err)


# -- stored logs --------------------------------------------------------------------------
def test_every_log_line_of_a_run_is_stored(
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    store: Store,
    only_flow_run: Callable[..., FlowRunRecord],
) -> None:
    @task(retries=1)
    def explode() -> None:
        get_run_logger().info("about to fail")
        raise ValueError("boom")

    @flow
    def my_flow() -> None:
        get_run_logger().info("flow line")
        explode()

    with pytest.raises(ValueError):
        my_flow()
    console = log_lines(capsys.readouterr().err)
    record = only_flow_run()
    stored = store.list_logs(record.id)
    assert len(stored) == len(console)
    for log, line in zip(stored, console, strict=True):
        assert line.endswith(" - " + log.message.splitlines()[0]), (line, log.message)
        assert log.flow_run_id == record.id
    (task_run,) = store.list_task_runs(record.id)
    task_logs = [log for log in stored if log.task_run_id == task_run.id]
    assert [log.level for log in task_logs] == [
        logging.INFO,
        logging.WARNING,
        logging.INFO,
        logging.ERROR,
        logging.ERROR,
    ]
    assert task_logs[0].logger == "runnel.task_runs"
    exhausted = next(log for log in task_logs if "Retries are exhausted" in log.message)
    assert "Traceback (most recent call last):" in exhausted.message
    assert 'raise ValueError("boom")' in exhausted.message
    assert exhausted.message.endswith("ValueError: boom")
    flow_failure = stored[-1]
    assert flow_failure.task_run_id is None
    assert flow_failure.message == (
        "Finished in state Failed('Flow run encountered an exception ValueError: boom')"
    )
    seqs = [log.seq for log in stored]
    assert seqs == sorted(seqs)


def test_logs_of_other_loggers_are_not_stored(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @flow
    def my_flow() -> None:
        logging.getLogger("someone.else").warning("not a run log")

    my_flow()
    assert all("not a run log" not in log.message for log in store.list_logs(only_flow_run().id))


def test_flow_retry_line(clock: FakeClock, capsys: pytest.CaptureFixture[str]) -> None:
    bodies: list[int] = []

    @flow(retries=2, retry_delay_seconds=1.5)
    def my_flow() -> None:
        bodies.append(1)
        if len(bodies) == 1:
            raise ConnectionError("reset")

    my_flow()
    got = log_lines(capsys.readouterr().err)
    assert re.fullmatch(
        rf"{STAMP} \| WARNING \| {FLOW_RUN} - "
        + re.escape(
            "Flow run failed with exception: ConnectionError('reset') - Retry 1/2 will start in "
            "1.5 second(s)"
        ),
        got[1],
    ), got[1]
    assert got[-1].endswith("Finished in state Completed()")


# -- the engine's lines reach whoever listens -----------------------------------------------
class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _one_task_flow() -> str:
    @task
    def fetch_stats() -> int:
        return 1

    @flow
    def my_flow() -> str:
        fetch_stats()
        return "done"

    return my_flow()


@pytest.mark.parametrize("where", ["runnel.task_runs", "runnel"])
def test_a_users_handler_gets_the_engine_lines_as_records(
    where: str, capsys: pytest.CaptureFixture[str], store: Store
) -> None:
    _one_task_flow()  # logging set up, lines written the direct way
    direct = log_lines(capsys.readouterr().err)
    keep = _Keep()
    logger = logging.getLogger(where)
    logger.addHandler(keep)
    try:
        _one_task_flow()
    finally:
        logger.removeHandler(keep)
    through_records = log_lines(capsys.readouterr().err)
    finished = [r for r in keep.records if r.getMessage() == "Finished in state Completed()"]
    assert finished and finished[0].run_label.startswith("Task run 'fetch_stats-")  # type: ignore[attr-defined]
    masked = [re.sub(STAMP + "|'[a-z_]+-[a-z0-9-]+'", "X", line) for line in direct]
    assert [
        re.sub(STAMP + "|'[a-z_]+-[a-z0-9-]+'", "X", line) for line in through_records
    ] == masked
    runs = store.list_flow_runs(limit=2)
    assert [len(store.list_logs(run.id)) for run in runs] == [3, 3]


def test_a_filter_on_the_runnel_logger_is_applied_to_engine_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_task_lines(record: logging.LogRecord) -> bool:
        return not getattr(record, "run_label", "").startswith("Task run")

    logger = logging.getLogger("runnel")
    _one_task_flow()
    capsys.readouterr()
    logger.handlers[0].addFilter(no_task_lines)
    try:
        _one_task_flow()
    finally:
        logger.handlers[0].removeFilter(no_task_lines)
    got = log_lines(capsys.readouterr().err)
    assert len(got) == 2 and all("Flow run" in line for line in got), got


@pytest.mark.parametrize("handler", [False, True], ids=["direct", "with-a-user-handler"])
def test_a_task_runs_closing_line_is_told_by_its_row_not_stored_twice(
    capsys: pytest.CaptureFixture[str],
    store: Store,
    only_flow_run: Callable[..., FlowRunRecord],
    handler: bool,
) -> None:
    """``Finished in state ...`` of a task run is printed and read back from the history as
    logged (same text, level and time), but never written as a log row of its own."""
    from runnel.cache_policies import INPUTS
    from runnel.store.sql import SqlStore

    @task(cache_policy=INPUTS)
    def double(x: int) -> int:
        return 2 * x

    @task
    def explode() -> None:
        raise ValueError("boom")

    @flow
    def my_flow() -> None:
        double(1)
        double(1)  # a hit
        explode.submit().result(raise_on_failure=False)

    kept: list[logging.LogRecord] = []
    extra = logging.Handler()
    extra.emit = kept.append  # type: ignore[method-assign]
    if handler:  # the engine then makes real records, and the store handler sees them
        logging.getLogger("runnel").addHandler(extra)
    try:
        my_flow()
    finally:
        logging.getLogger("runnel").removeHandler(extra)
    console = log_lines(capsys.readouterr().err)
    record = only_flow_run()
    stored = store.list_logs(record.id)
    assert len(stored) == len(console)
    for line, printed in zip(stored, console, strict=True):
        assert printed.endswith(" - " + line.message.splitlines()[0])
        assert printed[:12] == time.strftime("%H:%M:%S", time.localtime(line.timestamp)) + (
            f".{int(line.timestamp % 1 * 1000):03d}"
        )
    task_runs = {run.id: run for run in store.list_task_runs(record.id)}
    closing = [line for line in stored if line.message.startswith("Finished in state ")]
    assert [line.message for line in closing] == [
        "Finished in state Completed()",
        "Finished in state Cached(type=COMPLETED)",
        "Finished in state Failed('Task run encountered an exception ValueError: boom')",
        "Finished in state Completed()",  # the flow run's
    ]
    for line in closing[:3]:
        assert line.task_run_id in task_runs
        assert line.timestamp == task_runs[line.task_run_id].end_time
    assert isinstance(store, SqlStore)
    with store._transaction(write=False) as cur:
        cur.execute(
            "SELECT COUNT(*) FROM logs WHERE task_run_id IS NOT NULL "
            "AND message LIKE 'Finished in state %'"
        )
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT COUNT(*) FROM logs WHERE message LIKE 'Finished in state %'")
        assert cur.fetchone()[0] == 1  # the flow run's own
    if handler:
        assert sum(r.getMessage().startswith("Finished in state") for r in kept) == 4
