"""A fake Telegram Bot API server on 127.0.0.1, for testing the Telegram channel offline.

Telegram's cloud is unreachable from the test machines, so the real python-telegram-bot
client is pointed at this server through ``base_url``/``base_file_url``. It answers the
handful of methods the channel uses with Bot API-shaped results, records every call for
assertions, can fail calls on demand (500s, 429 ``retry_after``) to exercise delivery
retries, queues updates for ``getUpdates`` long polling, and builds Update dicts that
``telegram.Update.de_json`` parses.

    with FakeTelegram() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
        fake.push_update(fake.text_update(42, "/start"))
"""

from __future__ import annotations

import asyncio
import email.policy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from html.parser import HTMLParser
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

JSON = dict[str, Any]
Handler = Callable[[JSON], Any]

# Form fields PTB sends are all strings; these conversions make recorded params read like the
# JSON the caller meant (chat_id=42, show_alert=True, reply_markup={...}) whatever the encoding.
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "data",
        "description",
        "title",
        "url",
        "secret_token",
        "callback_query_id",
        "file_id",
        "inline_message_id",
        "parse_mode",
        "action",
        "language_code",
        "query",
        "first_name",
        "last_name",
        "name",
        "emoji",
        "custom_title",
        "business_connection_id",
        "message_effect_id",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "max_connections",
        "duration",
        "width",
        "height",
        "until_date",
    }
)
_INT_RE = re.compile(r"-?\d+")
MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request (sendPhoto, sendDocument, ...)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Call:
    """One recorded request. ``time`` is ``time.monotonic()``, so gaps between retries can be measured."""

    method: str
    params: JSON
    time: float
    error_code: int | None = None  # set when the fake answered with an error
    result: Any = None  # what the fake answered (a sent Message, True, ...) when it succeeded

    @property
    def ok(self) -> bool:
        return self.error_code is None


@dataclass
class _Failure:
    error_code: int
    description: str
    times: int
    retry_after: int | None = None


class ApiError(Exception):
    """Raised by a method handler to answer ``{"ok": false, ...}`` as Telegram would."""

    def __init__(self, error_code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.error_code, self.description, self.parameters = error_code, description, parameters

    def response(self) -> JSONResponse:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return JSONResponse(body, status_code=self.error_code)


def _decode_field(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    if value in ("true", "false"):
        return value == "true"
    if key in _INT_FIELDS and _INT_RE.fullmatch(value):
        return int(value)
    if value.startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_multipart(body: bytes, content_type: str) -> JSON:
    """Parse multipart/form-data with the stdlib (python-multipart is not installed here)."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: JSON = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[str(name)] = payload.decode()
        else:
            fields[str(name)] = Upload(filename, part.get_content_type(), payload)
    return fields


async def _read_params(request: Request) -> JSON:
    """Merge query string and body parameters, in whichever encoding the client chose."""
    raw: JSON = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if body and kind == "application/json":
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ApiError(400, "Bad Request: parameters must be a JSON object")
        raw.update(decoded)
    elif body and kind == "multipart/form-data":
        raw.update(_parse_multipart(body, content_type))
    elif body:  # x-www-form-urlencoded, or no content type at all
        raw.update(parse_qsl(body.decode(), keep_blank_values=True))
    return {k: _decode_field(k, v) if isinstance(v, str) else v for k, v in raw.items()}


# What parse_mode=HTML accepts (https://core.telegram.org/bots/api#html-style).
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)


class _TelegramHTML(HTMLParser):
    """Rejects what Telegram's HTML parser rejects (other tags, unbalanced tags) and keeps the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.visible: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unexpected end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.visible.append(data)


def visible_text(text: str, parse_mode: Any = None) -> str:
    """The text as Telegram stores and shows it: HTML markup parsed away (other parse modes kept as sent).

    Telegram's length limit applies to this text, not to the markup, so the fake checks it here.
    """
    if str(parse_mode or "").upper() != "HTML":
        return text
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.open:
        problem = f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"'
        raise ApiError(400, f"Bad Request: can't parse entities: {problem}")
    return "".join(parser.visible)


def _utf16_len(text: str) -> int:
    """Entity offsets and lengths are in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str, offset: int = 0) -> list[JSON]:
    """The ``bot_command`` entity Telegram adds when a message starts with '/'."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": offset, "length": _utf16_len(command)}]


