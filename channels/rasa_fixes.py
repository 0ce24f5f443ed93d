"""A local fix for the rasa server's main per-message cost (Rasa 3.6 gets no more releases).

Rasa's ``RemoteAction`` checks every action server response with ``jsonschema.validate``, and
jsonschema first re-checks the schema itself against its metaschema on every call: about 27 ms per
custom action call on this machine, paid twice by a turn that runs a form and an action (see
docs/benchmarks.md, "Where the time goes"). Here the validator is built once from the same schema;
each response is still validated against it, invalid responses raise the same ``ValidationError``
with Rasa's own hint appended, so behaviour is unchanged and only the repeated schema check goes.

:func:`install` is called when the server builds our input channels and event broker (never at
import time), and is idempotent.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

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


def install() -> None:
    """Use the prebuilt validator in this process's ``RemoteAction`` (idempotent)."""
    if RemoteAction._validate_action_result is not validate_action_result:
        RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
        logger.debug("RemoteAction validates responses with a prebuilt schema validator")
