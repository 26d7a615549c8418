"""The broker's configuration: one typed, validated object built once from the environment.

Nobody reads ``os.environ`` in a handler. ``Config.from_env()`` runs at cold start; a malformed value
raises :class:`ConfigError` naming the variable, which stops the function before it serves anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from upload_broker.errors import ConfigError
from upload_broker.ledger import TABLESTORE_SCHEMES, parse_tablestore_url

_REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
# ICE CreateUploadMedia: "本接口目前仅支持华东 2(上海)、华北 2(北京)、华南 1(深圳)地域"
# (https://help.aliyun.com/document_detail/440767.html, usage limits).
ICE_UPLOAD_REGIONS = ("cn-shanghai", "cn-beijing", "cn-shenzhen")
# VOD's callback authentication key: "up to 32 characters in length and must contain uppercase letters,
# lowercase letters, and digits" (SetMessageCallback, AuthKey). Two keys, comma-separated, are both accepted
# while the console's key is rotated ("HTTP callback authentication" advises accepting both for a while).
_CALLBACK_KEY = re.compile(r"(?=[^,]*[A-Z])(?=[^,]*[a-z])(?=[^,]*[0-9])[A-Za-z0-9]{1,32}")
CALLBACK_KEY_RULE = ("expected the VOD console's authentication key (up to 32 characters, with upper-case and "
                     "lower-case letters and digits), or two of them separated by a comma while rotating")
# How tokens are verified: exactly one of these is set (the operator's own key material).
TOKEN_SETTINGS = ("BROKER_JWT_SECRET", "BROKER_JWT_PUBLIC_KEY", "BROKER_JWKS_URL")


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, with the STS token when the pair is temporary. ``repr`` hides the secret."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Config:
    """Every setting the broker reads, typed. Build it with :meth:`from_env`; tests build it directly."""

    # The server's own credentials; None on Function Compute, where the role's come per invocation.
    credentials: Credentials | None = None

    vod_region: str = "cn-shanghai"
    vod_endpoint: str | None = None
    ice_region: str = "cn-shanghai"
    ice_endpoint: str | None = None

    wangsu_access_key: str | None = None
    wangsu_secret_key: str | None = field(default=None, repr=False)
    wangsu_endpoint: str = "https://api.cloudv.haplat.net"
    wangsu_domain: str | None = None
    wangsu_workflow_id: str | None = None
    wangsu_watermark_name: str | None = None
    wangsu_transcode_combine_name: str | None = None
    wangsu_subtitle_id: str | None = None

    # Operator policy applied to every VOD create.
    vod_template_group_id: str | None = None
    vod_workflow_id: str | None = None
    vod_storage_location: str | None = None
    vod_app_id: str | None = None
    vod_callback_url: str | None = None
    # The key VOD signs its HTTP callbacks with (console: Callback settings, authentication key); without
    # it /v1/callbacks/vod refuses every callback.
    vod_callback_auth_keys: tuple[str, ...] = field(default=(), repr=False)

    # Operator policy applied to every ICE create.
    ice_app_id: str | None = None
    ice_entity_id: str | None = None
    ice_workflow_id: str | None = None
    ice_upload_target_config: str | None = None
    ice_callback_url: str | None = None

    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = 60

    allowed_origins: tuple[str, ...] = ()
    ledger_url: str = "sqlite:///broker-ledger.sqlite3"

    upstream_connect_timeout: float = 3.0
    upstream_read_timeout: float = 5.0
    upstream_budget_seconds: float = 8.0

    quota_creates_per_day: int | None = None
    quota_bytes_per_day: int | None = None
    rate_per_minute: int | None = None
    max_refreshes: int = 20
    refresh_window_hours: float = 168.0
    admin_scope: str | None = None
    # Whether an owner may refresh (and so overwrite) an upload whose source the upstream already holds.
    allow_source_replace: bool = False

    port: int = 8000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read and validate every setting; raise :class:`ConfigError` naming the first bad variable."""
        env = _Env(os.environ if environ is None else environ)
        D = cls  # noqa: N806 - the defaults are the fields' own, declared once above
        credentials = None
        key_id = env.text("ALIBABA_CLOUD_ACCESS_KEY_ID")
        key_secret = env.text("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        if bool(key_id) != bool(key_secret):
            missing = "ALIBABA_CLOUD_ACCESS_KEY_SECRET" if key_id else "ALIBABA_CLOUD_ACCESS_KEY_ID"
            raise ConfigError(missing, "set both the AccessKey ID and secret, or neither")
        if key_id and key_secret:
            credentials = Credentials(key_id, key_secret, env.text("ALIBABA_CLOUD_SECURITY_TOKEN"))

        jwt_modes = [n for n in TOKEN_SETTINGS if env.text(n)]
        if len(jwt_modes) > 1:
            raise ConfigError(jwt_modes[1], f"set only one of {', '.join(jwt_modes)}")
        if not jwt_modes:
            raise ConfigError(
                "BROKER_JWT_SECRET",
                "set one of BROKER_JWT_SECRET, BROKER_JWT_PUBLIC_KEY or BROKER_JWKS_URL; tokens cannot be checked",
            )
        jwt_secret = env.text("BROKER_JWT_SECRET")
        if jwt_secret is not None and len(jwt_secret.encode()) < 32:
            raise ConfigError("BROKER_JWT_SECRET", "an HS256 secret must be at least 32 bytes (RFC 7518 3.2)")
        public_key = env.text("BROKER_JWT_PUBLIC_KEY")
        if public_key is not None:
            public_key = public_key.replace("\\n", "\n")
            if "-----BEGIN PUBLIC KEY-----" not in public_key:
                raise ConfigError("BROKER_JWT_PUBLIC_KEY", "expected a PEM public key (-----BEGIN PUBLIC KEY-----)")

        wangsu_key, wangsu_secret = env.text("WANGSU_ACCESS_KEY"), env.text("WANGSU_SECRET_KEY")
        if bool(wangsu_key) != bool(wangsu_secret):
            raise ConfigError(
                "WANGSU_SECRET_KEY" if wangsu_key else "WANGSU_ACCESS_KEY", "set both Wangsu keys, or neither"
            )

        callback_keys = env.callback_auth_keys("VOD_CALLBACK_AUTH_KEY")
        if callback_keys and env.text("VOD_CALLBACK_URL") is None:
            raise ConfigError("VOD_CALLBACK_URL", "VOD signs each callback over its callback URL: set the URL "
                                                  "the VOD console sends callbacks to, as well as the key")

        return cls(
            credentials=credentials,
            vod_region=env.region("VOD_REGION", D.vod_region),
            vod_endpoint=env.url("VOD_ENDPOINT"),
            ice_region=env.region("ICE_REGION", D.ice_region, allowed=ICE_UPLOAD_REGIONS),
            ice_endpoint=env.url("ICE_ENDPOINT"),
            wangsu_access_key=wangsu_key,
            wangsu_secret_key=wangsu_secret,
            wangsu_endpoint=env.url("WANGSU_ENDPOINT") or D.wangsu_endpoint,
            wangsu_domain=env.text("WANGSU_DOMAIN"),
            wangsu_workflow_id=env.text("WANGSU_WORKFLOW_ID"),
            wangsu_watermark_name=env.text("WANGSU_WATERMARK_NAME"),
            wangsu_transcode_combine_name=env.text("WANGSU_TRANSCODE_COMBINE_NAME"),
            wangsu_subtitle_id=env.text("WANGSU_SUBTITLE_ID"),
            vod_template_group_id=env.text("VOD_TEMPLATE_GROUP_ID"),
            vod_workflow_id=env.text("VOD_WORKFLOW_ID"),
            vod_storage_location=env.text("VOD_STORAGE_LOCATION"),
            vod_app_id=env.text("VOD_APP_ID"),
            # Exactly as set, trailing slash and all: VOD signs its callbacks over this very text.
            vod_callback_url=env.url("VOD_CALLBACK_URL", exact=True),
            vod_callback_auth_keys=callback_keys,
            ice_app_id=env.text("ICE_APP_ID"),
            ice_entity_id=env.text("ICE_ENTITY_ID"),
            ice_workflow_id=env.text("ICE_WORKFLOW_ID"),
            ice_upload_target_config=env.ice_upload_target_config("ICE_UPLOAD_TARGET_CONFIG"),
            ice_callback_url=env.url("ICE_CALLBACK_URL"),
            jwt_secret=jwt_secret,
            jwt_public_key=public_key,
            jwks_url=env.url("BROKER_JWKS_URL"),
            jwt_issuer=env.text("BROKER_JWT_ISSUER"),
            jwt_audience=env.text("BROKER_JWT_AUDIENCE"),
            allowed_origins=env.origins("BROKER_ALLOWED_ORIGINS"),
            ledger_url=env.ledger_url("BROKER_LEDGER_URL", D.ledger_url,
                                      on_function_compute=env.text("FC_FUNCTION_NAME") is not None),
            upstream_connect_timeout=env.number("BROKER_UPSTREAM_CONNECT_TIMEOUT", D.upstream_connect_timeout,
                                                low=0.05, high=60),
            upstream_read_timeout=env.number("BROKER_UPSTREAM_READ_TIMEOUT", D.upstream_read_timeout,
                                             low=0.05, high=120),
            upstream_budget_seconds=env.number("BROKER_UPSTREAM_BUDGET_SECONDS", D.upstream_budget_seconds,
                                               low=0.1, high=600),
            quota_creates_per_day=env.integer("BROKER_QUOTA_CREATES_PER_DAY", None, low=0),
            quota_bytes_per_day=env.integer("BROKER_QUOTA_BYTES_PER_DAY", None, low=0),
            rate_per_minute=env.integer("BROKER_RATE_PER_MINUTE", None, low=1),
            max_refreshes=env.integer("BROKER_MAX_REFRESHES", D.max_refreshes, low=0),
            refresh_window_hours=env.number("BROKER_REFRESH_WINDOW_HOURS", D.refresh_window_hours,
                                            low=0, high=24 * 365 * 10),
            admin_scope=env.text("BROKER_ADMIN_SCOPE"),
            allow_source_replace=env.boolean("BROKER_ALLOW_SOURCE_REPLACE", D.allow_source_replace),
            port=env.integer("PORT", D.port, low=1, high=65535),
        )


def ledger_url_setting(override: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``override`` or ``BROKER_LEDGER_URL``, validated as :meth:`Config.from_env` validates it (default: the
    embedded SQLite file): for the command-line tools that open the ledger without a whole broker (the audit
    CLI, the reindex). Raises :class:`ConfigError` naming the variable."""
    settings = dict(os.environ if environ is None else environ)
    if override:
        settings["BROKER_LEDGER_URL"] = override
    return _Env(settings).ledger_url("BROKER_LEDGER_URL", Config.ledger_url)


class _Env:
    """Typed readers over an environment mapping; each failure names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def region(self, name: str, default: str, *, allowed: tuple[str, ...] | None = None) -> str:
        value = self.text(name) or default
        if not _REGION.match(value):
            raise ConfigError(name, f"{value!r} is not a region ID such as cn-shanghai")
        if allowed is not None and value not in allowed:
            raise ConfigError(name, f"{value} is not a region this upstream serves uploads in ({', '.join(allowed)})")
        return value

    def ice_upload_target_config(self, name: str) -> str | None:
        """ICE's UploadTargetConfig: a JSON object whose StorageType is "oss" (the only value CreateUploadMedia
        takes: "StorageType 取值:仅支持 oss", https://help.aliyun.com/document_detail/440767.html) and whose
        StorageLocation names the storage address."""
        import json

        value = self.json_object(name)
        if value is None:
            return None
        parsed = json.loads(value)
        if parsed.get("StorageType") != "oss":
            raise ConfigError(name, 'StorageType must be "oss", the only storage type CreateUploadMedia takes')
        location = parsed.get("StorageLocation")
        if not isinstance(location, str) or not location.strip():
            raise ConfigError(name, "StorageLocation must name the storage address, such as "
                                    "outin-xxx.oss-cn-shanghai.aliyuncs.com")
        return value

    def url(self, name: str, *, exact: bool = False) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, "expected an http:// or https:// URL")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ConfigError(name, "the URL's port is not a number") from None
        return value if exact else value.rstrip("/")

    def origins(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return ()
        origins = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        for origin in origins:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ConfigError(name, f"{origin!r} is not an origin such as https://app.example.com")
        return origins

    def integer(self, name: str, default: int | None, *, low: int | None = None, high: int | None = None):
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(name, f"{value!r} is not an integer") from None
        if (low is not None and number < low) or (high is not None and number > high):
            raise ConfigError(name, f"{number} is out of range [{low}, {high if high is not None else '...'}]")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(name, f"{value!r} is not true or false")

    def callback_auth_keys(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return ()
        keys = tuple(key.strip() for key in value.split(","))
        if len(keys) > 2 or not all(_CALLBACK_KEY.fullmatch(key) for key in keys):
            raise ConfigError(name, CALLBACK_KEY_RULE)
        return keys

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(name, f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise ConfigError(name, f"{number} is out of range [{low}, {high}]")
        return number

    def json_object(self, name: str) -> str | None:
        import json

        value = self.text(name)
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ConfigError(name, "expected a JSON object") from None
        if not isinstance(parsed, dict):
            raise ConfigError(name, "expected a JSON object")
        return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)

    def ledger_url(self, name: str, default: str, *, on_function_compute: bool = False) -> str:
        value = self.text(name) or default
        parts = urlsplit(value)
        if parts.scheme == "sqlite":
            if on_function_compute:
                # FC_FUNCTION_NAME is set by Function Compute in every instance. There, each instance would
                # keep its own SQLite file: a refresh that lands on another instance would be a 404.
                raise ConfigError(
                    name,
                    "on Function Compute every instance must share the ledger; set BROKER_LEDGER_URL to "
                    "tablestore://<instance>.<region>.ots.aliyuncs.com or redis://host:port/db (or rediss://) - "
                    "the embedded SQLite ledger is for local use only",
                )
            if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
                raise ConfigError(name, "expected sqlite:///path/to/file or sqlite:///:memory:")
        elif parts.scheme in ("redis", "rediss"):
            if not parts.hostname:
                raise ConfigError(name, "expected redis://[:password@]host:port/db")
            try:
                parts.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                raise ConfigError(name, "the port is not a number") from None
            db = parts.path.lstrip("/")
            if db and not db.isdigit():
                raise ConfigError(name, "the Redis database must be a number, as in redis://host:6379/0")
        elif parts.scheme in TABLESTORE_SCHEMES:
            try:
                parse_tablestore_url(value)
            except ValueError as error:
                raise ConfigError(name, str(error)) from None
        else:
            raise ConfigError(
                name,
                "expected sqlite:///path, redis://host:port/db (or rediss://) or "
                "tablestore://<instance>.<region>.ots.aliyuncs.com[/<table prefix>]",
            )
        return value
