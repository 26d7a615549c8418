"""Config is built once from the environment; a malformed value names its variable."""

from __future__ import annotations

import pytest

from upload_broker.config import Config
from upload_broker.errors import ConfigError

BASE = {"BROKER_JWT_SECRET": "s" * 32}


def test_defaults():
    config = Config.from_env(BASE)
    assert config.vod_region == "cn-shanghai" and config.vod_endpoint is None
    assert config.credentials is None
    assert config.ledger_url.startswith("sqlite:///")
    assert config.max_refreshes == 20 and config.refresh_window_hours == 168
    assert config.upstream_budget_seconds == 8


def test_full_environment():
    config = Config.from_env({
        **BASE,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret",
        "ALIBABA_CLOUD_SECURITY_TOKEN": "token",
        "VOD_REGION": "ap-southeast-1", "VOD_ENDPOINT": "http://127.0.0.1:9001/",
        "BROKER_ALLOWED_ORIGINS": "https://a.example.com, https://b.example.com",
        "BROKER_LEDGER_URL": "redis://:pw@10.0.0.5:6379/2",
        "PORT": "8080",
    })
    assert config.credentials.security_token == "token"
    assert config.vod_endpoint == "http://127.0.0.1:9001"
    assert config.allowed_origins == ("https://a.example.com", "https://b.example.com")
    assert config.port == 8080


def test_secrets_do_not_appear_in_repr():
    config = Config.from_env({**BASE, "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
                              "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "very-secret-value"})
    assert "very-secret-value" not in repr(config) and "s" * 32 not in repr(config)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({}, "BROKER_JWT_SECRET"),
        ({"BROKER_JWT_SECRET": "short"}, "BROKER_JWT_SECRET"),
        ({**BASE, "BROKER_JWKS_URL": "https://idp.example.com/jwks"}, "BROKER_JWKS_URL"),
        ({"BROKER_JWT_PUBLIC_KEY": "not a pem"}, "BROKER_JWT_PUBLIC_KEY"),
        ({**BASE, "ALIBABA_CLOUD_ACCESS_KEY_ID": "id"}, "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        ({**BASE, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}, "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ({**BASE, "VOD_REGION": "Shanghai!"}, "VOD_REGION"),
        ({**BASE, "VOD_ENDPOINT": "vod.cn-shanghai.aliyuncs.com"}, "VOD_ENDPOINT"),
        ({**BASE, "VOD_ENDPOINT": "http://127.0.0.1:port"}, "VOD_ENDPOINT"),
        ({**BASE, "VOD_CALLBACK_URL": "ftp://x"}, "VOD_CALLBACK_URL"),
        ({**BASE, "ICE_UPLOAD_TARGET_CONFIG": "[1]"}, "ICE_UPLOAD_TARGET_CONFIG"),
        ({**BASE, "ICE_UPLOAD_TARGET_CONFIG": '{"StorageType":"vod","StorageLocation":"x"}'},
         "ICE_UPLOAD_TARGET_CONFIG"),
        ({**BASE, "ICE_UPLOAD_TARGET_CONFIG": '{"StorageType":"oss"}'}, "ICE_UPLOAD_TARGET_CONFIG"),
        ({**BASE, "ICE_REGION": "cn-hangzhou"}, "ICE_REGION"),  # CreateUploadMedia: Shanghai, Beijing, Shenzhen
        ({**BASE, "FC_FUNCTION_NAME": "upload-broker-create-upload-video"}, "BROKER_LEDGER_URL"),  # SQLite on FC
        ({**BASE, "FC_FUNCTION_NAME": "f", "BROKER_LEDGER_URL": "sqlite:///tmp/l.db"}, "BROKER_LEDGER_URL"),
        ({**BASE, "BROKER_ALLOWED_ORIGINS": "app.example.com"}, "BROKER_ALLOWED_ORIGINS"),
        ({**BASE, "BROKER_ALLOWED_ORIGINS": "https://a.example.com/path"}, "BROKER_ALLOWED_ORIGINS"),
        ({**BASE, "BROKER_LEDGER_URL": "postgres://x"}, "BROKER_LEDGER_URL"),
        ({**BASE, "BROKER_LEDGER_URL": "redis://host:6379/zero"}, "BROKER_LEDGER_URL"),
        ({**BASE, "BROKER_LEDGER_URL": "sqlite:///"}, "BROKER_LEDGER_URL"),
        ({**BASE, "BROKER_QUOTA_CREATES_PER_DAY": "ten"}, "BROKER_QUOTA_CREATES_PER_DAY"),
        ({**BASE, "BROKER_QUOTA_BYTES_PER_DAY": "-1"}, "BROKER_QUOTA_BYTES_PER_DAY"),
        ({**BASE, "BROKER_UPSTREAM_BUDGET_SECONDS": "0"}, "BROKER_UPSTREAM_BUDGET_SECONDS"),
        ({**BASE, "PORT": "70000"}, "PORT"),
        ({**BASE, "WANGSU_ACCESS_KEY": "k"}, "WANGSU_SECRET_KEY"),
    ],
)
def test_malformed_settings_name_their_variable(environ, variable):
    with pytest.raises(ConfigError) as error:
        Config.from_env(environ)
    assert error.value.variable == variable
    assert str(error.value).startswith(variable)


def test_a_function_with_a_malformed_setting_fails_at_start(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", "import functions.create_upload_video.index"],
        cwd=root, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "BROKER_JWT_SECRET": "s" * 32, "VOD_REGION": "not a region"},
    )
    assert result.returncode != 0
    assert "VOD_REGION" in result.stderr


