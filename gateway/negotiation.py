"""Media-type negotiation for GraphQL over HTTP.

`application/graphql-response+json` lets the status code carry request errors (400), while
`application/json` keeps the legacy contract of 200 for every well-formed request. A missing
Accept header, or one that only admits wildcards, gets `application/json`, as the
GraphQL-over-HTTP draft asks of servers during the transition.
"""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
HTML = "text/html"
_SUPPORTED = (GRAPHQL_RESPONSE_JSON, JSON)


def _parse_accept(header: str) -> list[tuple[str, float, int]]:
    """Return (media type, q, position) for every entry of an Accept header."""
    entries = []
    for position, part in enumerate(header.split(",")):
        fields = [field.strip() for field in part.split(";")]
        media_type = fields[0].lower()
        if not media_type:
            continue
        quality = 1.0
        for parameter in fields[1:]:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        entries.append((media_type, quality, position))
    return entries


def choose_media_type(accept: str | None) -> str | None:
    """Pick the response media type for an Accept header, or None when nothing acceptable is offered."""
    if accept is None or not accept.strip():
        return JSON
    candidates: list[tuple[float, int, int, str]] = []
    for media_type, quality, position in _parse_accept(accept):
        if quality <= 0:
            continue
        if media_type in _SUPPORTED:
            candidates.append((quality, 1, -position, media_type))
        elif media_type in ("*/*", "application/*"):
            candidates.append((quality, 0, -position, JSON))
    # Higher q wins; at equal q an explicit type beats a wildcard, then the earlier entry wins.
    return max(candidates)[3] if candidates else None


def wants_html(accept: str | None) -> bool:
    """Tell whether an Accept header lists text/html with q above 0, as browsers send it."""
    if accept is None:
        return False
    return any(media_type == HTML and quality > 0 for media_type, quality, _ in _parse_accept(accept))
