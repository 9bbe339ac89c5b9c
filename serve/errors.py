"""OpenAI-style API errors: an HTTP status and ``{"error": {message, type, param, code}}``.

Every refusal of the server is one :class:`APIError`; the app turns it into exactly one response.
The message says what to change, and names the server flag that would allow a refused request.
"""

from __future__ import annotations

from typing import Any

# status -> OpenAI's error ``type`` for it
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class APIError(Exception):
    """A request refused with ``status``; ``extra`` adds fields to the error body (a plan)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI clients parse (``openai.BadRequestError.body`` and friends)."""
        err = {
            "message": self.message,
            "type": TYPES.get(self.status, "invalid_request_error"),
            "param": self.param,
            "code": self.code,
        }
        err.update(self.extra)
        return {"error": err}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)