def test_a_shared_ledger_is_accepted_on_function_compute():
    config = Config.from_env({**BASE, "FC_FUNCTION_NAME": "f", "BROKER_LEDGER_URL": "redis://10.0.0.5:6379/0"})
    assert config.ledger_url == "redis://10.0.0.5:6379/0"


def test_the_sqlite_refusal_on_function_compute_says_what_to_set():
    with pytest.raises(ConfigError) as error:
        Config.from_env({**BASE, "FC_FUNCTION_NAME": "f"})
    assert "BROKER_LEDGER_URL" in str(error.value) and "share the ledger" in str(error.value)


def test_an_oss_upload_target_is_accepted():
    value = '{"StorageType": "oss", "StorageLocation": "outin-1.oss-cn-shanghai.aliyuncs.com"}'
    config = Config.from_env({**BASE, "ICE_UPLOAD_TARGET_CONFIG": value})
    assert config.ice_upload_target_config == value.replace(": ", ":").replace(", ", ",")


# --- VOD's callbacks and source replacement (#13) ------------------------------------------------------------

CALLBACK = {**BASE, "VOD_CALLBACK_URL": "https://broker.example.com/v1/callbacks/vod/"}


def test_the_callback_url_is_kept_exactly_as_the_vod_console_has_it():
    # VOD signs over the URL's text: a trailing slash stripped here would fail every signature.
    config = Config.from_env({**CALLBACK, "VOD_CALLBACK_AUTH_KEY": "Abc123xyz"})
    assert config.vod_callback_url == "https://broker.example.com/v1/callbacks/vod/"
    assert config.vod_callback_auth_keys == ("Abc123xyz",)


def test_two_keys_while_rotating():
    config = Config.from_env({**CALLBACK, "VOD_CALLBACK_AUTH_KEY": "NewKey123, OldKey456"})
    assert config.vod_callback_auth_keys == ("NewKey123", "OldKey456")


@pytest.mark.parametrize("key", [
    "alllowercase1", "ALLUPPERCASE1", "NoDigitsHere", "Has space1A", "A1b" + "x" * 30, "Abc123,Def456,Ghi789",
    "Abc-123", "Ключ1Aa", "Abc123,",
])
def test_a_key_the_vod_console_would_not_take_names_the_variable(key):
    with pytest.raises(ConfigError) as refused:
        Config.from_env({**CALLBACK, "VOD_CALLBACK_AUTH_KEY": key})
    assert refused.value.variable == "VOD_CALLBACK_AUTH_KEY"
    assert key not in str(refused.value)  # a key is a secret: the message never repeats it


def test_a_key_without_the_url_it_signs_names_the_url():
    with pytest.raises(ConfigError) as refused:
        Config.from_env({**BASE, "VOD_CALLBACK_AUTH_KEY": "Abc123xyz"})
    assert refused.value.variable == "VOD_CALLBACK_URL"


def test_the_callback_key_stays_out_of_repr():
    config = Config.from_env({**CALLBACK, "VOD_CALLBACK_AUTH_KEY": "Secret123Key"})
    assert "Secret123Key" not in repr(config)


@pytest.mark.parametrize(("value", "allowed"), [("true", True), ("TRUE", True), ("1", True), ("false", False),
                                                ("0", False), ("", False)])
def test_source_replacement_is_off_unless_said(value, allowed):
    assert Config.from_env({**BASE, "BROKER_ALLOW_SOURCE_REPLACE": value}).allow_source_replace is allowed
    assert Config.from_env(BASE).allow_source_replace is False


def test_a_word_that_is_not_true_or_false_names_the_variable():
    with pytest.raises(ConfigError) as refused:
        Config.from_env({**BASE, "BROKER_ALLOW_SOURCE_REPLACE": "maybe"})
    assert refused.value.variable == "BROKER_ALLOW_SOURCE_REPLACE"
