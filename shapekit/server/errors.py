"""The server's error type: an HTTP status and a one-line message, sent as ``{"error": "..."}``.

It is a Starlette ``HTTPException``, so it passes unchanged through FastAPI's body parsing (an
oversized body detected while streaming stays a 413) and one handler renders every refusal.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException


class ApiError(HTTPException):
    """A request the server refuses: ``status`` (4xx) and a one-line ``message``.

    Examples
    --------
    >>> e = ApiError(404, "unknown model 'x'\\n available: a")
    >>> e.status, e.message
    (404, "unknown model 'x' available: a")
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = int(status)
        self.message = one_line(message)
        super().__init__(self.status, self.message)


def one_line(msg: object, limit: int = 600) -> str:
    """Collapse whitespace so that an error message is one line (and at most ``limit`` characters).

    Examples
    --------
    >>> one_line("a\\n  b\\tc")
    'a b c'
    """
    text = " ".join(str(msg).split()) or "unknown error"
    return text if len(text) <= limit else text[:limit - 3] + "..."
