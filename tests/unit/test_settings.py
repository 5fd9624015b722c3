"""load_settings: defaults, typed parsing of environment strings, and start-up errors that name the variable."""
from __future__ import annotations

from pathlib import Path

import pytest

from config.flower import flower_options
from config.settings import EXAMPLE_SECRET_KEY, PROJECT_ROOT, Settings, SettingsError, load_settings
from jobs.celery_app import celery_config


def settings_error(environ: dict[str, str]) -> str:
    """The SettingsError message load_settings raises for `environ` (fails the test if it accepts it)."""
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return str(caught.value)


def test_defaults_without_any_variable() -> None:
    settings = load_settings({})
    assert settings.app_env == "development"
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672//"
    assert settings.web_port == 8000
    assert settings.max_worker_lost == 3
    assert settings.time_limits("diagnostics") == (120, 150)
    assert settings.time_limits("etl") == (1500, 1530)


def test_default_database_is_an_absolute_sqlite_path_under_the_project_var_dir() -> None:
    url = load_settings({}).resolved_database_url
    assert url.startswith("sqlite:///")
    path = Path(url.removeprefix("sqlite:///"))
    assert path.is_absolute()
    assert path == PROJECT_ROOT / "var" / "app.db"


def test_relative_sqlite_url_is_anchored_at_the_project_root_and_absolute_one_kept(tmp_path: Path) -> None:
    assert load_settings({"DATABASE_URL": "sqlite:///data/jobs.db"}).resolved_database_url == (
        f"sqlite:///{PROJECT_ROOT / 'data' / 'jobs.db'}"
    )
    absolute = f"sqlite:///{tmp_path / 'jobs.db'}"
    assert load_settings({"DATABASE_URL": absolute}).resolved_database_url == absolute


def test_environment_strings_are_parsed_to_typed_values() -> None:
    settings = load_settings({
        "WEB_PORT": "9001",
        "BROKER_CONNECT_TIMEOUT_S": "0.25",
        "MAX_WORKER_LOST": "5",
        "APP_ENV": "test",
        "SECRET_KEY": "k" * 40,
        "LOG_LEVEL": "DEBUG",
        "RELAY_GRACE_S": "0",
    })
    assert settings.web_port == 9001 and isinstance(settings.web_port, int)
    assert settings.broker_connect_timeout_s == 0.25 and isinstance(settings.broker_connect_timeout_s, float)
    assert settings.max_worker_lost == 5
    assert settings.app_env == "test"
    assert settings.log_level == "DEBUG"
    assert settings.relay_grace_s == 0.0


def test_reads_the_process_environment_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "9123")
    assert load_settings().web_port == 9123
    assert load_settings({}).web_port == 8000  # an explicit mapping replaces the process environment


def test_keyword_overrides_win_over_the_environment() -> None:
    assert load_settings({"WEB_PORT": "9001"}, web_port=9002).web_port == 9002


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEB_PORT", "abc"),
        ("WEB_PORT", "70000"),
        ("MAX_WORKER_LOST", "0"),
        ("MAX_WORKER_LOST", "-1"),
        ("BROKER_CONNECT_TIMEOUT_S", "soon"),
        ("BROKER_CONNECT_TIMEOUT_S", "0"),
        ("JOB_MAX_RETRIES", "-1"),
        ("APP_ENV", "prod"),
        ("LOG_LEVEL", "LOUD"),
        ("TIME_LIMIT_GRACE_S", "0"),
    ],
)
def test_malformed_value_is_refused_naming_the_variable(variable: str, value: str) -> None:
    message = settings_error({variable: value})
    assert message.startswith("invalid configuration")
    assert variable in message


def test_several_malformed_values_are_all_named() -> None:
    message = settings_error({"WEB_PORT": "abc", "MAX_WORKER_LOST": "0"})
    assert "WEB_PORT" in message and "MAX_WORKER_LOST" in message


def test_max_worker_lost_must_stay_below_the_queue_delivery_limit() -> None:
    assert load_settings({"MAX_WORKER_LOST": "19"}).max_worker_lost == 19
    assert "MAX_WORKER_LOST" in settings_error({"MAX_WORKER_LOST": "20"})


@pytest.mark.parametrize("family", ["diagnostics", "invoices", "etl", "notifications"])
def test_time_limit_plus_grace_reaching_the_consumer_timeout_is_refused(family: str) -> None:
    limit = f"{family.upper()}_TIME_LIMIT_S"
    base = {"BROKER_CONSUMER_TIMEOUT_S": "1800", "TIME_LIMIT_GRACE_S": "30"}
    assert load_settings({**base, limit: "1769"}).time_limits(family) == (1769, 1799)
    message = settings_error({**base, limit: "1770"})  # 1770 + 30 == 1800: not below the timeout
    assert limit in message
    assert "TIME_LIMIT_GRACE_S" in message
    assert "BROKER_CONSUMER_TIMEOUT_S" in message


def test_lowering_the_consumer_timeout_below_a_default_hard_limit_is_refused() -> None:
    message = settings_error({"BROKER_CONSUMER_TIMEOUT_S": "150"})  # diagnostics: 120 + 30 = 150
    assert "DIAGNOSTICS_TIME_LIMIT_S" in message and "BROKER_CONSUMER_TIMEOUT_S" in message


RANDOM_KEY = "3f9c2e" * 6