class FakeTelegram:
    """The Bot API at ``http://127.0.0.1:PORT``, served by uvicorn in a background thread."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        username: str = "larkspur_test_bot",
        bot_id: int | None = None,
        first_name: str = "Larkspur Test Bot",
    ) -> None:
        prefix = token.split(":", 1)[0]
        self.token = token
        self.username = username
        self.first_name = first_name
        # Telegram's bot id is the token's numeric prefix.
        self.bot_id = bot_id if bot_id is not None else int(prefix) if prefix.isdigit() else 123456
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(10_001)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._chats: dict[int, JSON] = {}
        self._last_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._files: dict[str, tuple[JSON, bytes]] = {}
        self.webhook: JSON = {}
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._handlers: dict[str, Handler] = {
            "getme": lambda _: self.me,
            "logout": lambda _: True,
            "close": lambda _: True,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,  # awaited by the endpoint, outside the lock
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": lambda _: True,
            "sendchataction": lambda _: True,
            "setmycommands": self._set_my_commands,
            "getmycommands": lambda p: self._commands.get(self._commands_key(p), []),
            "deletemycommands": self._delete_my_commands,
            "getfile": self._get_file,
        }
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
            ]
        )

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> FakeTelegram:
        """Bind a free port first (no race with other servers), then serve until ``stop()``."""
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._stopping = False
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="fake-telegram", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Telegram server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._stopping = True  # ends pending long polls at once
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the fake Telegram server is not started")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        """PTB's ``base_url``: PTB appends the token and then ``/method``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def me(self) -> JSON:
        """The bot's User, as getMe answers it."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @property
    def sender(self) -> JSON:
        """The bot as the ``from`` of its messages (Telegram leaves out the getMe-only fields)."""
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    # -- recording --------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded calls, oldest first; ``method`` matches case-insensitively, as Telegram does."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method.lower() == method.lower()]

    def mark(self) -> int:
        """The number of calls so far: pass it as ``since=`` to wait only for later calls."""
        with self._lock:
            return len(self._calls)

    def clear(self) -> None:
        """Forget recorded calls and pending failures (chats, messages and updates stay)."""
        with self._lock:
            self._calls.clear()
            self._failures.clear()

    def _find(self, method: str, predicate: Callable[[Call], bool] | None, since: int) -> Call | None:
        with self._lock:
            for call in self._calls[since:]:
                if call.method.lower() == method.lower() and (predicate is None or predicate(call)):
                    return call
        return None

    def _timeout_error(self, method: str, timeout: float, since: int) -> AssertionError:
        with self._lock:
            listed = "\n".join(f"  {c.method} {c.params} error={c.error_code}" for c in self._calls[since:])
        return AssertionError(f"no matching {method} call within {timeout}s; recorded calls:\n{listed or '  (none)'}")

    def wait_for(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 10.0, *, since: int = 0
    ) -> Call:
        """Block until a matching call is recorded (calls already recorded count too).

        Blocks the calling thread: from a coroutine on the loop that makes the calls, use
        ``wait_for_async`` instead, or the calls can never be made.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while (call := self._find(method, predicate, since)) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error(method, timeout, since)
                self._changed.wait(remaining)
            return call

    async def wait_for_async(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 10.0, *, since: int = 0
    ) -> Call:
        """``wait_for`` that yields to the event loop while it waits."""
        deadline = time.monotonic() + timeout
        while (call := self._find(method, predicate, since)) is None:
            if time.monotonic() > deadline:
                raise self._timeout_error(method, timeout, since)
            await asyncio.sleep(0.02)
        return call

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts of successful sendMessage calls as the user sees them (HTML parsed away), optionally to one chat.

        The raw text, markup included, is in ``calls("sendMessage")[i].params["text"]``.
        """
        return [
            visible_text(str(c.params.get("text")), c.params.get("parse_mode"))
            for c in self.calls("sendMessage")
            if c.ok and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    # -- failure injection ------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        error_code: int = 500,
        description: str = "Internal Server Error",
        times: int = 1,
        *,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error.

        With ``retry_after`` the answer is Telegram's flood-control 429 carrying
        ``parameters.retry_after``, which PTB raises as ``telegram.error.RetryAfter``.
        """
        if retry_after is not None:
            error_code, description = 429, f"Too Many Requests: retry after {retry_after}"
        with self._lock:
            self._failures.setdefault(method.lower(), []).append(_Failure(error_code, description, times, retry_after))

    def _take_failure(self, method: str) -> ApiError | None:
        with self._lock:
            queue = self._failures.get(method.lower())
            if not queue:
                return None
            failure = queue[0]
            failure.times -= 1
            if failure.times <= 0:
                queue.pop(0)
            parameters = {"retry_after": failure.retry_after} if failure.retry_after is not None else None
            return ApiError(failure.error_code, failure.description, parameters)

    # -- HTTP -------------------------------------------------------------------------
    def _record(self, method: str, params: JSON, error_code: int | None = None, result: Any = None) -> None:
        with self._changed:
            self._calls.append(Call(method, params, time.monotonic(), error_code, result))
            self._changed.notify_all()

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params = await _read_params(request)
        except (ApiError, ValueError, UnicodeDecodeError) as exc:
            self._record(method, {}, 400)
            return ApiError(400, f"Bad Request: {exc}").response()
        try:
            if request.path_params["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._handlers.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            if (failure := self._take_failure(method)) is not None:
                raise failure
            if method.lower() == "getupdates":  # may wait: must not hold the lock
                result = await self._get_updates(params)
            else:
                with self._lock:
                    result = handler(params)
        except ApiError as error:
            self._record(method, params, error.error_code)
            return error.response()
        self._record(method, params, result=result)
        return JSONResponse({"ok": True, "result": result})

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        path = request.path_params["path"]
        with self._lock:
            content = next((data for info, data in self._files.values() if info["file_path"] == path), None)
        if content is None:
            return ApiError(404, "Not Found").response()
        return Response(content, media_type="application/octet-stream")

    # -- chats and messages -----------------------------------------------------------
    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        *,
        title: str | None = None,
        first_name: str = "Test",
        username: str | None = None,
    ) -> JSON:
        """Register a chat so messages sent to it carry its type; unknown chats are private."""
        chat: JSON = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
            if username:
                chat["username"] = username
        else:
            chat["title"] = title or "Test group"
        with self._lock:
            self._chats[chat_id] = chat
        return dict(chat)

    def _chat(self, chat_id: int | str) -> JSON:
        if isinstance(chat_id, str):
            if not _INT_RE.fullmatch(chat_id):
                raise ApiError(400, "Bad Request: chat not found")
            chat_id = int(chat_id)
        with self._lock:
            return dict(self._chats.get(chat_id) or {"id": chat_id, "type": "private", "first_name": "Test"})

    def _next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by the user's and the bot's messages, as in Telegram."""
        with self._lock:
            self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
            return self._last_message_id[chat_id]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """A message as the fake last saw it (sent, edited or built), or None."""
        with self._lock:
            found = self._messages.get((chat_id, message_id))
            return dict(found) if found else None

    def _store(self, message: JSON) -> JSON:
        with self._lock:
            chat_id, message_id = message["chat"]["id"], message["message_id"]
            self._messages[(chat_id, message_id)] = message
            self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), message_id)
        return message

    # -- method handlers (called with the lock held) ----------------------------------
    @staticmethod
    def _require(params: JSON, *names: str) -> None:
        for name in names:
            if params.get(name) in (None, ""):
                raise ApiError(400, f"Bad Request: parameter {name} is required")

    @staticmethod
    def _check_markup(markup: Any) -> None:
        """Telegram rejects callback_data over 64 bytes; catching it here catches it before production."""
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    @staticmethod
    def _text(params: JSON) -> str:
        """The message text after parse_mode, checked as Telegram checks it."""
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        text = visible_text(text, params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    def _send_message(self, params: JSON) -> JSON:
        self._require(params, "chat_id")
        text = self._text(params)
        self._check_markup(params.get("reply_markup"))
        chat = self._chat(params["chat_id"])
        message: JSON = {
            "message_id": self._next_message_id(chat["id"]),
            "date": int(time.time()),
            "chat": chat,
            "from": self.sender,
            "text": text,
        }
        if params.get("entities"):
            message["entities"] = params["entities"]
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return self._store(message)

    def _editable(self, params: JSON) -> JSON | None:
        """The stored message an edit targets, or None for inline messages (answered with true)."""
        if params.get("inline_message_id"):
            return None
        self._require(params, "chat_id", "message_id")
        chat_id = self._chat(params["chat_id"])["id"]
        message = self._messages.get((chat_id, int(params["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        text = self._text(params)
        self._check_markup(params.get("reply_markup"))
        message = self._editable(params)
        if message is None:
            return True
        markup = params.get("reply_markup") or None  # an edit without reply_markup drops the keyboard
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        message.update(text=text, edit_date=int(time.time()))
        message.pop("reply_markup", None)
        message.pop("entities", None)
        if markup:
            message["reply_markup"] = markup
        if params.get("entities"):
            message["entities"] = params["entities"]
        return dict(message)

    def _edit_message_reply_markup(self, params: JSON) -> JSON | bool:
        self._check_markup(params.get("reply_markup"))
        message = self._editable(params)
        if message is None:
            return True
        markup = params.get("reply_markup") or None
        if message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return dict(message)

    def _set_webhook(self, params: JSON) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if not params.get("url"):  # Telegram: an empty url removes the webhook
            self.webhook = {}
            return True
        self.webhook = {
            key: params[key]
            for key in ("url", "secret_token", "allowed_updates", "max_connections", "ip_address")
            if params.get(key) is not None
        }
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        self.webhook = {}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, _: JSON) -> JSON:
        info: JSON = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("allowed_updates", "max_connections", "ip_address"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    def _commands_key(self, params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: parameter commands is required")
        self._commands[self._commands_key(params)] = commands
        return True

    def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _get_file(self, params: JSON) -> JSON:
        self._require(params, "file_id")
        found = self._files.get(str(params["file_id"]))
        if found is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return dict(found[0])

    async def _get_updates(self, params: JSON) -> list[JSON]:
        """Long polling: confirm ``offset``, then wait up to ``timeout`` s for at most ``limit`` updates."""
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset, limit = int(params.get("offset") or 0), max(1, min(100, int(params.get("limit") or 100)))
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            with self._lock:
                if offset < 0:  # -N: the last N updates, forgetting all earlier ones
                    del self._updates[: max(0, len(self._updates) + offset)]
                elif offset:
                    self._updates[:] = [u for u in self._updates if u["update_id"] >= offset]
                batch = [dict(u) for u in self._updates[:limit]]
            if batch or self._stopping or time.monotonic() >= deadline:
                return batch
            await asyncio.sleep(0.02)

    # -- updates ----------------------------------------------------------------------
    def push_update(self, update: JSON) -> JSON:
        """Queue an update for getUpdates (thread-safe: call it from any thread)."""
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    def pending_updates(self) -> list[JSON]:
        with self._lock:
            return [dict(u) for u in self._updates]

    def post_to_webhook(self, update: JSON, *, timeout: float = 30.0) -> httpx.Response:
        """Deliver an update to the registered webhook the way Telegram does, secret header included."""
        if not self.webhook.get("url"):
            raise AssertionError("no webhook is set (call setWebhook first)")
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
        return httpx.post(str(self.webhook["url"]), content=json.dumps(update), headers=headers, timeout=timeout)

    def _update(self, kind: str, payload: JSON) -> JSON:
        return {"update_id": next(self._update_ids), kind: payload}

    @staticmethod
    def _user(user_id: int, first_name: str, username: str | None, language_code: str | None) -> JSON:
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def _user_message(
        self,
        user_id: int,
        *,
        chat_id: int | None,
        chat_type: str | None,
        first_name: str,
        username: str | None,
        language_code: str | None,
        message_id: int | None,
        title: str | None = None,
    ) -> JSON:
        """The envelope of a message a user sends; registers its chat (a None type keeps a known one)."""
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            known = self._chats.get(chat_id)
        if chat_type is None:  # group and supergroup ids are negative in Telegram
            chat_type = known["type"] if known else "private" if chat_id > 0 else "group"
        if known is None or known["type"] != chat_type:
            if chat_type == "private":
                self.add_chat(chat_id, chat_type, first_name=first_name, username=username)
            else:
                self.add_chat(chat_id, chat_type, title=title)
        return {
            "message_id": message_id if message_id is not None else self._next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self._user(user_id, first_name, username, language_code),
        }

    def text_update(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        message_id: int | None = None,
        entities: list[JSON] | None = None,
    ) -> JSON:
        """A ``message`` update; a leading '/' gets the ``bot_command`` entity Telegram adds."""
        message = self._user_message(
            user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            language_code=language_code,
            message_id=message_id,
        )
        message["text"] = text
        entities = command_entities(text) if entities is None else entities
        if entities:
            message["entities"] = entities
        return self._update("message", self._store(message))

    def group_text_update(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        mention: bool = False,
        *,
        chat_type: str = "group",
        title: str = "Test group",
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        message_id: int | None = None,
    ) -> JSON:
        """A group message; ``mention=True`` prefixes "@<bot username> " with its ``mention`` entity."""
        message = self._user_message(
            user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            language_code=language_code,
            message_id=message_id,
            title=title,
        )
        entities = command_entities(text)
        if mention:
            handle = f"@{self.username}"
            shift = _utf16_len(handle) + 1
            entities = [{"type": "mention", "offset": 0, "length": _utf16_len(handle)}] + [
                {**e, "offset": e["offset"] + shift} for e in entities
            ]
            text = f"{handle} {text}"
        message["text"] = text
        if entities:
            message["entities"] = entities
        return self._update("message", self._store(message))

    def edited_update(
        self,
        user_id: int,
        text: str,
        *,
        message_id: int,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        """An ``edited_message`` update: the user changed an earlier message's text."""
        message = self._user_message(
            user_id,
            chat_id=chat_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            language_code=language_code,
            message_id=message_id,
        )
        message.update(text=text, date=message["date"] - 60, edit_date=message["date"])
        if entities := command_entities(text):
            message["entities"] = entities
        return self._update("edited_message", self._store(message))

    def callback_update(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int,
        chat_id: int | None = None,
        message_text: str | None = None,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        """A ``callback_query`` update: the user pressed an inline button on the bot's message.

        The message is the one the fake recorded (sent through sendMessage) when it exists;
        otherwise a bot message with ``message_text`` and a keyboard holding the pressed button
        is made up and remembered, so edits work.
        """
        chat_id = user_id if chat_id is None else chat_id
        message = self.message(chat_id, message_id)
        if message is None or message_text is not None:
            message = self._store(
                {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": self._chat(chat_id),
                    "from": self.sender,
                    "text": message_text if message_text is not None else "...",
                    "reply_markup": {"inline_keyboard": [[{"text": data, "callback_data": data}]]},
                }
            )
        return self._update(
            "callback_query",
            {
                "id": str(next(self._callback_ids) + 4_000_000_000_000_000_000),
                "from": self._user(user_id, first_name, username, language_code),
                "chat_instance": f"{self.bot_id}{abs(chat_id)}",
                "data": data,
                "message": dict(message),
            },
        )

    def _add_file(self, prefix: str, content: bytes, file_path: str) -> JSON:
        """Register downloadable bytes; returns the file fields shared by PhotoSize/Document/Voice."""
        number = next(self._file_ids)
        file_id, unique_id = f"{prefix}-file-{number:04d}", f"{prefix}-u{number:04d}"
        info = {"file_id": file_id, "file_unique_id": unique_id, "file_size": len(content), "file_path": file_path}
        with self._lock:
            self._files[file_id] = (info, content)
        return {"file_id": file_id, "file_unique_id": unique_id, "file_size": len(content)}

    def _media_update(
        self,
        user_id: int,
        caption: str | None,
        chat_id: int | None,
        first_name: str,
        username: str | None,
        language_code: str | None,
        **media: Any,
    ) -> JSON:
        message = self._user_message(
            user_id,
            chat_id=chat_id,
            chat_type=None,
            first_name=first_name,
            username=username,
            language_code=language_code,
            message_id=None,
        )
        message.update(media)
        if caption is not None:
            message["caption"] = caption
        return self._update("message", self._store(message))

    def photo_update(
        self,
        user_id: int,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        content: bytes = b"\xff\xd8\xff fake jpeg",
    ) -> JSON:
        """A photo message: Telegram sends several sizes, smallest first."""
        sizes = [
            {**self._add_file("photo", content, f"photos/file_{n}.jpg"), "width": width, "height": height}
            for n, (width, height) in enumerate([(90, 60), (320, 213), (1280, 853)])
        ]
        return self._media_update(user_id, caption, chat_id, first_name, username, language_code, photo=sizes)

    def document_update(
        self,
        user_id: int,
        *,
        file_name: str = "invoice.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        content: bytes = b"%PDF-1.4 fake",
    ) -> JSON:
        document = {
            **self._add_file("document", content, f"documents/{file_name}"),
            "file_name": file_name,
            "mime_type": mime_type,
        }
        return self._media_update(user_id, caption, chat_id, first_name, username, language_code, document=document)

    def voice_update(
        self,
        user_id: int,
        *,
        duration: int = 3,
        caption: str | None = None,
        chat_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        content: bytes = b"OggS fake voice",
    ) -> JSON:
        voice = {**self._add_file("voice", content, "voice/file_0.oga"), "duration": duration, "mime_type": "audio/ogg"}
        return self._media_update(user_id, caption, chat_id, first_name, username, language_code, voice=voice)
