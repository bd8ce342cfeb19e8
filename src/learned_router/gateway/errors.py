"""OpenAI-style error bodies: every failed request ends in one of these."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error the caller gets as an OpenAI-style body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "param", "code"}}``, as OpenAI sends it.

        >>> GatewayError(401, "bad key", code="invalid_api_key").body()["error"]["code"]
        'invalid_api_key'
        """
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class UpstreamError(Exception):
    """An upstream failed (network, timeout, 429, 5xx, or an error event before the first byte)."""

    def __init__(self, upstream: str, status: int | None, message: str) -> None:
        super().__init__(f"{upstream}: {message}")
        self.upstream = upstream
        self.status = status
        self.message = message

    @property
    def caller_fault(self) -> bool:
        """A 400/404/422 means the request itself is bad: no other model will take it either."""
        return self.status in (400, 404, 413, 422)
