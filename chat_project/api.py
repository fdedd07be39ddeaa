"""Glue for the native REST door: ChatError and DRF errors in one JSON shape.

Every error body is {"code": int, "message": str}; DRF's validation details go in
"detail" so a client can show which field was wrong.
"""

from django.core.exceptions import TooManyFieldsSent
from rest_framework import exceptions, parsers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chat_project import wire
from chat_project.errors import ChatError
from chat_project.unavailable import BUSY_CODE, busy_headers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on orjson, as the socket reads frames: nesting past 1,024
    levels, a lone surrogate or a NaN is malformed JSON (90001), where Python's json
    raises RecursionError (a 500) or lets a surrogate through to fail in the database."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return wire.loads(stream.read())
        except wire.JSONDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


def exception_handler(exc, context):
    if isinstance(exc, ChatError):
        if exc.code == BUSY_CODE:  # a send's result: "busy, retry" (chat_project/unavailable.py)
            return busy_headers(Response(exc.as_dict(), status=503))
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, TooManyFieldsSent):  # over DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000)
        return Response({"code": 910003, "message": "too many query or form fields"},
                        status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = getattr(exc, "chat_code", 910008)
        body = {"code": code, "message": str(exc.detail)}
    elif isinstance(exc, exceptions.PermissionDenied):
        body = {"code": 910009, "message": str(exc.detail)}
    elif isinstance(exc, exceptions.NotFound):
        body = {"code": 910004, "message": str(exc.detail)}
    elif isinstance(exc, exceptions.Throttled):
        body = {"code": 910005, "message": str(exc.detail)}
    elif isinstance(exc, exceptions.ParseError):
        body = {"code": 90001, "message": str(exc.detail)}
    elif isinstance(exc, exceptions.ValidationError):
        body = {"code": 910003, "message": "invalid request", "detail": response.data}
    else:
        body = {"code": 20001, "message": str(getattr(exc, "detail", exc))}
    response.data = body
    return response
