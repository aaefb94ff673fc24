"""Rasa in process, for the service tier: its REST API answered by an ``httpx.MockTransport`` handler.

The app talks to Rasa through :class:`webhook.runtime.rasa_client.RasaClient`; given
``FakeRasa.transport`` it talks to this instead, with no server and no trained model.

What is real here: the dialogue's rules (each ``intent -> action`` rule of ``data/*.yml``,
and the core fallback of ``config.yml``, which runs ``action_answer_question``), the
domain's responses with their slot conditions, one tracker per sender (events, slots,
paused), and the custom actions, run through rasa-sdk's executor as the app mounts it,
so the real knowledge base answers. What is left out is NLU: a message is read the way
Rasa reads a button's payload (``/intent{"entity": "value"}``), or by a small table of
exact texts given to the fake, or else as ``ask_question``. Tests whose outcome rests on
the trained NLU belong to the stack tier.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import rasa_sdk
import yaml

from webhook.channels.rasa_actions import build_executor
from webhook.runtime.rasa_client import RasaClient

ROOT = Path(__file__).resolve().parents[2]
FALLBACK_ACTION = "action_answer_question"  # config.yml: RulePolicy's core_fallback_action_name
PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z_][\w-]*)(?P<entities>\{.*\})?$", re.S)
TRACKER = re.compile(r"^/conversations/(?P<sender>[^/]+)/tracker(?P<events>/events)?$")


def load_rules(data: Path = ROOT / "data") -> dict[str, str]:
    """Every rule of the training data that is one intent followed by one action."""
    rules: dict[str, str] = {"nlu_fallback": FALLBACK_ACTION}
    for path in sorted(data.glob("*.yml")):
        for rule in (yaml.safe_load(path.read_text()) or {}).get("rules", []):
            steps = rule.get("steps", [])
            if len(steps) == 2 and "intent" in steps[0] and "action" in steps[1] and "condition" not in rule:
                rules[steps[0]["intent"]] = steps[1]["action"]
    return rules


def load_domain(path: Path = ROOT / "bot" / "domain.yml") -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@dataclass
class Conversation:
    """Rasa's tracker of one sender, as much of it as the actions and the app read."""

    sender_id: str
    slots: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    paused: bool = False
    latest_message: dict[str, Any] = field(default_factory=dict)
    latest_action_name: str = "action_listen"

    def state(self) -> dict[str, Any]:
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": self.latest_message,
            "events": list(self.events),
            "paused": self.paused,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": self.latest_action_name,
            "latest_input_channel": "rest",
        }

    def apply(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.events.append({"timestamp": time.time(), **event})
            if event.get("event") == "slot":
                self.slots[event["name"]] = event.get("value")
            elif event.get("event") == "pause":
                self.paused = True
            elif event.get("event") == "resume":
                self.paused = False


class FakeRasa:
    """Rasa's REST API in process: ``POST /webhooks/rest/webhook``, ``GET /status`` and the tracker endpoints.

    ``texts`` maps a whole message (case and surrounding spaces aside) to an intent, for a
    test that needs a free-text message read as, say, ``request_human``. Set ``down`` to
    make every request fail as a refused connection does. ``received`` keeps what the REST
    channel was sent, in order; ``on_message``, when set, is called with each such body
    before the turn runs (to look at the world as Rasa is asked).
    """

    def __init__(self, token: str = "fake-rasa-token", texts: dict[str, str] | None = None) -> None:
        self.token = token
        self.texts = {text.strip().casefold(): intent for text, intent in (texts or {}).items()}
        self.rules = load_rules()
        self.domain = load_domain()
        self.executor = build_executor()
        self.conversations: dict[str, Conversation] = {}
        self.received: list[dict[str, Any]] = []
        self.down = False
        self.on_message: Callable[[dict[str, Any]], None] | None = None
        self.transport = httpx.MockTransport(self.handle)

    def client(self, timeout_s: float = 30.0) -> RasaClient:
        """A client of this fake, as the app makes one for the real server."""
        return RasaClient("http://rasa.fake:5005", self.token, timeout_s, transport=self.transport)

    def tracker(self, sender_id: str) -> dict[str, Any]:
        return self._conversation(sender_id).state()

    # -- the HTTP API -----------------------------------------------------------------
    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused (the fake Rasa is down)", request=request)
        path = request.url.path
        if request.method == "POST" and path == "/webhooks/rest/webhook":  # the REST channel needs no token
            body = json.loads(request.content)
            self.received.append(body)
            if self.on_message is not None:
                self.on_message(body)
            replies = await self.message(str(body["sender"]), str(body["message"]), body.get("metadata") or {})
            return httpx.Response(200, json=replies)
        if request.url.params.get("token") != self.token:
            return httpx.Response(401, json={"status": "failure", "reason": "NotAuthenticated", "code": 401})
        if request.method == "GET" and path == "/status":
            return httpx.Response(200, json={"model_file": "fake-rasa.tar.gz", "num_active_training_jobs": 0})
        found = TRACKER.match(path)
        if found and request.method == "GET" and not found["events"]:
            return httpx.Response(200, json=self.tracker(found["sender"]))
        if found and request.method == "POST" and found["events"]:
            events = json.loads(request.content)
            conversation = self._conversation(found["sender"])
            conversation.apply(events if isinstance(events, list) else [events])
            return httpx.Response(200, json=conversation.state())
        return httpx.Response(404, json={"status": "failure", "reason": "NotFound", "code": 404})

    # -- one turn -----------------------------------------------------------------------
    async def message(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """What Rasa's REST channel answers: the user's message logged, then the next action's messages."""
        conversation = self._conversation(sender_id)
        parse_data = {**self.parse(text), "metadata": metadata}
        conversation.latest_message = parse_data
        conversation.apply([{"event": "user", "text": text, "parse_data": parse_data, "metadata": metadata}])
        if conversation.paused:
            return []  # a paused tracker logs the message and predicts nothing
        await self._extract_slots(conversation, parse_data)
        action = self.rules.get(parse_data["intent"]["name"], FALLBACK_ACTION)
        messages = await self._run(conversation, action)
        conversation.apply([{"event": "action", "name": "action_listen"}])
        conversation.latest_action_name = "action_listen"
        return messages

    def parse(self, text: str) -> dict[str, Any]:
        """A payload as Rasa reads it, a text from the table, anything else a question."""
        payload = PAYLOAD.match(text.strip())
        if payload:
            values = json.loads(payload["entities"]) if payload["entities"] else {}
            intent = payload["intent"]
            entities = [{"entity": name, "value": value} for name, value in values.items()]
        else:
            intent, entities = self.texts.get(text.strip().casefold(), "ask_question"), []
        ranked = {"name": intent, "confidence": 1.0}
        return {"intent": ranked, "intent_ranking": [ranked], "entities": entities, "text": text}

    async def _extract_slots(self, conversation: Conversation, parse_data: dict[str, Any]) -> None:
        """``action_extract_slots``: slots from entities, then the custom mappings through the action server."""
        events = []
        for name, slot in self.domain.get("slots", {}).items():
            for mapping in slot.get("mappings", []):
                if mapping.get("type") == "from_entity":
                    for entity in parse_data["entities"]:
                        if entity["entity"] == mapping.get("entity"):
                            events.append({"event": "slot", "name": name, "value": entity["value"]})
        conversation.apply(events)
        if "action_validate_slot_mappings" in self.domain.get("actions", []):
            result = await self._call(conversation, "action_validate_slot_mappings")
            conversation.apply(result["events"])

    async def _run(self, conversation: Conversation, action: str) -> list[dict[str, Any]]:
        conversation.apply([{"event": "action", "name": action}])
        conversation.latest_action_name = action
        if action.startswith("utter_"):
            drafts = [self.respond(action, conversation.slots)]
        else:
            result = await self._call(conversation, action)
            conversation.apply(result["events"])
            drafts = [self._draft(response, conversation.slots) for response in result["responses"]]
        messages: list[dict[str, Any]] = []
        for draft in drafts:
            conversation.apply([{"event": "bot", "text": draft.get("text"), "data": draft}])
            messages += collected(conversation.sender_id, draft)
        return messages

    async def _call(self, conversation: Conversation, action: str) -> dict[str, Any]:
        call = {
            "next_action": action,
            "sender_id": conversation.sender_id,
            "tracker": conversation.state(),
            "domain": self.domain,
            "version": rasa_sdk.__version__,
        }
        result = await self.executor.run(call)
        return result.model_dump() if result else {"events": [], "responses": []}

    def _draft(self, response: dict[str, Any], slots: dict[str, Any]) -> dict[str, Any]:
        """An action server's message as Rasa turns it into a bot message (``RemoteAction._utter_responses``)."""
        response = dict(response)
        named = response.pop("response", None)
        response.pop("template", None)
        draft = self.respond(named, slots) if named else {}
        buttons = response.pop("buttons", []) or []
        if buttons:
            draft.setdefault("buttons", []).extend(buttons)
        draft.update({key: value for key, value in response.items() if value})
        return draft

    def respond(self, name: str, slots: dict[str, Any]) -> dict[str, Any]:
        """A domain response: a variant whose slot conditions hold, else one without conditions."""
        variants = self.domain["responses"][name]
        for variant in variants:
            conditions = variant.get("condition") or []
            if conditions and all(slots.get(c["name"]) == c["value"] for c in conditions if c["type"] == "slot"):
                return {k: v for k, v in variant.items() if k != "condition"}
        plain = next(v for v in variants if not v.get("condition"))
        return dict(plain)

    def _conversation(self, sender_id: str) -> Conversation:
        if sender_id not in self.conversations:
            slots = {name: slot.get("initial_value") for name, slot in self.domain.get("slots", {}).items()}
            self.conversations[sender_id] = Conversation(sender_id, slots)
        return self.conversations[sender_id]


def collected(recipient_id: str, draft: dict[str, Any]) -> list[dict[str, Any]]:
    """What Rasa's REST channel (a ``CollectingOutputChannel``) returns for one bot message."""
    out: list[dict[str, Any]] = []
    if draft.get("buttons"):
        out.append({"recipient_id": recipient_id, "text": draft.get("text"), "buttons": draft["buttons"]})
    elif draft.get("text"):
        out += [{"recipient_id": recipient_id, "text": part} for part in str(draft["text"]).strip().split("\n\n")]
    if draft.get("custom"):
        out.append({"recipient_id": recipient_id, "custom": draft["custom"]})
    if draft.get("image"):
        out.append({"recipient_id": recipient_id, "image": draft["image"]})
    if draft.get("attachment"):
        out.append({"recipient_id": recipient_id, "attachment": draft["attachment"]})
    return out
