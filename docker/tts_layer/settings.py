"""The layer's settings, one environment variable each (the chart sets them); no torch, so a bad
value stops the start at once, with one line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


class SettingError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    """The layer's settings, one environment variable each (the chart sets them)."""

    app_dir: Path = Path("/app")
    control_host: str = "0.0.0.0"
    control_port: int = 8005
    token_file: Path = Path("/var/run/secrets/tts-control/token")
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9403
    retry_after_seconds: int = 30
    park_deadline_seconds: float = 60.0
    park_pin: bool = True
    fixes: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def number(name: str, default, kind: Callable, low: float, high: float, what: str):
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                value = None
            if value is None or not low <= value <= high:
                raise SettingError(f"{name}={raw!r}: expected {what}")
            return value

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name, "").strip().lower()
            if not raw:
                return default
            if raw not in ("true", "false", "on", "off", "1", "0"):
                raise SettingError(f"{name}={raw!r}: expected true or false")
            return raw in ("true", "on", "1")

        return cls(
            app_dir=Path(env.get("TTS_APP_DIR") or cls.app_dir),
            control_host=env.get("TTS_CONTROL_HOST") or cls.control_host,
            control_port=number("TTS_CONTROL_PORT", cls.control_port, int, 0, 65535, "a port, 1-65535, or 0 for no control port"),
            token_file=Path(env.get("TTS_CONTROL_TOKEN_FILE") or cls.token_file),
            metrics_host=env.get("TTS_METRICS_HOST") or cls.metrics_host,
            metrics_port=number("TTS_METRICS_PORT", cls.metrics_port, int, 0, 65535, "a port, 1-65535, or 0 for no metrics port"),
            retry_after_seconds=number("TTS_RETRY_AFTER_SECONDS", cls.retry_after_seconds, int, 1, 86400, "whole seconds, 1-86400"),
            park_deadline_seconds=number("TTS_PARK_DEADLINE_SECONDS", cls.park_deadline_seconds, float, 1, 600, "seconds, 1-600"),
            park_pin=flag("TTS_PARK_PIN", cls.park_pin),
            fixes=flag("TTS_FIXES", cls.fixes),
        )
