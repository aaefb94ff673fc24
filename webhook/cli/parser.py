"""The command line's arguments and help texts (argparse), one function per group of commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_article_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = sub.add_parser(
        "import-articles",
        help="import a folder of Markdown articles, or a kb.jsonl file",
        description="Import articles as new versions of the translations whose content changed, "
        "in one transaction: a folder of Markdown files with front matter (<key>/<lang>.md), "
        "or with --kb a kb.jsonl file in the evaluation format (shared/eval/FORMAT.md).",
    )
    imp.add_argument("folder", type=Path, nargs="?", help="a folder of Markdown articles")
    imp.add_argument("--kb", type=Path, metavar="FILE.jsonl", help="a kb.jsonl file instead of a folder")
    mode = imp.add_mutually_exclusive_group()
    mode.add_argument("--publish", dest="publish", action="store_true", default=True, help="make them live (default)")
    mode.add_argument("--draft", dest="publish", action="store_false", help="save them as drafts")
    imp.set_defaults(usage_error=imp.error)
    exp = sub.add_parser(
        "export-articles",
        help="write the articles to a folder of Markdown files (<key>/<lang>.md)",
        description="Write each translation to DIR/<key>/<lang>.md with YAML front matter, "
        "the format import-articles reads.",
    )
    exp.add_argument("folder", type=Path, metavar="DIR")
    exp.add_argument(
        "--status",
        choices=["published", "all"],
        default="published",
        help="published: the live version of each live translation (default); all: each translation's "
        "latest version, drafts and archived ones included, with status: and version: in the front matter",
    )
    exp.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")


def add_user_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser(
        "create-user",
        help="add a user of the agent console",
        description="Add a user of the agent console. Without --password, the password is read from "
        "standard input (its first line), or asked for on a terminal.",
    )
    user.add_argument("--username", required=True, help="1-64 characters: letters, digits, '_', '.', '-'")
    user.add_argument("--role", required=True, choices=["agent", "editor", "admin"])
    user.add_argument("--password", help="at least 8 characters (visible to other local users: prefer stdin)")
    user.add_argument("--display-name", help="the name customers see (default: the username)")
    user.add_argument(
        "--update",
        action="store_true",
        help="if the user exists, set its password, role (and display name) instead, and end its sign-ins",
    )


CUSTOMER_REF = (
    "the customer: our customer id, a conversation id, telegram:<user id>, web:<session token>, "
    "web:user:<verified id>, or an e-mail address a verified identity carries"
)


def add_privacy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    exp = sub.add_parser("export-customer", help="everything we hold about one customer, as JSON")
    exp.add_argument("ref", help=CUSTOMER_REF)
    exp.add_argument("--output", "-o", type=Path, metavar="FILE", help="write it to FILE instead of stdout")
    erase = sub.add_parser(
        "erase-customer",
        help="erase one customer everywhere: our tables and Rasa's tracker store",
        description="Erase one customer everywhere; their conversations stay only as anonymous counts. "
        "Recorded in the audit log (rows per table, no data).",
    )
    erase.add_argument("ref", help=CUSTOMER_REF)
    erase.add_argument("--yes", action="store_true", help="do not ask first (on a terminal it asks)")
    keep = sub.add_parser("retention", help="erase conversations resolved more than RETENTION_DAYS ago, now")
    keep.add_argument("--dry-run", action="store_true", help="only count what would be erased")
    keep.add_argument("--days", type=int, help="instead of RETENTION_DAYS")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m webhook")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the web service and Rasa; Ctrl-C stops both")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("prepare", help="migrate, seed the demo help centre, build the index")
    cal = sub.add_parser("calibrate", help="calibrate the fusion weights and decision thresholds on labelled questions")
    cal.add_argument("--questions", type=Path, help="JSONL: text, expected (article key or null), lang")
    add_article_commands(sub)
    add_user_command(sub)
    add_privacy_commands(sub)
    return parser
