"""Settings.from_env: every variable parsed once, defaults as DESIGN.md says, and errors
that name the variable at fault (without echoing secrets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chattree.db.engine import create_database
from chattree.settings import Settings, SettingsError

VENV_BIN = Path(sys.executable).parent
SECRET = "s" * 32


def test_defaults_follow_the_design_table() -> None:
    settings = Settings.from_env({})
    assert settings.db_url == "sqlite+aiosqlite:///data/database.db"
    assert settings.signature is None
    assert settings.use_hash is True
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.model_base_url == "http://127.0.0.1:11434/v1"
    assert settings.model_api_key == ""
    assert settings.default_model is None
    assert settings.token_ttl_seconds == 7 * 24 * 3600
    assert settings.login_attempts_per_minute > 0
    assert settings.model_max_reply_seconds == 600
    assert (settings.max_streams_per_user, settings.prompts_per_minute) == (4, 30)
    assert settings.stale_after > settings.heartbeat_interval
    assert settings.log_format == "text"


def test_empty_or_blank_variables_mean_the_default() -> None:
    blank = {"UVICORN_PORT": "", "USE_HASH": "  ", "SIGNATURE": "", "DEFAULT_MODEL": ""}
    assert Settings.from_env(blank) == Settings.from_env({})


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "DB_URL": "postgresql+asyncpg://app@db.internal:5432/chattree",
            "SIGNATURE": SECRET,
            "USE_HASH": "false",
            "UVICORN_HOST": "0.0.0.0",
            "UVICORN_PORT": "9001",
            "MODEL_BASE_URL": "https://api.openai.com/v1",
            "MODEL_API_KEY": "sk-test",
            "DEFAULT_MODEL": "gpt-test",
            "TOKEN_TTL_SECONDS": "3600",
            "MAX_MESSAGE_LENGTH": "5000",
            "MAX_QUERY_DEPTH": "9",
            "MODEL_CONNECT_TIMEOUT": "1.5",
            "MODEL_FIRST_TOKEN_TIMEOUT": "30",
            "MODEL_IDLE_TIMEOUT": "20",
            "MODEL_MAX_REPLY_SECONDS": "300",
            "FLUSH_INTERVAL": "0.5",
            "HEARTBEAT_INTERVAL": "2",
            "STALE_AFTER": "10",
            "SHUTDOWN_GRACE": "0",
            "LOGIN_ATTEMPTS_PER_MINUTE": "4",
            "MAX_STREAMS_PER_USER": "2",
            "PROMPTS_PER_MINUTE": "12",
            "WS_MAX_OPERATIONS": "7",
            "WS_INIT_TIMEOUT": "3",
            "WS_MAX_MESSAGE_BYTES": "65536",
            "WS_PING_INTERVAL": "5",
            "WS_PING_TIMEOUT": "4",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "JSON",
        }
    )
    assert settings == Settings(
        db_url="postgresql+asyncpg://app@db.internal:5432/chattree",
        signature=SECRET,
        use_hash=False,
        host="0.0.0.0",
        port=9001,
        model_base_url="https://api.openai.com/v1",
        model_api_key="sk-test",
        default_model="gpt-test",
        token_ttl_seconds=3600,
        max_message_length=5000,
        max_query_depth=9,
        model_connect_timeout=1.5,
        model_first_token_timeout=30.0,
        model_idle_timeout=20.0,
        model_max_reply_seconds=300.0,
        flush_interval=0.5,
        heartbeat_interval=2.0,
        stale_after=10.0,
        shutdown_grace=0.0,
        login_attempts_per_minute=4,
        max_streams_per_user=2,
        prompts_per_minute=12,
        ws_max_operations=7,
        ws_init_timeout=3.0,
        ws_max_message_bytes=65536,
        ws_ping_interval=5.0,
        ws_ping_timeout=4.0,
        log_level="DEBUG",
        log_format="json",
    )
    assert settings.is_postgres


def test_without_an_argument_the_process_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVICORN_PORT", "8123")
    assert Settings.from_env().port == 8123


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_use_hash_accepts_the_usual_spellings_of_a_boolean(raw: str, expected: bool) -> None:
    assert Settings.from_env({"USE_HASH": raw}).use_hash is expected


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///data/database.db",
        "sqlite+aiosqlite:///:memory:",
        "postgresql+asyncpg://postgres@127.0.0.1:5432/chattree",
    ],
)
def test_async_database_urls_are_accepted(url: str) -> None:
    assert Settings.from_env({"DB_URL": url}).db_url == url


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UVICORN_PORT", "abc"),
        ("UVICORN_PORT", "70000"),
        ("UVICORN_PORT", "0"),
        ("UVICORN_PORT", "-1"),
        ("USE_HASH", "maybe"),
        ("DB_URL", "postgresql://x/y"),
        ("DB_URL", "sqlite:///x.db"),
        ("DB_URL", "mysql+aiomysql://u@h/d"),
        ("DB_URL", "garbage"),
        ("MODEL_BASE_URL", "ftp://x"),
        ("MODEL_BASE_URL", "127.0.0.1:11434/v1"),
        ("SIGNATURE", "s" * 31),
        ("TOKEN_TTL_SECONDS", "0"),
        ("TOKEN_TTL_SECONDS", "-5"),
        ("TOKEN_TTL_SECONDS", "1.5"),
        ("MAX_MESSAGE_LENGTH", "0"),
        ("MAX_QUERY_DEPTH", "deep"),
        ("LOGIN_ATTEMPTS_PER_MINUTE", "0"),
        ("MODEL_CONNECT_TIMEOUT", "-1"),
        ("MODEL_FIRST_TOKEN_TIMEOUT", "0"),
        ("MODEL_IDLE_TIMEOUT", "-0.5"),
        ("MODEL_IDLE_TIMEOUT", "nan"),
        ("MODEL_IDLE_TIMEOUT", "inf"),
        ("FLUSH_INTERVAL", "soon"),
        ("HEARTBEAT_INTERVAL", "-2"),
        ("STALE_AFTER", "0"),
        ("SHUTDOWN_GRACE", "-1"),
        ("EVENT_RETENTION", "0"),
        ("EVENT_RETENTION", "a day"),
        ("MODEL_MAX_REPLY_SECONDS", "0"),
        ("MAX_STREAMS_PER_USER", "0"),
        ("PROMPTS_PER_MINUTE", "-3"),
        ("WS_MAX_OPERATIONS", "many"),
        ("WS_INIT_TIMEOUT", "0"),
        ("WS_MAX_MESSAGE_BYTES", "1.5"),
        ("WS_PING_INTERVAL", "-1"),
        ("WS_PING_TIMEOUT", "never"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_value_is_refused_with_an_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_a_signature_of_32_characters_is_long_enough() -> None:
    assert Settings.from_env({"SIGNATURE": SECRET}).signature == SECRET


def test_a_shutdown_grace_of_zero_is_allowed() -> None:
    assert Settings.from_env({"SHUTDOWN_GRACE": "0"}).shutdown_grace == 0
    assert Settings.from_env({}).event_retention == 24 * 3600
    assert Settings.from_env({"EVENT_RETENTION": "90"}).event_retention == 90


@pytest.mark.parametrize(("heartbeat", "stale"), [("5", "5"), ("5", "4")])
def test_stale_after_must_be_longer_than_the_heartbeat_interval(heartbeat: str, stale: str) -> None:
    with pytest.raises(SettingsError, match="STALE_AFTER") as raised:
        Settings.from_env({"HEARTBEAT_INTERVAL": heartbeat, "STALE_AFTER": stale})
    assert "HEARTBEAT_INTERVAL" in str(raised.value)


def test_a_rejected_signature_is_not_repeated_in_the_error() -> None:
    with pytest.raises(SettingsError, match="SIGNATURE") as raised:
        Settings.from_env({"SIGNATURE": "hunter2-too-short"})
    assert "hunter2" not in str(raised.value)


def test_a_rejected_database_url_does_not_reveal_its_password() -> None:
    with pytest.raises(SettingsError, match="DB_URL") as raised:
        Settings.from_env({"DB_URL": "postgresql://app:hunter2@db.internal/chattree"})
    assert "hunter2" not in str(raised.value)
    assert "asyncpg" in str(raised.value)  # says what to use instead


def test_the_signature_is_not_shown_in_the_repr() -> None:
    settings = Settings.from_env({"SIGNATURE": SECRET, "MODEL_API_KEY": "sk-very-secret"})
    assert SECRET not in repr(settings)
    assert "sk-very-secret" not in repr(settings)


def test_sqlite_path_is_the_database_file_of_a_sqlite_url(tmp_path: Path) -> None:
    db_file = tmp_path / "x.db"
    settings = Settings.from_env({"DB_URL": f"sqlite+aiosqlite:///{db_file}"})
    assert settings.sqlite_path() == db_file
    read_only = f"sqlite+aiosqlite:///file:{db_file}?mode=ro&uri=true"
    assert Settings.from_env({"DB_URL": read_only}).sqlite_path() == db_file
    assert Settings.from_env({"DB_URL": "sqlite+aiosqlite:///:memory:"}).sqlite_path() is None
    postgres = Settings.from_env({"DB_URL": "postgresql+asyncpg://u@h/d"})
    assert postgres.sqlite_path() is None


async def test_the_folder_of_a_sqlite_database_is_created_when_missing(
    tmp_path: Path,
) -> None:
    db_file = tmp_path / "new" / "dir" / "db.db"
    db = create_database(Settings.from_env({"DB_URL": f"sqlite+aiosqlite:///{db_file}"}))
    try:
        assert db_file.parent.is_dir()
    finally:
        await db.dispose()


# Every variable Settings reads, removed from the CLI's environment so only the test's count.
SETTINGS_VARIABLES = frozenset(
    {
        "DB_URL",
        "SIGNATURE",
        "USE_HASH",
        "UVICORN_HOST",
        "UVICORN_PORT",
        "MODEL_BASE_URL",
        "MODEL_API_KEY",
        "DEFAULT_MODEL",
        "TOKEN_TTL_SECONDS",
        "MAX_MESSAGE_LENGTH",
        "MAX_QUERY_DEPTH",
        "MODEL_CONNECT_TIMEOUT",
        "MODEL_FIRST_TOKEN_TIMEOUT",
        "MODEL_IDLE_TIMEOUT",
        "FLUSH_INTERVAL",
        "HEARTBEAT_INTERVAL",
        "STALE_AFTER",
        "SHUTDOWN_GRACE",
        "EVENT_RETENTION",
        "LOGIN_ATTEMPTS_PER_MINUTE",
        "LOG_LEVEL",
    }
)


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    return subprocess.run(
        [str(VENV_BIN / "chattree"), *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_chattree_serve_with_a_bad_port_exits_naming_the_variable(tmp_path: Path) -> None:
    result = run_cli("serve", env={"UVICORN_PORT": "abc"}, cwd=tmp_path)
    assert result.returncode != 0
    assert "UVICORN_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before touching the database


def test_chattree_migrate_with_a_sync_database_url_exits_naming_the_variable(
    tmp_path: Path,
) -> None:
    result = run_cli("migrate", env={"DB_URL": "sqlite:///x.db"}, cwd=tmp_path)
    assert result.returncode != 0
    assert "DB_URL" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_cors_origins_are_a_comma_separated_list_of_origins() -> None:
    settings = Settings.from_env({"CORS_ORIGINS": "https://a.example, http://localhost:5173/"})
    assert settings.cors_origins == ("https://a.example", "http://localhost:5173")
    assert Settings.from_env({}).cors_origins == ()


def test_a_cors_origin_without_a_scheme_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        Settings.from_env({"CORS_ORIGINS": "chat.example.com"})


def test_registrations_per_hour_defaults_to_30_and_must_be_positive() -> None:
    assert Settings.from_env({}).registrations_per_hour == 30
    assert Settings.from_env({"REGISTRATIONS_PER_HOUR": "5"}).registrations_per_hour == 5
    with pytest.raises(SettingsError, match="REGISTRATIONS_PER_HOUR"):
        Settings.from_env({"REGISTRATIONS_PER_HOUR": "0"})


def test_the_context_window_defaults_to_8192_tokens_with_1024_kept_for_the_reply() -> None:
    settings = Settings.from_env({})
    assert (settings.model_context_tokens, settings.model_reply_tokens) == (8192, 1024)
    custom = Settings.from_env({"MODEL_CONTEXT_TOKENS": "32768", "MODEL_REPLY_TOKENS": "4096"})
    assert (custom.model_context_tokens, custom.model_reply_tokens) == (32768, 4096)


@pytest.mark.parametrize(
    "environment",
    [
        {"MODEL_CONTEXT_TOKENS": "255"},
        {"MODEL_CONTEXT_TOKENS": "lots"},
        {"MODEL_REPLY_TOKENS": "0"},
        {"MODEL_CONTEXT_TOKENS": "1024", "MODEL_REPLY_TOKENS": "1024"},
    ],
)
def test_a_context_window_with_no_room_for_a_prompt_is_refused(
    environment: dict[str, str],
) -> None:
    with pytest.raises(SettingsError, match=r"MODEL_(CONTEXT|REPLY)_TOKENS"):
        Settings.from_env(environment)


def test_metrics_are_off_by_default_and_a_token_protects_them() -> None:
    assert Settings.from_env({}).metrics is False
    settings = Settings.from_env({"METRICS": "on", "METRICS_TOKEN": "t" * 16})
    assert settings.metrics is True and settings.metrics_token == "t" * 16
    assert "t" * 16 not in repr(settings)


def test_a_metrics_token_without_metrics_on_names_both_variables() -> None:
    with pytest.raises(SettingsError, match="METRICS_TOKEN") as raised:
        Settings.from_env({"METRICS_TOKEN": "t" * 16})
    assert "METRICS=on" in str(raised.value)


def test_a_short_metrics_token_is_refused_without_repeating_it() -> None:
    with pytest.raises(SettingsError, match="METRICS_TOKEN") as raised:
        Settings.from_env({"METRICS": "on", "METRICS_TOKEN": "hunter2"})
    assert "hunter2" not in str(raised.value)


def test_a_direct_database_url_goes_with_a_postgresql_db_url() -> None:
    direct = "postgresql+asyncpg://app:pw@db.internal:5432/chattree"
    pooled = "postgresql+asyncpg://app:pw@pgbouncer.internal:6432/chattree"
    settings = Settings.from_env({"DB_URL": pooled, "DB_DIRECT_URL": direct})
    assert settings.db_direct_url == direct
    assert "db.internal" not in repr(settings)
    with pytest.raises(SettingsError, match="DB_DIRECT_URL") as raised:
        Settings.from_env({"DB_DIRECT_URL": direct})
    assert "PgBouncer" in str(raised.value)


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:///x.db", "postgresql://app:hunter2@db/chattree", "nonsense"]
)
def test_a_direct_database_url_must_be_async_postgresql(url: str) -> None:
    with pytest.raises(SettingsError, match="DB_DIRECT_URL") as raised:
        Settings.from_env(
            {"DB_URL": "postgresql+asyncpg://app@pooler/chattree", "DB_DIRECT_URL": url}
        )
    assert "hunter2" not in str(raised.value)
