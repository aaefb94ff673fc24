"""The store on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL."""

import pytest

from webhook.domain.errors import DatabaseURLError
from webhook.store.database import Database


def test_an_unsupported_database_url_is_refused():
    with pytest.raises(DatabaseURLError, match="unsupported database"):
        Database("mysql://root@localhost/test")
