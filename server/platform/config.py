"""Settings: configs/default.toml, an optional user TOML file, then STALLCAST_* env vars."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.toml"
ENV_PREFIX = "STALLCAST_"


class ConfigError(ValueError):
    """A setting is missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class HttpConfig:
    host: str
    port: int
    public_url: str
    max_sdp_bytes: int
    max_json_bytes: int
    cors_origins: str
    public_cors_origins: str
    trusted_proxies: str
    tls_cert: str
    tls_key: str


@dataclass(frozen=True)
class DataConfig:
    dir: str


@dataclass(frozen=True)
class RedisConfig:
    url: str
    server_bin: str
    appendfsync: str
    pool_size: int
    bus_pool_size: int


@dataclass(frozen=True)
class WebRtcConfig:
    ice_servers: str
    turn_username: str
    turn_credential: str
    public_ip: str
    consent_interval_s: int
    consent_failures: int

    @property
    def ice_server_urls(self) -> list[str]:
        return [u.strip() for u in self.ice_servers.split(",") if u.strip()]


@dataclass(frozen=True)
class MediaConfig:
    keyframe_min_interval_ms: int
    rtx_buffer_packets: int
    connect_timeout_s: int
    publisher_rcvbuf_bytes: int
    remb_floor_bps: int
    remb_ceiling_bps: int
    join_concurrency: int
    join_queue_max: int
    join_wait_s: int
    join_max_backlog_ms: int
    join_slot_max_ms: int
    certificate_rotate_s: int
    host_absent_timeout_s: int


@dataclass(frozen=True)
class CommerceConfig:
    payment_provider: str
    reservation_ttl_s: int
    chat_messages_per_window: int
    chat_window_s: int
    viewer_mints_per_minute: int
    chat_address_factor: int
    likes_per_second: int
    chat_filter_max_words: int


@dataclass(frozen=True)
class UploadsConfig:
    max_image_bytes: int
    card_px: int
    thumb_px: int
    images_per_host: int


@dataclass(frozen=True)
class RecordingConfig:
    enabled: bool
    rejoin_grace_s: int
    packaging_stale_after_s: int
    url_ttl_s: int
    keyframe_interval_s: int


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool
    interval_s: int
    require_auth: bool


@dataclass(frozen=True)
class LimitsConfig:
    half_open_per_client: int
    half_open_total: int
    viewers_per_room: int
    viewers_per_node: int
    connections_per_client: int
    header_timeout_s: int
    body_timeout_s: int
    retry_after_s: int


@dataclass(frozen=True)
class ClusterConfig:
    live_ttl_s: int
    orphan_scan_s: int


@dataclass(frozen=True)
class AccountsConfig:
    sms_provider: str
    sms_webhook_url: str
    sms_webhook_secret: str
    sms_webhook_timeout_s: int
    code_ttl_s: int
    code_attempts: int
    codes_per_phone: int
    codes_per_phone_period_s: int
    codes_per_address: int
    codes_per_address_period_s: int
    max_wrong_per_day: int


@dataclass(frozen=True)
class RemindersConfig:
    provider: str
    webhook_url: str
    webhook_secret: str
    webhook_timeout_s: int
    batch_size: int
    follows_per_viewer: int
    shows_per_host: int


@dataclass(frozen=True)
class AuctionsConfig:
    max_duration_s: int
    max_extend_s: int
    max_extension_total_s: int
    confirm_s: int
    max_bids: int
    bid_event_interval_ms: int


@dataclass(frozen=True)
class GiveawaysConfig:
    presence_interval_s: int
    max_winners: int
    max_candidates: int
    keep_days: int


@dataclass(frozen=True)
class CouponsConfig:
    max_active_per_room: int
    max_quota: int
    max_hours: int
    claimed_event_interval_ms: int
    keep_days: int
    max_pushes_per_day: int


@dataclass(frozen=True)
class LogConfig:
    level: str
    format: str


@dataclass(frozen=True)
class Config:
    """Every setting; configs/default.toml holds each one's default (the only place)."""

    http: HttpConfig
    data: DataConfig
    redis: RedisConfig
    webrtc: WebRtcConfig
    media: MediaConfig
    commerce: CommerceConfig
    uploads: UploadsConfig
    recording: RecordingConfig
    metrics: MetricsConfig
    log: LogConfig
    limits: LimitsConfig
    cluster: ClusterConfig
    accounts: AccountsConfig
    reminders: RemindersConfig
    auctions: AuctionsConfig
    giveaways: GiveawaysConfig
    coupons: CouponsConfig

    @property
    def data_dir(self) -> Path:
        return Path(self.data.dir).resolve()


