"""Talks to the Rasa server over HTTP (it lives in its own venv and process)."""

from __future__ import annotations

from typing import Any

import httpx

from webhook.domain.errors import RasaUnavailable


class RasaClient:
    def __init__(
        self,
        base_url: str,
        token: str = "",
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network, e.g. with the in-process fake Rasa of the service tests."""
        self.base_url = base_url.rstrip("/")
        # Rasa's HTTP API (tracker, status) is protected by --auth-token; the REST channel is not.
        params = {"token": token} if token else None
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, params=params, transport=transport)

    async def close(self) -> None:
        await self.http.aclose()

    async def _post(self, path: str, body: Any) -> Any:
        try:
            response = await self.http.post(path, json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"Rasa at {self.base_url} failed on {path}: {exc!r}") from exc
        return response.json()

    async def send(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """One user turn through Rasa's REST channel; returns Rasa's bot messages."""
        body = {"sender": sender_id, "message": text, "metadata": metadata}
        replies = await self._post("/webhooks/rest/webhook", body)
        return list(replies or [])

    async def append_events(self, sender_id: str, events: list[dict[str, Any]]) -> bool:
        """Add events to a tracker (``pause`` at a handoff, ``resume`` when the bot takes over again).

        Best effort: the conversation's status in our store is what silences the bot; the
        events keep Rasa's tracker telling the same story.
        """
        try:
            response = await self.http.post(f"/conversations/{sender_id}/tracker/events", json=events)
            response.raise_for_status()
        except httpx.HTTPError:
            return False
        return True

    async def ready(self) -> bool:
        try:
            response = await self.http.get("/status")
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("model_file"))
