"""README.md is replayed: every snippet runs, and every output it shows is what runs print.

How the test reads the README:

- Each ``## `` section is a session with its own RUNNEL_HOME, its own working directory and its
  own copy of the local repo-stats API (``runnel.cli.demo_api``), whose URL is in
  ``GITHUB_API_URL``. ``<!-- readme-test: api fail_first=2 latency=0.5 -->`` anywhere in the
  section says how that API misbehaves (keywords of ``RepoStatsApi``).
- A ``python`` block is saved as the script that the ``console`` block right after it runs
  (``$ python show_stars.py``); without one it is run on its own. Either way it must exit 0.
- In a ``console`` block, each ``$ python ...`` and ``$ runnel ...`` line is run, in order,
  and must exit 0; the lines under it are lines it must print. Timestamps, dates, ids, run
  names and durations may differ; ``...`` stands for lines left out, and a line ending in
  ``...`` for the rest of that line. A run name in a command stands for the session's latest
  flow run. Other ``$`` lines (``make``, ``pip``) are not run.
- A ``console`` block without ``$`` is a reference: each ``runnel ...`` command it names must
  exist with every ``--option`` it names, and the CLI section's must name every command.
- ``<!-- readme-test: skip REASON -->`` right before a block leaves that block out; it is for
  blocks that cannot run here, and says why.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer

from runnel.cli.app import app, run
from runnel.cli.demo_api import RepoStatsApi, serve
from runnel.names import ADJECTIVES, ANIMALS

README = Path(__file__).parent.parent / "README.md"
RUNNEL = Path(sys.executable).with_name("runnel")
STARS = {"PrefectHQ/prefect": 17000, "pydantic/pydantic": 21000, "huggingface/transformers": 130000}
DIRECTIVE = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Block:
    language: str
    text: str
    line: int
    skip: str | None = None


@dataclass
class Section:
    title: str
    api: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    text: str = ""  # its lines outside code blocks


def read_sections(text: str) -> list[Section]:
    """The README's ``## `` sections with their code blocks and readme-test directives."""
    sections = [Section("(top)")]
    skip: str | None = None
    fence: Block | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if fence is not None:
            if line.strip() == "```":
                sections[-1].blocks.append(fence)
                fence = None
            else:
                fence.text += line + "\n"
        elif line.startswith("## "):
            sections.append(Section(line[3:].strip()))
        elif match := FENCE.match(line):
            fence, skip = Block(match[1], "", number, skip), None
        elif match := DIRECTIVE.search(line):
            kind, rest = match[1], match[2]
            if kind == "skip":
                assert rest, f"README.md:{number}: a skip says why"
                skip = rest
            elif kind == "api":
                pairs = (pair.split("=", 1) for pair in rest.split())
                sections[-1].api = {key: json.loads(value) for key, value in pairs}
            else:
                raise AssertionError(f"README.md:{number}: unknown readme-test directive {kind!r}")
        else:
            sections[-1].text += line + "\n"
    assert fence is None, f"README.md:{fence.line}: a code block is never closed"
    return sections


