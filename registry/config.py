"""Registry settings: ``ESTATEWATCH_*`` environment variables, typed and bounded.

Secrets (the template key) come from the environment or a secret file only, never from YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import default_database_url
from storage.files import data_dir

SearchBackendName = Literal["exact", "faiss-ivf", "faiss-ivf-fp16"]


class RegistrySettings(BaseSettings):
    """What the registry reads from ``ESTATEWATCH_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="ESTATEWATCH_", extra="forbid")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data dir>/estatewatch.db (WAL).",
    )
    template_key: SecretStr | None = Field(
        default=None, description="Current AES-256 key for templates, base64 of 32 bytes."
    )
    template_key_file: Path | None = Field(
        default=None,
        description="File of base64 keys, one a line: the first is current, the rest retired.",
    )
    template_keys_retired: SecretStr | None = Field(
        default=None, description="Comma-separated base64 keys still accepted for decryption."
    )
    embedding_model: str = Field(
        default="w600k_mbf", min_length=1, description="Manifest name of the active embedding model."
    )
    match_threshold: float = Field(
        default=0.40,
        ge=-1.0,
        le=1.0,
        description=(
            "Cosine similarity at or above which a face matches a template. Scores are compared and"
            " reported rounded to 6 decimals and do not depend on the batch or the CPU, so a threshold"
            " equal to a reported score matches (registry/matching.py)."
        ),
    )
    match_top_k: int = Field(default=5, ge=1, le=100, description="Candidates kept per query.")
    search_backend: SearchBackendName = Field(
        default="exact", description="1:N search: exact (numpy) or FAISS IVF (optional dependency)."
    )
    index_refresh_s: float = Field(
        default=0.0,
        ge=0.0,
        le=60.0,
        description="Minimum seconds between checks for changes by other processes (0: every search).",
    )
    visitor_retention_days: float = Field(
        default=30.0,
        ge=0.0,
        le=3650.0,
        description="Days after a visit ends before the visitor's data (faces, plates) is purged.",
    )

    def resolved_database_url(self) -> str:
        """The configured URL, or the default SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return default_database_url()

    def default_key_file(self, root: Path | None = None) -> Path:
        """Where a demo key is generated when none is configured (in ``root``, default the data dir)."""
        return (root or data_dir()) / "secrets" / "template.key"
