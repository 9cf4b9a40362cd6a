"""How the server encodes the JSON it sends: responses, websocket messages, and the
frames subscriptions write themselves, all alike."""

from __future__ import annotations

import orjson


def json_text(value: object) -> str:
    # orjson encodes a 5,000-message branch several times faster than json.dumps.
    # Text, not bytes: strawberry sends bytes over websockets as binary frames, which
    # graphql-ws clients cannot read.
    return orjson.dumps(value).decode()