def transcript(block: Block) -> list[tuple[str, list[str]]]:
    """A console block as (command, the lines shown under it) pairs."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return steps


# -- comparing what the README shows with what a run printed -------------------------------

_RUN_NAME = re.compile(rf"\b(?:{'|'.join(ADJECTIVES)})-(?:{'|'.join(ANIMALS)})\b")
_BEGINNING = re.compile(r"Beginning flow run '([^']+)'")
_NORMALIZERS = [
    (re.compile(r"[\u2500-\u257f]"), " "),  # table borders: their widths follow the values
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(\.\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{8}([0-9a-f]{8})*\b"), "<id>"),  # short ids and cache keys
    (_RUN_NAME, "<flow-run>"),
    (re.compile(r"\b([A-Za-z_]\w*)-[0-9a-f]{3,}\b"), r"\1-<n>"),  # task run names
    (re.compile(r"\b\d+(\.\d+)? ?(ms|µs|s)\b"), "<duration>"),
    (re.compile(r"\bPID\s+\d+"), "PID <pid>"),
]


def normalized(line: str) -> str:
    for pattern, replacement in _NORMALIZERS:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def missing_lines(shown: list[str], printed: str) -> list[str]:
    """The lines the README shows that the run did not print."""
    real = [normalized(line) for line in printed.splitlines()]
    missing = []
    for line in shown:
        want = normalized(line)
        if not want or want == "...":
            continue
        if want.endswith("..."):
            found = any(r.startswith(want[:-3].rstrip()) for r in real)
        else:
            found = want in real
        if not found:
            missing.append(line)
    return missing


# -- replaying a section -------------------------------------------------------------------


class Session:
    """One section's home, working directory and API, and the commands run in them."""

    def __init__(self, section: Section, cwd: Path, api_url: str) -> None:
        self.section = section
        self.cwd = cwd
        # Wide enough that no table the README shows wraps its cells.
        self.env = {**os.environ, "GITHUB_API_URL": api_url, "COLUMNS": "120"}
        self.latest_run: str | None = None

    def run(self, command: str, where: Block) -> subprocess.CompletedProcess[str]:
        argv = shlex.split(command)
        program = {"python": sys.executable, "runnel": str(RUNNEL)}[argv[0]]
        args = [self._actual(arg) for arg in argv[1:]]
        done = subprocess.run(
            [program, *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"README.md:{where.line}: `{command}` failed:\n{output}"
        if started := _BEGINNING.findall(output):
            self.latest_run = started[-1]
        return done

    def _actual(self, arg: str) -> str:
        if _RUN_NAME.fullmatch(arg):
            assert self.latest_run, f"{arg}: no flow run has run in this section yet"
            return self.latest_run
        return arg

    def replay(self) -> None:
        blocks = [b for b in self.section.blocks if b.skip is None]
        for index, block in enumerate(blocks):
            if block.language == "python":
                following = blocks[index + 1] if index + 1 < len(blocks) else None
                script = _script_run_by(following)
                if script is not None:
                    (self.cwd / script).write_text(block.text)
                else:
                    (self.cwd / f"snippet_{block.line}.py").write_text(block.text)
                    self.run(f"python snippet_{block.line}.py", block)
            elif block.language == "console":
                for command, shown in transcript(block):
                    if command.split()[0] not in ("python", "runnel"):
                        continue
                    done = self.run(command, block)
                    printed = done.stdout + done.stderr
                    missing = missing_lines(shown, printed)
                    assert not missing, (
                        f"README.md:{block.line}: `{command}` did not print\n"
                        + "\n".join(missing)
                        + f"\n\nIt printed:\n{printed}"
                    )


def _script_run_by(block: Block | None) -> str | None:
    if block is None or block.language != "console":
        return None
    for command, _ in transcript(block):
        argv = shlex.split(command)
        if argv[0] == "python" and len(argv) > 1:
            return argv[1]
    return None


SECTIONS = read_sections(README.read_text())
RUNNABLE = [
    s
    for s in SECTIONS
    if any(b.language == "python" or (b.language == "console" and transcript(b)) for b in s.blocks)
]


@pytest.mark.parametrize("section", RUNNABLE, ids=lambda s: s.title)
def test_section_runs_and_prints_what_it_shows(section: Section, tmp_path: Path) -> None:
    with serve(RepoStatsApi(STARS, **section.api)) as api:
        Session(section, tmp_path, api.url).replay()


# -- the reference parts -------------------------------------------------------------------


def commands_named(block: Block) -> Iterator[tuple[tuple[str, ...], list[str]]]:
    """(command path, options) for each ``runnel ...`` line of a reference block."""
    for line in block.text.splitlines():
        command = line.split("#")[0]
        words = command.split()
        if not words or words[0] != "runnel":
            continue
        path: list[str] = []
        for word in words[1:]:
            if not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
                break
            path.append(word)
        assert path, f"README.md:{block.line}: `{line}` names no command"
        options = re.findall(r"(?<![\w-])--?[a-z][a-z-]*", command)
        *group, last = path
        for alternative in last.split("|"):
            yield (*group, alternative), options


def reference_blocks(sections: list[Section]) -> Iterator[Block]:
    for section in sections:
        for block in section.blocks:
            if block.language == "console" and not transcript(block):
                yield block


def cli_commands() -> dict[tuple[str, ...], Any]:
    """Every visible ``runnel`` command that does something, by its path."""
    found: dict[tuple[str, ...], Any] = {}

    def visit(path: tuple[str, ...], command: Any) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found[path] = command
            return
        for name, sub in subcommands.items():
            if not sub.hidden:
                visit((*path, name), sub)

    visit((), typer.main.get_command(app))
    return found


def test_every_cli_command_in_the_readme_exists_with_its_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = cli_commands()
    named = [
        (b, path, opts) for b in reference_blocks(SECTIONS) for path, opts in commands_named(b)
    ]
    assert named, "the README has a CLI reference"
    for block, path, options in named:
        where = f"README.md:{block.line} (runnel {' '.join(path)})"
        assert path in commands, f"{where}: no such command"
        assert run([*path, "--help"]) == 0, where
        params = commands[path].params
        known = {option for param in params for option in param.opts + param.secondary_opts}
        assert set(options) <= known, f"{where}: unknown options {set(options) - known}"
    capsys.readouterr()


def test_the_cli_reference_names_every_command() -> None:
    cli = [s for s in SECTIONS if s.title == "CLI"]
    assert len(cli) == 1, "the README has one section called CLI"
    listed = {path for block in reference_blocks(cli) for path, _ in commands_named(block)}
    unlisted = sorted(f"runnel {' '.join(path)}" for path in set(cli_commands()) - listed)
    assert not unlisted, f"README.md's CLI section does not list {', '.join(unlisted)}"


def test_the_settings_table_is_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    section = next(s for s in SECTIONS if s.title == "Configuration")
    rows = [line.split("|")[1:3] for line in section.text.splitlines() if line.startswith("| `")]
    documented = {name.strip().strip("`"): default.strip() for name, default in rows}
    assert run(["config", "view", "-o", "json"]) == 0
    settings = {s["env"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(documented) == set(settings)
    for env, default in documented.items():
        literal = re.fullmatch(r"`([^`/~]+)`", default)
        if literal and settings[env]["source"] == "default":
            value = settings[env]["value"]
            assert literal[1] == (f"{value:g}" if isinstance(value, float) else str(value)), env
