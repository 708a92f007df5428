"""``runnel gcl`` and ``runnel concurrency-limit`` through the real console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

RUNNEL = Path(sys.executable).with_name("runnel")

LIMIT_KEYS = {
    "name",
    "limit",
    "active",
    "slot_decay_per_second",
    "active_slots",
    "available_slots",
    "created",
    "updated",
}
LEASE_KEYS = {"id", "holder", "slots", "expires", "expires_in_seconds", "created"}


def runnel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUNNEL), *args], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )


def ok(*args: str) -> str:
    result = runnel(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "-o", "json"))


def one_line_error(*args: str, code: int | None = None) -> str:
    result = runnel(*args)
    assert "Traceback" not in result.stderr
    assert result.returncode != 0, result.stdout
    if code is not None:
        assert result.returncode == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# -- the tutorial ------------------------------------------------------------------------------


def test_the_tutorials_command() -> None:
    out = ok("gcl", "create", "github-api", "--limit", "60", "--slot-decay-per-second", "0.016")
    assert out == "Created global concurrency limit 'github-api' (60 slots, decaying 0.016/s)\n"
    data = as_json("gcl", "inspect", "github-api")
    assert set(data) == LIMIT_KEYS | {"leases"}
    assert data["name"] == "github-api"
    assert data["limit"] == 60
    assert data["active"] is True
    assert data["slot_decay_per_second"] == pytest.approx(0.016)
    assert data["active_slots"] == 0
    assert data["available_slots"] == 60
    assert data["leases"] == []


# -- runnel gcl ----------------------------------------------------------------------------------


def test_create_variants_and_long_alias() -> None:
    assert ok("gcl", "create", "db", "--limit", "5") == (
        "Created global concurrency limit 'db' (5 slots)\n"
    )
    assert ok("global-concurrency-limit", "create", "one", "-l", "1", "--disable") == (
        "Created global concurrency limit 'one' (1 slot, inactive)\n"
    )
    assert ok("gcl", "create", "zero", "--limit", "0") == (
        "Created global concurrency limit 'zero' (0 slots)\n"
    )
    by_name = {d["name"]: d for d in as_json("global-concurrency-limit", "ls")}
    assert set(by_name) == {"db", "one", "zero"}
    assert by_name["db"]["active"] is True and by_name["db"]["slot_decay_per_second"] == 0
    assert by_name["one"]["active"] is False and by_name["one"]["limit"] == 1


def test_ls_table_and_json() -> None:
    assert ok("gcl", "ls") == "No global concurrency limits.\n"
    assert as_json("gcl", "ls") == []
    ok("gcl", "create", "github-api", "--limit", "60", "--slot-decay-per-second", "0.016")
    ok("gcl", "create", "warehouse", "--limit", "3", "--disable")
    listed = as_json("gcl", "ls")
    assert [set(d) for d in listed] == [LIMIT_KEYS, LIMIT_KEYS]
    assert {d["name"]: d["available_slots"] for d in listed} == {"github-api": 60, "warehouse": 3}
    table = ok("gcl", "ls")
    for fragment in ("Name", "Limit", "In use", "Available", "Decay/s", "github-api", "0.016"):
        assert fragment in table
    assert "warehouse" in table and "no" in table


def test_inspect_table() -> None:
    ok("gcl", "create", "github-api", "--limit", "60", "--slot-decay-per-second", "0.016")
    table = ok("gcl", "inspect", "github-api")
    for fragment in (
        "Global concurrency limit 'github-api'",
        "60 slots",
        "0.016/s",
        "In use now",
        "Available now",
        "No holders.",
    ):
        assert fragment in table


def test_update_enable_disable() -> None:
    ok("gcl", "create", "api", "--limit", "10")
    assert ok("gcl", "update", "api", "--limit", "20", "--slot-decay-per-second", "2.5") == (
        "Updated global concurrency limit 'api' (20 slots, decaying 2.5/s)\n"
    )
    assert ok("gcl", "update", "api", "--disable") == (
        "Updated global concurrency limit 'api' (20 slots, decaying 2.5/s, inactive)\n"
    )
    assert as_json("gcl", "inspect", "api")["active"] is False
    assert ok("gcl", "update", "api", "--enable", "--slot-decay-per-second", "0") == (
        "Updated global concurrency limit 'api' (20 slots)\n"
    )
    data = as_json("gcl", "inspect", "api")
    assert (data["limit"], data["active"], data["slot_decay_per_second"]) == (20, True, 0)

    assert ok("gcl", "disable", "api") == "Disabled global concurrency limit 'api'\n"
    assert as_json("gcl", "inspect", "api")["active"] is False
    assert ok("gcl", "enable", "api") == "Enabled global concurrency limit 'api'\n"
    assert as_json("gcl", "inspect", "api")["active"] is True


def test_delete() -> None:
    ok("gcl", "create", "api", "--limit", "10")
    assert ok("gcl", "delete", "api") == "Deleted global concurrency limit 'api'\n"
    assert as_json("gcl", "ls") == []
    assert "no global concurrency limit 'api'" in one_line_error("gcl", "delete", "api", code=1)


def test_inspect_shows_the_slots_left_after_decay() -> None:
    ok("gcl", "create", "x", "--limit", "10", "--slot-decay-per-second", "0.5")
    from runnel.store import get_store

    store = get_store()
    taken_at = time.time()
    assert store.acquire_slots(["x"], 3, taken_at).granted
    before = time.time()
    data = as_json("gcl", "inspect", "x")
    after = time.time()
    # The CLI read the clock between ``before`` and ``after``: 0.5 slot/s have freed since.
    assert 3 - 0.5 * (after - taken_at) - 1e-6 <= data["active_slots"] < 3
    assert data["active_slots"] <= 3 - 0.5 * (before - taken_at) + 1e-6
    assert data["available_slots"] == pytest.approx(10 - data["active_slots"], abs=1e-5)
    listed = as_json("gcl", "ls")[0]
    assert listed["active_slots"] < data["active_slots"]


# -- runnel concurrency-limit ----------------------------------------------------------------------


def test_tag_limits() -> None:
    assert ok("concurrency-limit", "ls") == "No tag concurrency limits.\n"
    assert ok("concurrency-limit", "create", "database", "2") == (
        "Created concurrency limit for tag 'database' (2 slots)\n"
    )
    assert ok("concurrency-limit", "create", "database", "4") == (
        "Updated concurrency limit for tag 'database' (4 slots)\n"
    )
    ok("gcl", "create", "not-a-tag", "--limit", "1")
    listed = as_json("concurrency-limit", "ls")
    assert [(d["tag"], d["name"], d["limit"]) for d in listed] == [("database", "tag:database", 4)]
    assert set(listed[0]) == LIMIT_KEYS | {"tag"}
    assert listed[0]["slot_decay_per_second"] == 0
    # A tag limit is a global concurrency limit named tag:<TAG>.
    assert {d["name"] for d in as_json("gcl", "ls")} == {"tag:database", "not-a-tag"}
    assert "database" in ok("concurrency-limit", "ls")

    data = as_json("concurrency-limit", "inspect", "database")
    assert set(data) == LIMIT_KEYS | {"tag", "leases"}
    assert (data["tag"], data["limit"], data["leases"]) == ("database", 4, [])
    assert "Concurrency limit for tag 'database'" in ok("concurrency-limit", "inspect", "database")

    assert ok("concurrency-limit", "reset", "database") == (
        "Reset concurrency limit for tag 'database': all slots are free\n"
    )
    assert ok("concurrency-limit", "delete", "database") == (
        "Deleted concurrency limit for tag 'database'\n"
    )
    assert as_json("concurrency-limit", "ls") == []


def test_reset_frees_the_slots_and_inspect_shows_holders() -> None:
    ok("concurrency-limit", "create", "database", "4")
    from runnel.store import get_store

    store = get_store()
    now = time.time()
    taken = store.acquire_slots(
        ["tag:database"], 3, now, lease_id="lease-1", lease_expires=now + 300, holder="me:1"
    )
    assert taken.granted
    data = as_json("concurrency-limit", "inspect", "database")
    assert data["active_slots"] == 3 and data["available_slots"] == 1
    [lease] = data["leases"]
    assert set(lease) == LEASE_KEYS
    assert (lease["id"], lease["holder"], lease["slots"]) == ("lease-1", "me:1", 3)
    assert 299 <= lease["expires_in_seconds"] <= 300
    table = ok("concurrency-limit", "inspect", "database")
    assert "me:1" in table and re.search(r"expires in (299|300) s", table)
    ok("concurrency-limit", "reset", "database")
    data = as_json("concurrency-limit", "inspect", "database")
    assert (data["active_slots"], data["leases"]) == (0, [])


def test_inspect_shows_a_lease_of_a_thousand_years() -> None:
    ok("gcl", "create", "db", "--limit", "1")
    from runnel.concurrency.sync import concurrency

    with concurrency("db", lease_duration=1e300):
        [lease] = as_json("gcl", "inspect", "db")["leases"]
        assert lease["expires"] is None and lease["expires_in_seconds"] > 1e299
        assert "expires in 1e+300 s" in ok("gcl", "inspect", "db")


def test_the_cli_and_the_library_share_one_largest_limit() -> None:
    import runnel.cli.limits
    import runnel.limits

    assert runnel.cli.limits.MAX_SLOTS is runnel.limits.MAX_SLOTS  # one definition, imported
    largest = str(runnel.limits.MAX_SLOTS)
    ok("gcl", "create", "big", "--limit", largest)
    one_line_error("gcl", "create", "bigger", "--limit", f"{largest}1", code=2)


# -- mistakes: one line, a non-zero exit, nothing written ------------------------------------------


@pytest.mark.parametrize("name", ["", "a/b", "50%", "this&that", "a>b", "a<b"])
def test_invalid_names_are_refused(name: str) -> None:
    one_line_error("gcl", "create", name, "--limit", "1", code=1)
    one_line_error("concurrency-limit", "create", name, "1", code=1)
    assert as_json("gcl", "ls") == []


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["gcl", "create", "x", "--limit", "-1"], 2, "--limit"),
        (["gcl", "create", "x", "--limit", "many"], 2, "--limit"),
        (["gcl", "create", "x"], 2, "--limit"),
        (["gcl", "create", "x", "--limit", "1", "--slot-decay-per-second", "-0.5"], 2, "decay"),
        (["gcl", "create", "x", "--limit", "1", "--slot-decay-per-second", "nan"], None, "decay"),
        (["gcl", "create", "x", "--limit", "1", "--slot-decay-per-second", "inf"], 1, "decay"),
        (["gcl", "create", "x", "--limit", str(2**31)], 2, "--limit"),
        (["gcl", "create", "x", "--limit", "9" * 30], 2, "--limit"),
        (["concurrency-limit", "create", "db", str(2**31)], 2, "N"),
        (["gcl", "ls", "-o", "xml"], 2, "xml"),
        (["concurrency-limit", "create", "db", "-1"], 2, "N"),
        (["concurrency-limit", "create", "db"], 2, "N"),
    ],
)
def test_bad_values_are_refused(args: list[str], code: int | None, fragment: str) -> None:
    assert fragment in one_line_error(*args, code=code)
    assert as_json("gcl", "ls") == []


def test_duplicate_and_bad_updates_change_nothing() -> None:
    ok("gcl", "create", "api", "--limit", "10", "--slot-decay-per-second", "1")
    before = as_json("gcl", "ls")
    assert "already exists" in one_line_error("gcl", "create", "api", "--limit", "3", code=1)
    assert "nothing to update" in one_line_error("gcl", "update", "api", code=1)
    one_line_error("gcl", "update", "api", "--limit", "-1", code=2)
    one_line_error("gcl", "update", "api", "--slot-decay-per-second", "-1", code=2)
    one_line_error("gcl", "update", "api", "--slot-decay-per-second", "inf", code=1)
    assert as_json("gcl", "ls") == before


@pytest.mark.parametrize(
    "args",
    [
        ["gcl", "inspect", "nope"],
        ["gcl", "update", "nope", "--limit", "3"],
        ["gcl", "enable", "nope"],
        ["gcl", "disable", "nope"],
        ["gcl", "delete", "nope"],
        ["global-concurrency-limit", "inspect", "nope"],
    ],
)
def test_unknown_limit(args: list[str]) -> None:
    line = one_line_error(*args, code=1)
    assert "no global concurrency limit 'nope'" in line and "runnel gcl ls" in line
    assert as_json("gcl", "ls") == []


@pytest.mark.parametrize("command", ["inspect", "delete", "reset"])
def test_unknown_tag(command: str) -> None:
    ok("gcl", "create", "nope", "--limit", "1")  # a limit, but not a tag limit
    line = one_line_error("concurrency-limit", command, "nope", code=1)
    assert "no concurrency limit for tag 'nope'" in line
