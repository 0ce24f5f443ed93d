"""Local fixes to the rasa server (Rasa 3.6 gets no more releases), installed together.

1. **The per-message schema check.** Rasa's ``RemoteAction`` checks every action server response
   with ``jsonschema.validate``, and jsonschema first re-checks the schema itself against its
   metaschema on every call: about 27 ms per custom action call on this machine, paid twice by a
   turn that runs a form and an action (see docs/benchmarks.md, "Where the time goes").
   Here the validator is built once from the same schema; each response is still validated
   against it, invalid responses raise the same ``ValidationError`` with Rasa's own hint
   appended, so behaviour is unchanged and only the repeated schema check goes.
2. **No error in the tracker store ends the process.** ``SQLTrackerStore.session_scope`` takes
   *any* ``ValueError`` raised while a conversation is read or written (a ``UnicodeEncodeError``
   from an unencodable sender id is one) for a missing PostgreSQL schema and calls ``sys.exit``:
   one request stopped the server for everyone. Here only the schema check itself can end the
   process (at start, where Rasa's message is right); any other error reaches the turn, whose
   never-silent guard answers honestly (``channels/never_silent.py``).
3. **The input gate** in front of every channel (``channels/input_gate.py``) and **no personal data
   in log lines** (``golden_rule/privacy.py``).

:func:`install` is called when the server builds our input channels and event broker (never at
import time), and is idempotent.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.utils.cli import print_error_and_exit
from sqlalchemy.orm import Session

from channels import input_gate
from golden_rule.privacy import install_log_privacy

logger = logging.getLogger(__name__)


@functools.cache
def response_validator() -> Validator:
    """A validator for Rasa's action response schema, its schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with a prebuilt validator (same errors as Rasa's)."""
    error = best_match(response_validator().iter_errors(result))
    if error is None:
        return True
    assert isinstance(error, ValidationError)
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the "
        f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
    )
    raise error


@contextlib.contextmanager
def tracker_session_scope(self: SQLTrackerStore) -> Iterator[Session]:
    """``SQLTrackerStore.session_scope`` that exits only when the schema is really missing."""
    session = self.sessionmaker()
    try:
        try:
            ensure_schema_exists(session)
        except ValueError as error:  # Rasa's own signal for a missing PostgreSQL schema
            print_error_and_exit(
                f"Requested PostgreSQL schema '{error}' was not found in the database. Create it "
                "or unset POSTGRESQL_SCHEMA. Exiting."
            )
        yield session
    finally:
        session.close()


def install() -> None:
    """Install every fix above in this process (idempotent)."""
    install_log_privacy()
    input_gate.install()
    if SQLTrackerStore.session_scope is not tracker_session_scope:
        SQLTrackerStore.session_scope = tracker_session_scope  # type: ignore[method-assign,assignment]
    if RemoteAction._validate_action_result is not validate_action_result:
        RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
        logger.debug("RemoteAction validates responses with a prebuilt schema validator")
