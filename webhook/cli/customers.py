"""``export-customer``, ``erase-customer`` and ``retention``: the privacy commands, recorded in the audit log."""

from __future__ import annotations

import argparse
import sys

from webhook.cli.database import CLI_ACTOR, with_database
from webhook.settings import get_settings


def export_customer(args: argparse.Namespace) -> int:
    """Everything we hold about one customer, as JSON on stdout or in a file; recorded in the audit log."""
    from webhook.domain.errors import CustomerNotFound
    from webhook.services.customer_data import CustomerData

    tracker = get_settings().rasa_tracker_db
    try:
        export = with_database(lambda db: CustomerData(db, tracker).export(args.ref, CLI_ACTOR))
    except CustomerNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = export.model_dump_json(indent=2)
    if args.output is None:
        print(text)
        return 0
    args.output.write_text(text + "\n", encoding="utf-8")
    print(f"wrote customer {export.customer.id} ({len(export.conversations)} conversations) to {args.output}")
    return 0


def confirmed(question: str) -> bool:
    """Asked on a terminal; a script (no terminal) is taken to mean it."""
    if sys.stdin is None or not sys.stdin.isatty():
        return True
    return input(f"{question} [y/N] ").strip().lower() == "y"


def erase_customer(args: argparse.Namespace) -> int:
    """Erase one customer everywhere (asks first on a terminal, unless --yes); prints the rows per table."""
    from webhook.domain.errors import CustomerNotFound, TrackerStoreUnavailable
    from webhook.services.customer_data import CustomerData

    if not args.yes and not confirmed(f"Erase the customer {args.ref!r} everywhere? This cannot be undone."):
        print("nothing was erased", file=sys.stderr)
        return 1
    tracker = get_settings().rasa_tracker_db
    try:
        report = with_database(lambda db: CustomerData(db, tracker).erase(args.ref, CLI_ACTOR))
    except (CustomerNotFound, TrackerStoreUnavailable) as exc:
        print(f"error: {exc}; nothing was erased", file=sys.stderr)
        return 1
    print(report.model_dump_json(indent=2))
    return 0


def retention(args: argparse.Namespace) -> int:
    """Erase (or with --dry-run count) what is older than RETENTION_DAYS, as the daily task does."""
    from webhook.domain.errors import TrackerStoreUnavailable
    from webhook.services.retention import Retention

    settings = get_settings()
    days = args.days if args.days is not None else settings.retention_days
    if days <= 0:
        print("error: retention is off: set RETENTION_DAYS (or give --days N)", file=sys.stderr)
        return 1
    try:
        report = with_database(
            lambda db: Retention(db, settings.rasa_tracker_db, days).run(dry_run=args.dry_run, actor=CLI_ACTOR)
        )
    except TrackerStoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.model_dump_json(indent=2))
    return 0
