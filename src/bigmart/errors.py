"""The errors a user reads, each carrying its HTTP status and its ``bigmart`` exit code.

One base class, as Starlette's ``HTTPException`` and MLServer's ``MLServerError``: the
endpoint renders any ``BigmartError`` with one handler (``status_code`` and a JSON body),
and the CLI with one ``except`` (one line on stderr, then ``exit_code``), so the same error
has the same status and exit code wherever it is raised. Anything that is not a
``BigmartError`` is a defect (or the operating system's ``OSError``) and is handled as such.

The classes that belong to one layer (``SchemaError`` in ``schema``, ``ArtifactError`` in
``model.artifact``, ...) are defined there and subclass ``BigmartError``; they keep their
older base (``ValueError``, ``OSError``, ``RuntimeError``) so existing ``except`` clauses
still hold. The classes here are the ones no single layer owns.
"""

from __future__ import annotations

from typing import Any, ClassVar

#: The ``bigmart`` exit codes an error can carry (``contract`` has the others: signals,
#: ``serve``'s). Here rather than there because ``contract`` raises ``RequestError``.
EXIT_FAILED = 1  # a job failed, or a file or the job store could not be read or written
EXIT_USAGE = 2  # a usage error or a refused input


class BigmartError(Exception):
    """An error whose message is for the user: one line saying what, where, what is right.

    Subclasses set ``status_code`` (the HTTP answer) and ``exit_code`` (the CLI's); the
    defaults are a server-side failure.
    """

    status_code: ClassVar[int] = 500
    exit_code: ClassVar[int] = EXIT_FAILED

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of the HTTP answer."""
        return {"error": str(self)}


class UserError(BigmartError):
    """The request, the input or the command line is wrong, not the product (as the
    SageMaker training toolkit's ``ClientError``): HTTP 400, exit code 2. Subclasses that
    mean a more precise HTTP answer (415, 406, 413) set their own ``status_code``."""

    status_code = 400
    exit_code = EXIT_USAGE


class UsageError(UserError):
    """A command-line mistake or a refused request: printed as one line, exit code 2."""


class RequestError(UserError, ValueError):
    """An argument SageMaker would reject; the message names it and what is valid."""
