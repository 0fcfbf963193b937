"""Effective configuration: CLI flags over environment over a TOML file.

Secrets are held as `SecretStr` and only ever leave this module redacted. The
`describe()` view says where each value came from, for `amc-tui config`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.errors import ConfigError

APP_NAME = "amc-tui"
REDACTED = "********"


def config_dir() -> Path:
    """Return the platform's configuration directory for amc-tui."""
    return Path(platformdirs.user_config_dir(APP_NAME))


def default_config_path() -> Path:
    """Return the TOML file read when no `--config` is given."""
    return config_dir() / "config.toml"


def state_dir() -> Path:
    """Return the directory for logs, the audit log and caches."""
    return Path(platformdirs.user_state_dir(APP_NAME))


class Settings(BaseSettings):
    """Every setting the console reads, with its environment name."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    amc_api_url: str | None = Field(None, validation_alias="AMC_API_URL")
    redis_url: SecretStr | None = Field(None, validation_alias="REDIS_URL")
    discovery_queue: str = Field(
        "amc_discovery", validation_alias="AMC_DISCOVERY_QUEUE"
    )
    polygon_api_key: SecretStr | None = Field(None, validation_alias="POLYGON_API_KEY")
    polygon_base_url: str = Field(
        "https://api.polygon.io", validation_alias="POLYGON_BASE_URL"
    )
    polygon_calls_per_minute: int = Field(
        5, validation_alias="POLYGON_CALLS_PER_MINUTE"
    )
    alpaca_api_key: SecretStr | None = Field(None, validation_alias="ALPACA_API_KEY")
    alpaca_secret_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ALPACA_SECRET_KEY", "ALPACA_API_SECRET")
    )
    alpaca_paper: bool = Field(True, validation_alias="ALPACA_PAPER")
    alpaca_base_url: str | None = Field(None, validation_alias="ALPACA_BASE_URL")
    live_trading_env: bool = Field(False, validation_alias="AMC_LIVE_TRADING")
    live: bool = Field(False, validation_alias="--live")
    read_only: bool = Field(False, validation_alias="AMC_READ_ONLY")
    refresh_interval: float = Field(5.0, gt=0, validation_alias="AMC_REFRESH_INTERVAL")
    wait_sla_s: float = Field(120.0, gt=0, validation_alias="AMC_WAIT_SLA")
    heartbeat_stale_s: float = Field(
        180.0, gt=0, validation_alias="AMC_HEARTBEAT_STALE"
    )
    inprocess_grace_s: float = Field(
        120.0, ge=0, validation_alias="AMC_INPROCESS_GRACE"
    )
    strategy: str = Field("bms", validation_alias="AMC_STRATEGY")
    max_order_usd: float = Field(100.0, gt=0, validation_alias="AMC_MAX_ORDER_USD")
    max_position_usd: float = Field(
        500.0, gt=0, validation_alias="AMC_MAX_POSITION_USD"
    )
    kill_switch: bool = Field(False, validation_alias="AMC_KILL_SWITCH")
    borrow_csv: str | None = Field(None, validation_alias="AMC_BORROW_CSV")
    bell: bool = Field(False, validation_alias="AMC_BELL")
    request_timeout_s: float = Field(5.0, gt=0, validation_alias="AMC_REQUEST_TIMEOUT")
    audit_log: str = Field(
        str(state_dir() / "audit.log"), validation_alias="AMC_AUDIT_LOG"
    )
    log_file: str = Field(
        str(state_dir() / "amc-tui.log"), validation_alias="AMC_LOG_FILE"
    )

    @property
    def live_trading_allowed(self) -> bool:
        """True only when both `--live` and `AMC_LIVE_TRADING=1` are given.

        The third condition, typing the symbol, is checked at order time.
        """
        return self.live and self.live_trading_env


# Live trading needs two deliberate acts: the `--live` flag on this command line
# and AMC_LIVE_TRADING=1 in the environment. Neither may come from anywhere else
# (a config file, or an environment variable standing in for the flag).
SINGLE_SOURCE = {"live": "flag", "live_trading_env": "env"}

SECRET_FIELDS = frozenset(
    {"redis_url", "polygon_api_key", "alpaca_api_key", "alpaca_secret_key"}
)


@dataclass(frozen=True)
class SettingValue:
    """One effective setting, redacted, with where it came from."""

    name: str
    env_name: str
    value: str
    source: str


_SECRET_QUERY = re.compile(r"((?:password|passwd|pwd|token|key|secret)=)[^&#]*", re.I)


def redact_url(url: str) -> str:
    """Hide the password (and a user that looks like a token) in a URL.

    Split by hand rather than with `urlsplit`: a password may hold `#`, `/`,
    `?` or `@`, which a URL parser would take for other parts and print.
    """
    hidden = rf"\g<1>{REDACTED}"
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _SECRET_QUERY.sub(hidden, url)
    if "@" in rest:
        auth, _, rest = rest.rpartition("@")
        user, colon, _ = auth.partition(":")
        rest = f"{user}:{REDACTED}@{rest}" if colon else f"{REDACTED}@{rest}"
    return f"{scheme}://{_SECRET_QUERY.sub(hidden, rest)}"


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, and the Redis password, for scrubbing text."""
    values = []
    for name in SECRET_FIELDS:
        raw = getattr(settings, name)
        secret = raw.get_secret_value() if isinstance(raw, SecretStr) else ""
        if not secret:
            continue
        if name == "redis_url":
            password = _url_password(secret)
            values += [password] if password else []
        else:
            values.append(secret)
    return [v for v in values if len(v) >= 4]


