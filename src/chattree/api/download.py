"""GET /export: all of the caller's conversations as one JSON file, streamed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from chattree.errors import Unauthenticated
from chattree.services.bundle import Services
from chattree.services.portability import ExportFormat
from chattree.services.tokens import bearer_token


async def export_download(request: Request) -> Response:
    """`?format=chattree` (the default) or `?format=chatgpt`, with a Bearer token."""
    services: Services = request.app.state.services
    try:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>'")
        user = await services.accounts.authenticate(token)
    except Unauthenticated as exc:
        return error(401, "UNAUTHENTICATED", exc.message)
    name = request.query_params.get("format", "chattree")
    try:
        format = ExportFormat(name.upper())
    except ValueError:
        return error(400, "BAD_USER_INPUT", "format must be chattree or chatgpt")
    filename = f"chattree-export-{format.value.lower()}.json"
    return StreamingResponse(
        services.exporter.all(user_id=user.id, format=format),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
