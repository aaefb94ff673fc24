"""Configuration, from environment variables or a ``.env`` file (see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    # web service
    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8000, alias="PORT")
    public_url: str = Field("", alias="PUBLIC_URL", description="Base URL customers reach; links use it")

    # storage
    database_url: str = Field(f"sqlite:///{ROOT / 'var' / 'support.db'}", alias="DATABASE_URL")

    # Rasa
    rasa_url: str = Field("http://127.0.0.1:5005", alias="RASA_URL")
    rasa_port: int = Field(5005, alias="RASA_PORT")
    rasa_token: str = Field("", alias="RASA_TOKEN", description="Rasa's --auth-token; the launcher makes one")
    rasa_timeout_s: float = Field(30.0, alias="RASA_TIMEOUT_S")
    rasa_tracker_db: Path = Field(ROOT / "var" / "rasa-tracker.db", alias="RASA_TRACKER_DB")

    # knowledge base
    kb_model: str = Field(
        str(ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"),
        alias="KB_MODEL",
        description="A sentence-transformers folder, or a hub name such as intfloat/multilingual-e5-small",
    )
    kb_index_dir: Path = Field(ROOT / "models" / "index", alias="KB_INDEX_DIR")
    kb_articles_dir: Path = Field(ROOT / "knowledge_base" / "demo", alias="KB_ARTICLES_DIR")
    kb_answer_threshold: float = Field(0.90, alias="KB_ANSWER_THRESHOLD")
    kb_clarify_threshold: float = Field(0.875, alias="KB_CLARIFY_THRESHOLD")
    kb_margin: float = Field(0.015, alias="KB_MARGIN")

    # messages
    max_message_chars: int = Field(4000, alias="MAX_MESSAGE_CHARS")
    default_language: str = Field("en", alias="DEFAULT_LANGUAGE")


@lru_cache
def get_settings() -> Settings:
    return Settings()
