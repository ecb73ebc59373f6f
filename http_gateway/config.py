"""The gateway's settings, declared once and passed down (environment ``HEARTH_GATEWAY_*`` or CLI flags)."""

import json
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Where the backends are, where the gateway listens, who may call it and how long calls may take.

    A target is anything gRPC can dial (``host:port``, ``dns:///name:port``, ``ipv4:a:p,b:p``) or a
    comma-separated list of ``host:port`` replicas; calls are spread over the replicas with round_robin.
    """

    model_config = SettingsConfigDict(env_prefix="HEARTH_GATEWAY_", cli_kebab_case=True, cli_implicit_flags=True)

    text_target: str = Field("127.0.0.1:50051", description="text service replica(s)")
    image_target: str = Field("127.0.0.1:50052", description="image service replica(s)")
    host: str = Field("127.0.0.1", description="address the HTTP server binds")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port")
    api_key: SecretStr = Field(SecretStr(""), description="bearer token required on API routes; empty turns auth off")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS, comma-separated or a JSON list; '*' for any"
    )
    text_deadline_seconds: float = Field(600.0, gt=0, description="gRPC deadline of one text request")
    image_deadline_seconds: float = Field(600.0, gt=0, description="gRPC deadline of one image request")
    health_interval_seconds: float = Field(1.0, gt=0, description="how often backend health is polled")
    health_timeout_seconds: float = Field(0.5, gt=0, description="deadline of one backend health probe")
    retry_after_seconds: int = Field(1, ge=0, description="Retry-After sent with 429 when the backend names none")
    log_level: str = Field("info", description="log level of the JSON log lines")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """Accepts the plain comma-separated list operators write in .env files, as well as JSON."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value