def _url_password(url: str) -> str:
    auth = url.partition("://")[2].rpartition("@")[0]
    return auth.partition(":")[2]


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of a secret in `text` (e.g. echoed by a server)."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _env_names(name: str) -> tuple[str, ...]:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(a) for a in alias.choices)
    return (str(alias),)


def read_toml(path: Path) -> dict[str, Any]:
    """Read the config file; a missing file is an empty config."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return {k.replace("-", "_"): v for k, v in data.items()}


def _layered(
    cli: Mapping[str, Any], env: Mapping[str, str], toml: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge the three layers by field name, remembering each winner's source."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in Settings.model_fields:
        only = SINGLE_SOURCE.get(name)
        if cli.get(name) is not None and only in (None, "flag"):
            values[name], sources[name] = cli[name], "flag"
            continue
        env_hit = next((n for n in _env_names(name) if n in env), None)
        if env_hit is not None and only in (None, "env"):
            values[name], sources[name] = env[env_hit], f"env {env_hit}"
        elif name in toml and only is None:
            values[name], sources[name] = toml[name], "config file"
        else:
            sources[name] = "default"
    return values, sources


class LoadedSettings:
    """Settings plus the provenance of each value."""

    def __init__(self, settings: Settings, sources: dict[str, str], path: Path):
        self.settings = settings
        self.sources = sources
        self.path = path

    def describe(self) -> list[SettingValue]:
        """Return every setting, redacted, in declaration order."""
        rows = []
        for name in Settings.model_fields:
            raw = getattr(self.settings, name)
            rows.append(
                SettingValue(
                    name, _env_names(name)[0], _show(name, raw), self.sources[name]
                )
            )
        return rows


def _show(name: str, raw: Any) -> str:
    if raw is None:
        return "(unset)"
    if isinstance(raw, SecretStr):
        secret = raw.get_secret_value()
        if name == "redis_url":
            return redact_url(secret)
        return REDACTED if secret else "(empty)"
    return str(raw)


def load_settings(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> LoadedSettings:
    """Build the effective settings from flags, environment and the TOML file.

    Raises:
        ConfigError: a value is invalid; the message names the setting.
    """
    path = config_path or default_config_path()
    env = os.environ if env is None else env
    values, sources = _layered(cli or {}, env, read_toml(path))
    try:
        settings = Settings.model_validate(values, by_name=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid value for {field}: {first['msg']}") from None
    return LoadedSettings(settings, sources, path)