@pytest.mark.parametrize("app_env", ["production", "test"])
def test_outside_development_the_example_secret_key_is_refused(app_env: str) -> None:
    assert "SECRET_KEY" in settings_error({"APP_ENV": app_env, "FLOWER_BASIC_AUTH": "ops:s3cret"})
    message = settings_error({"APP_ENV": app_env, "SECRET_KEY": EXAMPLE_SECRET_KEY, "FLOWER_BASIC_AUTH": "ops:s3cret"})
    assert "SECRET_KEY" in message and "example" in message
    settings = load_settings({"APP_ENV": app_env, "SECRET_KEY": RANDOM_KEY, "FLOWER_BASIC_AUTH": "ops:s3cret"})
    assert settings.app_env == app_env


def test_outside_development_a_short_secret_key_is_refused() -> None:
    message = settings_error({"APP_ENV": "production", "SECRET_KEY": "short-0123456789", "FLOWER_BASIC_AUTH": "a:b"})
    assert "SECRET_KEY" in message and "32" in message


@pytest.mark.parametrize("auth", ["", "ops-without-password"])
def test_production_requires_flower_credentials(auth: str) -> None:
    environ = {"APP_ENV": "production", "SECRET_KEY": RANDOM_KEY, "FLOWER_BASIC_AUTH": auth}
    assert "FLOWER_BASIC_AUTH" in settings_error(environ)
    assert load_settings({"FLOWER_BASIC_AUTH": auth}).flower_basic_auth == auth  # development does not insist


def test_example_secret_key_is_allowed_in_development_only() -> None:
    assert load_settings({"APP_ENV": "development"}).secret_key == EXAMPLE_SECRET_KEY
    assert load_settings({}).secret_key == EXAMPLE_SECRET_KEY


@pytest.mark.parametrize(
    "name", ["LOGIN_RATE_LIMIT", "LOGIN_RATE_LIMIT_PER_IP", "SUBMIT_RATE_LIMIT_PER_TOKEN", "SUBMIT_RATE_LIMIT_PER_USER"]
)
def test_a_malformed_rate_limit_is_refused_naming_the_variable(name: str) -> None:
    message = settings_error({name: "lots per fortnight"})
    assert name in message and "lots per fortnight" in message
    assert getattr(load_settings({name: "7 per 2 minutes"}), name.lower()) == "7 per 2 minutes"


@pytest.mark.parametrize(
    "url",
    ["mysql://user@127.0.0.1/jobs", "postgres://user@127.0.0.1/jobs", "oracle://u@h/db", "redis://127.0.0.1/0", ""],
)
def test_unsupported_database_url_is_refused(url: str) -> None:
    assert "DATABASE_URL" in settings_error({"DATABASE_URL": url})


@pytest.mark.parametrize(
    "url", ["sqlite:///var/app.db", "postgresql+psycopg://postgres@127.0.0.1:5432/jobs", "postgresql://u@h/jobs"]
)
def test_supported_database_url_is_accepted(url: str) -> None:
    assert load_settings({"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("url", ["postgresql+psycopg2://u@127.0.0.1/jobs", "postgresqlx://u@127.0.0.1/jobs"])
def test_postgresql_url_with_an_unsupported_driver_is_refused(url: str) -> None:
    assert "DATABASE_URL" in settings_error({"DATABASE_URL": url})


def test_retry_backoff_max_below_base_is_refused_naming_both() -> None:
    message = settings_error({"RETRY_BACKOFF_BASE_S": "10", "RETRY_BACKOFF_MAX_S": "5"})
    assert "RETRY_BACKOFF_MAX_S" in message and "RETRY_BACKOFF_BASE_S" in message
    assert load_settings({"RETRY_BACKOFF_BASE_S": "5", "RETRY_BACKOFF_MAX_S": "5"}).retry_backoff_max_s == 5.0


def test_relative_var_dir_is_anchored_at_the_project_root(tmp_path: Path) -> None:
    assert load_settings({}).var_dir == PROJECT_ROOT / "var"
    assert load_settings({"VAR_DIR": "var"}).var_dir == PROJECT_ROOT / "var"
    assert load_settings({"VAR_DIR": str(tmp_path)}).var_dir == tmp_path


def test_unknown_environment_variables_are_ignored() -> None:
    settings = load_settings({"NOT_A_SETTING": "x", "LOG_STYLE": "json", "PATH": "/bin", "WEB_PORT": "8100"})
    assert settings.web_port == 8100
    assert not hasattr(settings, "not_a_setting")


def test_lower_case_names_are_not_settings() -> None:
    assert load_settings({"web_port": "abc"}).web_port == 8000


def test_env_example_lists_every_setting_with_a_value_the_settings_accept() -> None:
    from dotenv import dotenv_values

    example = dotenv_values(PROJECT_ROOT / ".env.example")
    assert set(example) == {name.upper() for name in Settings.model_fields}
    load_settings({k: v for k, v in example.items() if v is not None})  # every example value is valid


def test_task_events_are_off_until_a_monitor_or_the_setting_turns_them_on() -> None:
    from jobs.celery_app import celery_config

    assert celery_config(load_settings({}))["worker_send_task_events"] is False
    assert celery_config(load_settings({"WORKER_TASK_EVENTS": "true"}))["worker_send_task_events"] is True
    assert celery_config(load_settings({}))["task_send_sent_event"] is False


def test_worker_memory_and_flower_task_limits_reach_celery_and_flower() -> None:
    settings = load_settings({}, worker_max_memory_mb=300, flower_max_tasks=5000)
    assert celery_config(settings)["worker_max_memory_per_child"] == 300 * 1024  # Celery counts KiB
    assert flower_options(settings)["max_tasks"] == 5000
