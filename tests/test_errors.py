"""The one line an error is reported in, in logs and in a run's record."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from syncd.errors import AuthError, error_line, first_line


def test_an_unforeseen_error_gives_its_type_and_first_line() -> None:
    assert (
        error_line(RuntimeError("HTTP 503 from esp\nbody: ..."))
        == "RuntimeError: HTTP 503 from esp"
    )
    assert error_line(KeyError()) == "KeyError"


def test_a_syncd_error_gives_its_own_words() -> None:
    assert error_line(AuthError("esp: the API key was refused")) == "esp: the API key was refused"


def test_a_database_error_gives_the_driver_s_words_not_the_wrapping() -> None:
    wrapped = sa.exc.OperationalError(
        "SELECT 1", {}, sqlite3.OperationalError("database is locked")
    )
    assert first_line(wrapped) == "database is locked"
    assert error_line(wrapped) == "OperationalError: database is locked"
