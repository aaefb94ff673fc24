"""What the HTML pages need: the Jinja templates (built once by the app, on ``app.state.templates``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends
from fastapi.requests import HTTPConnection
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

PAGES = Path(__file__).resolve().parent


def build_templates() -> Jinja2Templates:
    """The pages' templates, with a ``markdown`` filter that renders articles (raw HTML in them is escaped)."""
    templates = Jinja2Templates(directory=PAGES / "templates")
    markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
    templates.env.filters["markdown"] = markdown.render
    return templates


def templates_of(connection: HTTPConnection) -> Jinja2Templates:
    found: Jinja2Templates = connection.app.state.templates
    return found


TemplatesDep = Annotated[Jinja2Templates, Depends(templates_of)]
