"""Configuration, from environment variables or a ``.env`` file (see ``.env.example``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    # Each field is read from the environment variable of the same name in capitals (HOST, PORT, ...).
    model_config = SettingsConfigDict(env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    # web service
    host: str = Field(default="127.0.0.1")
    port: int = Field(default=8000)
    public_url: str = Field(default="", description="Base URL customers reach; links use it")

    # storage
    database_url: str = Field(default=f"sqlite:///{ROOT / 'var' / 'support.db'}")

    # Rasa
    rasa_url: str = Field(default="http://127.0.0.1:5005")
    rasa_port: int = Field(default=5005)
    rasa_token: str = Field(default="", description="Rasa's --auth-token; the launcher makes one")
    rasa_timeout_s: float = Field(default=30.0)
    rasa_tracker_db: Path = Field(default=ROOT / "var" / "rasa-tracker.db")

    # knowledge base
    kb_model: str = Field(
        default=str(ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"),
        description="A sentence-transformers folder, or a hub name such as intfloat/multilingual-e5-small",
    )
    kb_index_dir: Path = Field(default=ROOT / "models" / "index")
    kb_optimised_dir: Path = Field(
        default=ROOT / "models" / "embeddings", description="where the optimise job saves fine-tuned models"
    )
    kb_active_model_file: Path = Field(
        default=ROOT / "var" / "kb-model.json",
        description="which fine-tuned model is in use (written by the optimise job); absent: KB_MODEL",
    )
    kb_optimise_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="how much lower the optimise job's fine-tuning process runs in CPU priority than the worker",
    )
    kb_encoder_threads: int = Field(
        default=0, ge=0, description="ONNX Runtime threads for the encoder; 0 = one per core"
    )
    kb_encoder_int8: bool = Field(
        default=True,
        description="8-bit matrix products in the encoder (checked against the float export first)",
    )
    kb_query_cache: int = Field(
        default=2048, ge=0, description="recent questions kept encoded per worker (about 1.5 KB each); 0: none"
    )
    kb_reconcile_s: float = Field(
        default=30.0,
        ge=0,
        description="how often each worker compares its index with the store (0: never); catches missed events",
    )
    kb_articles_dir: Path = Field(default=ROOT / "knowledge_base" / "demo")
    # used until a calibration file exists
    kb_answer_threshold: float = Field(default=0.75)
    kb_clarify_threshold: float = Field(default=0.74)
    kb_margin: float = Field(default=0.005)
    kb_calibration_file: Path = Field(default=ROOT / "var" / "calibration.json")
    kb_calibration_questions: Path = Field(
        default=ROOT / "knowledge_base" / "demo" / "calibration.jsonl",
        description="labelled questions setup calibrates on when there is no calibration file",
    )
    kb_learn_questions: bool = Field(
        default=True,
        description="suggest customers' questions to editors as alternative questions when an article answered them",
    )

    editor_api_key: str = Field(default="", description="X-API-Key for the editor API; empty disables it")

    # agent console
    agent_token_ttl_s: int = Field(default=12 * 3600, gt=0, description="How long a console sign-in lasts")
    deflection_window_h: float = Field(
        default=24.0, gt=0, description="How long an answered question must stay quiet to count as deflected"
    )

    # handoff: each trigger can be switched off with 0
    handoff_after_declines: int = Field(default=2, ge=0, description="Hand off after N 'nothing found' in a row")
    handoff_after_not_helpful: int = Field(default=2, ge=0, description="Hand off after N 'this didn't help'")
    handoff_frustration_threshold: float = Field(default=0.7, ge=0, le=1, description="Frustration score to hand off")
    business_hours: str = Field(default="", description="e.g. 'mon-fri 09:00-17:00; sat 10:00-14:00'; empty: always")
    business_timezone: str = Field(default="UTC", description="IANA time zone of BUSINESS_HOURS")
    agent_online_window_s: float = Field(
        default=90.0, gt=0, description="An agent's console counts as online this long"
    )

    # CSAT
    csat_enabled: bool = Field(default=True)
    csat_question_en: str = Field(default="", description="Overrides the built-in question")
    csat_question_fa: str = Field(default="")
    csat_question_ar: str = Field(default="")

    # scale-out: several app workers share live events through Redis
    redis_url: str = Field(default="", description="redis://host:6379/0; empty: one worker, in-process events")

    # website widget
    widget_identity_secret: str = Field(default="", description="HMAC-SHA256 key for signed user ids")
    widget_allowed_origins: str = Field(default="*", description="Comma-separated origins that may embed the widget")
    link_code_ttl_s: int = Field(default=600, description="How long a cross-channel link code is valid")

    # Telegram (these names are a contract)
    telegram_bot_token: str = Field(default="")
    telegram_webhook_secret: str = Field(default="", description="Checked against X-Telegram-Bot-Api-Secret-Token")
    telegram_webhook_url: str = Field(default="", description="Public URL of /telegram/webhook; empty: polling")
    telegram_api_base_url: str = Field(default="https://api.telegram.org/bot", description="PTB's base_url form")
    telegram_api_file_url: str = Field(default="", description="PTB's base_file_url; derived from the base URL")

    # messages
    max_message_chars: int = Field(default=4000)
    default_language: str = Field(default="en")

    # abuse limits (docs/security.md): "N/period" strings in the `limits` library's notation
    rate_limit_enabled: bool = Field(default=True, description="Switch every rate limit off (tests, trusted setups)")
    rate_limit_per_ip: str = Field(default="3000/minute", description="Every request from one IP")
    rate_limit_chat_per_ip: str = Field(default="120/minute", description="Customer messages from one IP")
    rate_limit_chat_per_session: str = Field(
        default="20/minute;300/hour", description="Customer messages in one chat session (HTTP and WebSocket)"
    )
    rate_limit_new_conversations_per_ip: str = Field(
        default="20/hour", description="New chat sessions from one IP (Chatwoot: 6 per 12 hours)"
    )
    rate_limit_sign_in_per_ip: str = Field(default="5/5minutes", description="Sign-in attempts from one IP")
    rate_limit_sign_in_per_user: str = Field(default="10/15minutes", description="Failed sign-ins for one username")
    sign_in_lockout_s: int = Field(
        default=900, ge=0, description="First lockout after the per-user limit; doubles each time, at most a day"
    )
    rate_limit_staff_per_user: str = Field(
        default="600/minute", description="Agent, editor and admin API calls of one signed-in user"
    )
    trusted_proxies: str = Field(
        default="", description="Comma-separated IPs or CIDRs whose X-Forwarded-For is believed; empty: none"
    )

    # hardening
    action_endpoint_token: str = Field(
        default="", description="Shared secret Rasa sends to /webhook/actions; the launcher makes one"
    )
    max_action_body_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, description="Largest action call Rasa may send (it carries the tracker)"
    )

    # privacy (docs/security.md)
    redact_logs: bool = Field(default=True, description="Mask personal data in log lines")
    redact_analytics: bool = Field(default=True, description="Mask personal data in metrics and content gaps")
    redact_suggestions: bool = Field(default=True, description="Mask personal data in learnt questions")
    redact_rasa: bool = Field(default=True, description="Mask personal data in the text sent to Rasa (its tracker)")
    redact_patterns: str = Field(
        default="", description="Extra personal numbers as regexes separated by ';;' (an order number, a national id)"
    )
    redact_phone_regions: str = Field(
        default="IR,SA,AE,EG,IQ,GB,US,DE", description="Regions tried for phone numbers written without a country code"
    )
    retention_days: int = Field(
        default=0, ge=0, description="Erase conversations closed longer ago than this, daily; 0: keep forever"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
