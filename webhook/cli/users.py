"""``create-user``: add or change a user of the agent console."""

from __future__ import annotations

import argparse
import asyncio
import sys

from webhook.cli.database import CLI_ACTOR
from webhook.settings import get_settings


def read_password() -> str | None:
    """The password when --password is not given: asked twice on a terminal, else stdin's first line."""
    if sys.stdin is None:
        return None
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise SystemExit("error: the two passwords differ")  # status 1
        return first
    line = sys.stdin.readline()
    return line.rstrip("\r\n") or None


def create_user(args: argparse.Namespace) -> int:
    """Add a console user (or, with --update, change one); errors go to stderr with status 1."""
    from webhook.store import users as user_store
    from webhook.store.database import Database, migrate

    password = args.password if args.password is not None else read_password()
    if not password:
        print("error: no password: give --password or one line on standard input", file=sys.stderr)
        return 1
    try:
        user_store.check_username(args.username)
        user_store.check_password_strength(password)
    except user_store.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    settings = get_settings()
    migrate(settings.database_url)

    async def go() -> str:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                existing = await user_store.find_user(session, args.username) if args.update else None
                if existing is not None:
                    user = await user_store.update_user(
                        session,
                        existing.username,
                        password=password,
                        role=args.role,
                        display_name=args.display_name,
                        is_active=True,
                        actor=CLI_ACTOR,
                    )
                    verb = "updated"
                else:
                    user = await user_store.create_user(
                        session, args.username, password, args.role, args.display_name, actor=CLI_ACTOR
                    )
                    verb = "created"
                await session.commit()
                return f"{verb} {user.role.value} {user.username!r} (shown to customers as {user.display_name!r})"
        finally:
            await db.dispose()

    try:
        print(asyncio.run(go()))
    except user_store.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
