"""Which media type a GraphQL-over-HTTP response is sent as, from the request's Accept."""

from __future__ import annotations

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def response_media_type(accept: str | None) -> str:
    """`application/graphql-response+json` when the client names it and prefers it at
    least as much as JSON; JSON otherwise: for wildcards, for media types the server does
    not speak, and when Accept is missing (what the specification asks of legacy clients)."""
    preference = {GRAPHQL_RESPONSE: 0.0, JSON: 0.0}
    for media_range in (accept or JSON).split(","):
        kind, *parameters = (part.strip() for part in media_range.split(";"))
        kind = kind.lower()
        for media_type in preference:
            if kind == media_type or (media_type == JSON and kind in ("*/*", "application/*")):
                preference[media_type] = max(preference[media_type], quality(parameters))
    wanted = preference[GRAPHQL_RESPONSE]
    return GRAPHQL_RESPONSE if wanted > 0 and wanted >= preference[JSON] else JSON


def quality(parameters: list[str]) -> float:
    """The `q` of a media range: 1 when absent, 0 (not acceptable) when unreadable."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0
