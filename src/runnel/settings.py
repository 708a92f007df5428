"""Settings: environment variables first, then ``RUNNEL_HOME/config.toml``, then defaults."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from runnel.exceptions import ConfigurationError

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure, with where each value came from."""

    home: Path
    api_url: str | None
    database_url: str | None
    logging_level: str
    results_dir: Path
    heartbeat_seconds: float
    heartbeat_expiry_seconds: float
    retry_after_max_seconds: float
    progress: str
    sources: dict[str, str]

    @property
    def database_path(self) -> Path:
        """The SQLite file used when no database URL is set."""
        return self.home / "runnel.db"


# name -> (environment variable, default maker, parser)
_SPEC: dict[str, tuple[str, Any, Any]] = {
    "home": (
        "RUNNEL_HOME",
        lambda s: Path("~/.runnel").expanduser(),
        lambda v: Path(v).expanduser(),
    ),
    "api_url": ("RUNNEL_API_URL", lambda s: None, str),
    "database_url": ("RUNNEL_DATABASE_URL", lambda s: None, str),
    "logging_level": ("RUNNEL_LOGGING_LEVEL", lambda s: "INFO", lambda v: _level(v)),
    "results_dir": (
        "RUNNEL_RESULTS_DIR",
        lambda s: s["home"] / "storage",
        lambda v: Path(v).expanduser(),
    ),
    "heartbeat_seconds": (
        "RUNNEL_HEARTBEAT_SECONDS",
        lambda s: 10.0,
        lambda v: _positive(v, "RUNNEL_HEARTBEAT_SECONDS"),
    ),
    "heartbeat_expiry_seconds": (
        "RUNNEL_HEARTBEAT_EXPIRY_SECONDS",
        lambda s: 90.0,
        lambda v: _positive(v, "RUNNEL_HEARTBEAT_EXPIRY_SECONDS"),
    ),
    "retry_after_max_seconds": (
        "RUNNEL_RETRY_AFTER_MAX_SECONDS",
        lambda s: 300.0,
        lambda v: _positive(v, "RUNNEL_RETRY_AFTER_MAX_SECONDS"),
    ),
    "progress": (
        "RUNNEL_PROGRESS",
        lambda s: "auto",
        lambda v: _choice(v, "RUNNEL_PROGRESS", ("auto", "on", "off")),
    ),
}


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    text = str(value).lower()
    if text not in choices:
        raise ConfigurationError(f"{name}={value!r}: use one of {', '.join(choices)}")
    return text


def _level(value: str) -> str:
    level = str(value).upper()
    if level not in _LEVELS:
        raise ConfigurationError(
            f"RUNNEL_LOGGING_LEVEL={value!r} is not a level: use one of {', '.join(_LEVELS)}"
        )
    return level


def _positive(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}={value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigurationError(f"{name}={value!r} must be a number greater than 0")
    return number


def _read_config_file(home: Path) -> dict[str, Any]:
    path = home / "config.toml"
    if not path.is_file():
        return {}
    import tomllib

    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{path} cannot be read as TOML: {error}") from None
    known = {env: name for name, (env, _, _) in _SPEC.items()}
    values: dict[str, Any] = {}
    for key, value in data.items():
        env = key.upper() if key.upper().startswith("RUNNEL_") else "RUNNEL_" + key.upper()
        if env not in known or env == "RUNNEL_HOME":
            raise ConfigurationError(
                f"{path}: unknown setting {key!r} (RUNNEL_HOME can only come from the "
                f"environment); known: {', '.join(sorted(set(known) - {'RUNNEL_HOME'}))}"
            )
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigurationError(f"{path}: {key} = {value!r} must be a string or a number")
        values[known[env]] = str(value)
    return values


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings afresh from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    home_env, home_default, home_parse = _SPEC["home"]
    if env.get(home_env):
        values["home"], sources["home"] = home_parse(env[home_env]), "env"
    else:
        values["home"], sources["home"] = home_default(values), "default"
    from_file = _read_config_file(values["home"])
    for name, (var, default, parse) in _SPEC.items():
        if name == "home":
            continue
        if env.get(var):
            values[name], sources[name] = parse(env[var]), "env"
        elif name in from_file:
            values[name], sources[name] = parse(from_file[name]), "config.toml"
        else:
            values[name], sources[name] = default(values), "default"
    return Settings(**values, sources=sources)


_current: Settings | None = None


def get_settings() -> Settings:
    """The settings of this process, read once and kept."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def reset_settings() -> None:
    """Forget the kept settings so the next ``get_settings`` reads them again."""
    global _current
    _current = None


def environment_names() -> dict[str, str]:
    """Setting name -> the environment variable that sets it."""
    return {f.name: _SPEC[f.name][0] for f in fields(Settings) if f.name in _SPEC}
