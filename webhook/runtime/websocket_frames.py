"""Reading a WebSocket's next text frame, for the widget's and the console's sockets alike.

Both protocols are JSON objects in text frames. Two frames used to be unhandled errors that
ended the socket without a close frame: a binary one (Starlette's ``receive_text`` meets it
with a ``KeyError``) and JSON nested deeper than the parser's recursion limit
(``RecursionError``). Here each is a ``ValueError``, as malformed JSON is, which the sockets
answer with a ``bad_frame`` error like any other frame they cannot read.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect


class BinaryFrame(ValueError):
    """A binary frame where JSON text was expected."""


async def receive_text_frame(ws: WebSocket) -> str:
    """The next text frame; :class:`BinaryFrame` for a binary one; WebSocketDisconnect when the client left."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:
        raise BinaryFrame("frames are JSON text, not binary")
    return str(text)


def parse_json_object(raw: str) -> dict[str, Any]:
    """A frame's JSON object; ValueError for anything else (malformed, nested too deeply, not an object)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError("a frame must be a JSON object")
    return value