def _check_networks(spec: str) -> None:
    for item in spec.split(","):
        if item.strip():
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ConfigError(f"http.trusted_proxies: {item.strip()!r} is not an "
                                  "address or network") from None


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower() if isinstance(raw, (str, int)) else ""
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{name}: expected an integer, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if kind is str:
        if not isinstance(raw, (str, int, float)):
            raise ConfigError(f"{name}: expected a string, got {raw!r}")
        return str(raw)
    raise ConfigError(f"{name}: unsupported type")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Merge defaults, the file at ``path``, ``STALLCAST_<SECTION>_<KEY>`` env vars, overrides."""
    env = os.environ if env is None else env
    layers = [_read_toml(DEFAULT_CONFIG)]
    if path is not None:
        layers.append(_read_toml(Path(path)))
    sections: dict[str, Any] = {}
    for name, section_cls in get_type_hints(Config).items():
        known = get_type_hints(section_cls)
        values: dict[str, Any] = {}
        for layer in layers:
            table = layer.get(name, {})
            if not isinstance(table, dict):
                raise ConfigError(f"[{name}] must be a table")
            for key, raw in table.items():
                if key not in known:
                    raise ConfigError(f"unknown setting {name}.{key}")
                values[key] = _coerce(f"{name}.{key}", raw, known[key])
        for key, kind in known.items():
            env_name = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
            if env_name in env:
                values[key] = _coerce(env_name, env[env_name], kind)
        for key, raw in (overrides or {}).get(name, {}).items():
            if raw is not None:
                values[key] = _coerce(f"{name}.{key}", raw, known[key])
        missing = sorted(set(known) - set(values))
        if missing:
            raise ConfigError(f"missing setting(s) {', '.join(f'{name}.{k}' for k in missing)}"
                              f" (configs/default.toml names them all)")
        sections[name] = section_cls(**values)
    for layer in layers:
        for name in layer:
            if name not in sections:
                raise ConfigError(f"unknown section [{name}]")
    cfg = Config(**sections)
    if not 0 < cfg.http.port < 65536:
        raise ConfigError(f"http.port out of range: {cfg.http.port}")
    if cfg.commerce.payment_provider not in ("cod", "manual"):
        raise ConfigError("commerce.payment_provider must be cod or manual")
    if cfg.accounts.sms_provider not in ("console", "webhook"):
        raise ConfigError("accounts.sms_provider must be console or webhook")
    if cfg.accounts.sms_provider == "webhook" and not cfg.accounts.sms_webhook_url:
        raise ConfigError("accounts.sms_webhook_url is needed with sms_provider = webhook")
    if cfg.metrics.interval_s < 1:
        raise ConfigError("metrics.interval_s must be at least 1")
    if cfg.commerce.reservation_ttl_s < 1:
        raise ConfigError("commerce.reservation_ttl_s must be at least 1")
    if cfg.webrtc.consent_interval_s < 1 or cfg.webrtc.consent_failures < 3:
        # Each check is sent once with a 0.5 s timeout: fewer than 3 in a row would drop a
        # healthy host over one lost packet or one slow moment.
        raise ConfigError("webrtc.consent_interval_s must be at least 1 and "
                          "webrtc.consent_failures at least 3")
    m = cfg.media
    if (m.join_concurrency < 1 or m.join_queue_max < 0 or m.join_wait_s < 1
            or m.join_max_backlog_ms < 1 or m.join_slot_max_ms < 1
            or m.certificate_rotate_s < 60):
        raise ConfigError("media.join_concurrency, join_wait_s, join_max_backlog_ms and "
                          "join_slot_max_ms must be at least 1, join_queue_max at least 0 "
                          "and certificate_rotate_s at least 60")
    if cfg.commerce.chat_messages_per_window < 1 or cfg.commerce.chat_window_s < 1:
        raise ConfigError("commerce.chat_messages_per_window and commerce.chat_window_s must "
                          "be at least 1")
    if cfg.commerce.viewer_mints_per_minute < 1:
        raise ConfigError("commerce.viewer_mints_per_minute must be at least 1")
    _check_networks(cfg.http.trusted_proxies)
    small = [f"limits.{f.name}" for f in fields(cfg.limits) if getattr(cfg.limits, f.name) < 1]
    if small:
        raise ConfigError(f"{', '.join(small)} must be at least 1")
    if cfg.redis.appendfsync not in ("always", "everysec", "no"):
        raise ConfigError("redis.appendfsync must be always, everysec or no")
    return cfg
