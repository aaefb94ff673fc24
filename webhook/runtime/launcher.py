"""``python -m webhook run``: the web service and the Rasa server, as one command."""

from __future__ import annotations

import secrets
import sys

import httpx

from webhook.runtime.supervisor import Service, Supervisor
from webhook.settings import ROOT, Settings

RASA_MODEL = ROOT / "models" / "rasa" / "support.tar.gz"


def rasa_has_model(response: httpx.Response) -> bool:
    return response.is_success and bool(response.json().get("model_file"))


def services(settings: Settings) -> list[Service]:
    token = settings.rasa_token or secrets.token_urlsafe(24)
    # The secret Rasa sends to the action endpoint (bot/endpoints.yml), which is on the public port.
    action_token = settings.action_endpoint_token or secrets.token_urlsafe(32)
    app_base = f"http://{settings.host}:{settings.port}"
    rasa_base = f"http://127.0.0.1:{settings.rasa_port}"
    shared = {"RASA_TOKEN": token, "RASA_URL": rasa_base, "ACTION_ENDPOINT_TOKEN": action_token}
    web = Service(
        name="web",
        command=[
            sys.executable,
            "-m",
            "uvicorn",
            "webhook.app:create_app",
            "--factory",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--no-access-log",
        ],
        ready_url=f"{app_base}/health",
        env=shared,
    )
    settings.rasa_tracker_db.parent.mkdir(parents=True, exist_ok=True)
    rasa = Service(
        name="rasa",
        command=[
            str(ROOT / ".venv-rasa" / "bin" / "rasa"),
            "run",
            "--enable-api",
            "--auth-token",
            token,
            "--interface",
            "127.0.0.1",
            "--port",
            str(settings.rasa_port),
            "--model",
            str(RASA_MODEL),
            "--endpoints",
            str(ROOT / "bot" / "endpoints.yml"),
            "--credentials",
            str(ROOT / "bot" / "credentials.yml"),
        ],
        ready_url=f"{rasa_base}/status?token={token}",
        ready_check=rasa_has_model,
        env={
            **shared,
            "ACTION_ENDPOINT_URL": f"{app_base}/webhook/actions",
            "RASA_TRACKER_DB": str(settings.rasa_tracker_db),
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        },
    )
    return [web, rasa]


def run(settings: Settings) -> int:
    if not RASA_MODEL.exists():
        print(f"no trained Rasa model at {RASA_MODEL}: run ./run.sh (it trains one)", file=sys.stderr)
        return 2
    supervisor = Supervisor(services(settings))
    base = settings.public_url or f"http://{settings.host}:{settings.port}"

    if not settings.telegram_bot_token:
        telegram = "off (set TELEGRAM_BOT_TOKEN)"
    elif settings.telegram_webhook_url:
        telegram = f"webhook {settings.telegram_webhook_url}"
    else:
        telegram = "polling"

    def ready() -> None:
        supervisor.say(
            "\n  Larkspur support is running\n"
            f"    chat          {base}/  (widget: {base}/static/widget.js)\n"
            f"    telegram      {telegram}\n"
            f"    help centre   {base}/help\n"
            f"    API docs      {base}/docs\n"
            f"    Rasa          http://127.0.0.1:{settings.rasa_port}\n"
            "  Press Ctrl-C to stop.\n"
        )

    return supervisor.run(on_ready=ready, restore_signals=False)
