"""The website channel: the widget's WebSocket (``socket``), its REST fallback and demo page (``routes``).

:data:`router` holds both, for the app to include.
"""

from fastapi import APIRouter

from webhook.channels.web import routes, socket

router = APIRouter()
router.include_router(routes.router)
router.include_router(socket.router)

__all__ = ["router"]
