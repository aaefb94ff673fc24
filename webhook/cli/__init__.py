"""Commands: ``python -m webhook run|migrate|prepare|calibrate|import-articles|export-articles|create-user``,
and the privacy commands ``export-customer|erase-customer|retention``.

One module per group of commands: ``parser`` (the arguments and help texts), ``serve`` (run, migrate,
prepare), ``knowledge`` (the articles' import and export, calibration), ``users`` (create-user),
``customers`` (export-customer, erase-customer, retention); ``database`` holds what they share.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from webhook.cli.customers import erase_customer, export_customer, retention
from webhook.cli.knowledge import calibrate, export_articles, import_articles
from webhook.cli.parser import build_parser
from webhook.cli.serve import migrate_database, prepare, run_service
from webhook.cli.users import create_user

HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": run_service,
    "migrate": migrate_database,
    "prepare": lambda _args: prepare(),
    "calibrate": lambda args: calibrate(args.questions),
    "create-user": create_user,
    "export-articles": lambda args: export_articles(args.folder, args.status, args.overwrite),
    "export-customer": export_customer,
    "erase-customer": erase_customer,
    "retention": retention,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = HANDLERS.get(args.command)
    if handler is not None:
        return handler(args)
    # import-articles
    if (args.folder is None) == (args.kb is None):
        args.usage_error("give a FOLDER or --kb FILE.jsonl (one of them)")
    return import_articles(args.folder, args.kb, args.publish)
