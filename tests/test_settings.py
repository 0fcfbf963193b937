"""Configuration precedence, aliases and redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import ConfigError
from services.settings import REDACTED, load_settings, redact_url


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flag_beats_env_beats_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'discovery_queue = "from_file"\nrefresh_interval = 9\n')
    env = {"AMC_DISCOVERY_QUEUE": "from_env"}
    loaded = load_settings({"discovery_queue": "from_flag"}, env, path)
    assert loaded.settings.discovery_queue == "from_flag"
    assert loaded.sources["discovery_queue"] == "flag"
    loaded = load_settings({}, env, path)
    assert loaded.settings.discovery_queue == "from_env"
    assert loaded.sources["discovery_queue"] == "env AMC_DISCOVERY_QUEUE"
    assert loaded.settings.refresh_interval == 9
    assert loaded.sources["refresh_interval"] == "config file"


def test_defaults_match_the_real_system(tmp_path: Path) -> None:
    settings = load_settings({}, {}, tmp_path / "missing.toml").settings
    assert settings.discovery_queue == "amc_discovery"
    assert settings.alpaca_paper is True
    assert settings.max_order_usd == 100
    assert settings.live_trading_allowed is False


def test_alpaca_secret_accepts_the_name_the_real_code_reads(tmp_path: Path) -> None:
    loaded = load_settings({}, {"ALPACA_API_SECRET": "s3cr3t"}, tmp_path / "none")
    assert loaded.settings.alpaca_secret_key is not None
    assert loaded.settings.alpaca_secret_key.get_secret_value() == "s3cr3t"
    assert loaded.sources["alpaca_secret_key"] == "env ALPACA_API_SECRET"


def test_describe_redacts_every_secret(tmp_path: Path) -> None:
    env = {
        "REDIS_URL": "redis://:hunter2@redis.example:6380/0",
        "POLYGON_API_KEY": "pk_live_123",
        "ALPACA_API_KEY": "AKXYZ",
        "ALPACA_SECRET_KEY": "sk_abc",
    }
    text = repr(load_settings({}, env, tmp_path / "none").describe())
    for secret in ("hunter2", "pk_live_123", "AKXYZ", "sk_abc"):
        assert secret not in text
    assert "redis.example:6380" in text


def test_redact_url_hides_password_and_token_users() -> None:
    assert redact_url("redis://user:pw@h:1/0") == f"redis://user:{REDACTED}@h:1/0"
    assert "tok" not in redact_url("https://tok@h/")
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


def test_live_needs_flag_and_environment(tmp_path: Path) -> None:
    none = tmp_path / "none"
    assert not load_settings({"live": True}, {}, none).settings.live_trading_allowed
    env_only = load_settings({}, {"AMC_LIVE_TRADING": "1"}, none)
    assert not env_only.settings.live_trading_allowed
    both = load_settings({"live": True}, {"AMC_LIVE_TRADING": "1"}, none)
    assert both.settings.live_trading_allowed


def test_invalid_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="refresh_interval"):
        load_settings({}, {"AMC_REFRESH_INTERVAL": "-1"}, tmp_path / "none")
    bad = write_toml(tmp_path, "this is = not toml [")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, {}, bad)


def test_live_flag_and_live_env_come_from_nowhere_else(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "live = true\nlive_trading_env = true\n")
    env = {"--live": "1", "AMC_TUI_LIVE_FLAG": "1", "AMC_LIVE_TRADING": "0"}
    settings = load_settings({"live_trading_env": True}, env, path).settings
    assert not settings.live
    assert not settings.live_trading_env
    assert not settings.live_trading_allowed


def test_urls_with_awkward_passwords_are_redacted() -> None:
    for url in (
        "redis://:HASH#leak6@h:16403/0",
        "redis://:a/b?c@h:1/0",
        "redis://h:1/0?password=QPASS&db=1",
        "redis://:pw@h:abc/0",
    ):
        shown = redact_url(url)
        assert not any(s in shown for s in ("leak6", "a/b?c", "QPASS", ":pw@"))


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "y", "2", "off"])
def test_any_decoding_redis_url_is_refused(value: str) -> None:
    from services.redis_conn import connect

    with pytest.raises(ConfigError, match="decode_responses"):
        connect(f"redis://127.0.0.1:1/0?decode_responses={value}")
