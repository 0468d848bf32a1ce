"""Bad GraphQL-over-HTTP requests against a served gateway, checked on the responses a client sees.

Every rejected request is followed by a good one, to show the gateway keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import pytest
from graphql import GraphQLArgument, GraphQLField, GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.graphql_http import GraphQLHTTPHandler, HTTPLimits
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
SMALL_BODY_BYTES = 1024


class GraphQLResponse:
    """Status, headers and decoded JSON body of one response."""

    def __init__(self, status: int, headers: Any, text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        self.body: dict[str, Any] = json.loads(text) if text.startswith("{") else {}

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    @property
    def error(self) -> dict[str, Any]:
        return self.body["errors"][0]

    @property
    def code(self) -> str:
        return self.error["extensions"]["code"]


async def send(
    http: aiohttp.ClientSession,
    url: str,
    *,
    method: str = "POST",
    body: Any = None,
    raw: bytes | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    skip_headers: tuple[str, ...] = (),
) -> GraphQLResponse:
    """Send one request; `body` goes as JSON, `raw` as bytes with Content-Type application/json unless overridden."""
    request_headers = {"Content-Type": JSON} if method == "POST" else {}
    request_headers.update(headers or {})
    for name in skip_headers:
        request_headers.pop(name, None)
    data = raw
    if data is None and body is not None:
        data = json.dumps(body).encode()
    async with http.request(
        method, url, data=data, params=params, headers=request_headers, skip_auto_headers=skip_headers
    ) as response:
        return GraphQLResponse(response.status, response.headers, await response.text())


async def assert_still_serving(http: aiohttp.ClientSession, url: str) -> None:
    # `__typename` needs no upstream call and no scope, so only the gateway itself is checked.
    result = await send(http, url, body={"query": "{ __typename }"})
    assert result.status == 200
    assert result.body == {"data": {"__typename": "Query"}}


def nested_enclosures(levels: int, leaf: str = "id") -> str:
    """Build farm -> enclosures -> nodes, then `levels` more rounds of the same, then `leaf`.

    The query is 3 + 3 * levels fields deep plus the depth of `leaf`.
    """
    selection = leaf
    for _ in range(levels):
        selection = f"farm {{ enclosures(first: 1) {{ nodes {{ {selection} }} }} }}"
    return f'{{ farm(id: "farm-001") {{ enclosures(first: 1) {{ nodes {{ {selection} }} }} }} }}'


def closed_port() -> int:
    """Return a loopback port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
async def small_gateway(sandbox_urls) -> AsyncIterator[RunningGateway]:
    async with serve_gateway(max_body_bytes=SMALL_BODY_BYTES, **subsystem_settings(sandbox_urls)) as running:
        yield running


# Malformed requests: 400 whatever the Accept header


async def test_malformed_json(gateway, http):
    result = await send(http, gateway.graphql_url, raw=b'{"query": "{ __typename }"')
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"].startswith("the request body is not valid JSON: ")
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


async def test_malformed_json_graphql_response(gateway, http):
    result = await send(http, gateway.graphql_url, raw=b"{query}", headers={"Accept": GRAPHQL_RESPONSE_JSON})
    assert result.status == 400
    assert result.media_type == GRAPHQL_RESPONSE_JSON
    assert result.code == "BAD_REQUEST"


async def test_body_not_utf8(gateway, http):
    result = await send(http, gateway.graphql_url, raw=b'{"query": "\xff\xfe"}')
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert "is not valid JSON" in result.error["message"]
    await assert_still_serving(http, gateway.graphql_url)


async def test_empty_body(gateway, http):
    result = await send(http, gateway.graphql_url, raw=b"")
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == "the request body is empty; send a JSON object with a query"


async def test_batch_array_rejected(gateway, http):
    result = await send(http, gateway.graphql_url, body=[{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == "batched requests are not supported; send one JSON object per request"
    await assert_still_serving(http, gateway.graphql_url)


async def test_body_json_string(gateway, http):
    result = await send(http, gateway.graphql_url, body="{ __typename }")
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == "the request body must be a JSON object"
    await assert_still_serving(http, gateway.graphql_url)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (42, "query must be a string, got a number"),
        ({"farms": "id"}, "query must be a string, got an object"),
        (["{ __typename }"], "query must be a string, got an array"),
        (True, "query must be a string, got a boolean"),
    ],
)
async def test_query_not_string(gateway, http, query, expected):
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == expected
    await assert_still_serving(http, gateway.graphql_url)


@pytest.mark.parametrize("body", [{"query": None}, {}, {"variables": {}}], ids=["null", "absent", "variables-only"])
async def test_query_missing(gateway, http, body):
    result = await send(http, gateway.graphql_url, body=body)
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == "missing the query parameter: send the GraphQL document as a string"
    await assert_still_serving(http, gateway.graphql_url)


@pytest.mark.parametrize(
    ("variables", "kind"), [([1], "an array"), ("{}", "a string"), (3, "a number"), (False, "a boolean")]
)
async def test_variables_not_object(gateway, http, variables, kind):
    result = await send(http, gateway.graphql_url, body={"query": "{ __typename }", "variables": variables})
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == f"variables must be an object or null, got {kind}"
    await assert_still_serving(http, gateway.graphql_url)


async def test_variables_get_not_json(gateway, http):
    params = {"query": "{ __typename }", "variables": "{n: 1}"}
    result = await send(http, gateway.graphql_url, method="GET", params=params)
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"].startswith("the variables query parameter is not valid JSON: ")


@pytest.mark.parametrize(("name", "kind"), [(7, "a number"), (["A"], "an array"), ({"A": 1}, "an object")])
async def test_operation_name_not_string(gateway, http, name, kind):
    result = await send(http, gateway.graphql_url, body={"query": "query A { __typename }", "operationName": name})
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == f"operationName must be a string or null, got {kind}"
    await assert_still_serving(http, gateway.graphql_url)


# Operation selection


async def test_operation_name_unknown(gateway, http):
    body = {"query": "query A { __typename } query B { __typename }", "operationName": "C"}
    result = await send(http, gateway.graphql_url, body=body)
    assert result.status == 200
    assert result.code == "OPERATION_NOT_FOUND"
    assert result.error["message"] == "the document has no operation named 'C'"
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


async def test_operation_name_unknown_graphql_response(gateway, http):
    body = {"query": "query A { __typename }", "operationName": "C"}
    result = await send(http, gateway.graphql_url, body=body, headers={"Accept": GRAPHQL_RESPONSE_JSON})
    assert result.status == 400
    assert result.code == "OPERATION_NOT_FOUND"
    assert "data" not in result.body


async def test_several_operations_unnamed(gateway, http):
    result = await send(http, gateway.graphql_url, body={"query": "query A { __typename } query B { __typename }"})
    assert result.status == 200
    assert result.code == "OPERATION_NOT_FOUND"
    assert result.error["message"] == "the document has several operations; name the one to run in operationName"
    await assert_still_serving(http, gateway.graphql_url)


async def test_several_operations_named(gateway, http):
    body = {"query": "query A { a: __typename } query B { b: __typename }", "operationName": "B"}
    result = await send(http, gateway.graphql_url, body=body)
    assert result.status == 200
    assert result.body == {"data": {"b": "Query"}}


# Methods and media types


async def test_mutation_over_get(gateway, http):
    query = 'mutation { resolveAlert(id: "alert-none", actor: "tester") { id } }'
    result = await send(http, gateway.graphql_url, method="GET", params={"query": query})
    assert result.status == 405
    assert result.headers["Allow"] == "POST"
    assert result.code == "METHOD_NOT_ALLOWED"
    assert result.error["message"] == "mutations are only allowed over POST"
    await assert_still_serving(http, gateway.graphql_url)


async def test_query_over_get_with_variables(gateway, http):
    params = {
        "query": "query Farms($n: Int!) { farms(first: $n) { edges { node { id } } } }",
        "variables": json.dumps({"n": 2}),
        "operationName": "Farms",
    }
    result = await send(http, gateway.graphql_url, method="GET", params=params)
    assert result.status == 200
    assert result.media_type == JSON
    assert len(result.body["data"]["farms"]["edges"]) == 2


async def test_unsupported_content_type(gateway, http):
    result = await send(
        http, gateway.graphql_url, raw=b"{ __typename }", headers={"Content-Type": "application/graphql"}
    )
    assert result.status == 415
    assert result.code == "UNSUPPORTED_MEDIA_TYPE"
    assert result.error["message"] == (
        "Content-Type 'application/graphql' is not supported; send application/json in UTF-8"
    )
    await assert_still_serving(http, gateway.graphql_url)


async def test_unsupported_charset(gateway, http):
    result = await send(
        http,
        gateway.graphql_url,
        raw=b'{"query": "{ __typename }"}',
        headers={"Content-Type": "application/json; charset=latin-1"},
    )
    assert result.status == 415
    assert result.code == "UNSUPPORTED_MEDIA_TYPE"


async def test_content_type_with_utf8_charset(gateway, http):
    result = await send(
        http,
        gateway.graphql_url,
        raw=b'{"query": "{ __typename }"}',
        headers={"Content-Type": 'Application/JSON; charset="UTF-8"'},
    )
    assert result.status == 200
    assert result.body == {"data": {"__typename": "Query"}}


async def test_missing_content_type(gateway, http):
    result = await send(http, gateway.graphql_url, raw=b'{"query": "{ __typename }"}', skip_headers=("Content-Type",))
    assert result.status == 415
    assert result.code == "UNSUPPORTED_MEDIA_TYPE"
    assert result.error["message"] == "missing Content-Type; send application/json"
    await assert_still_serving(http, gateway.graphql_url)


async def test_unacceptable_accept(gateway, http):
    result = await send(http, gateway.graphql_url, body={"query": "{ __typename }"}, headers={"Accept": "text/xml"})
    assert result.status == 406
    assert result.code == "NOT_ACCEPTABLE"
    assert result.error["message"] == (
        "cannot answer with any of the types in Accept 'text/xml'; "
        "accept application/graphql-response+json or application/json"
    )
    await assert_still_serving(http, gateway.graphql_url)


async def test_missing_accept_gets_json(gateway, http):
    result = await send(http, gateway.graphql_url, body={"query": "{ __typename }"}, skip_headers=("Accept",))
    assert result.status == 200
    assert result.media_type == JSON


async def test_graphql_response_accept_matched(gateway, http):
    result = await send(
        http, gateway.graphql_url, body={"query": "{ __typename }"}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    assert result.status == 200
    assert result.media_type == GRAPHQL_RESPONSE_JSON
    assert result.headers["content-type"].endswith("charset=utf-8")


# Body size limit


async def test_body_over_limit(small_gateway, http):
    padding = " " * (SMALL_BODY_BYTES + 1)
    result = await send(http, small_gateway.graphql_url, body={"query": "{ __typename }" + padding})
    assert result.status == 413
    assert result.code == "PAYLOAD_TOO_LARGE"
    assert result.error["message"] == (
        f"the request body is larger than {SMALL_BODY_BYTES} bytes; see FISHWATCH_MAX_BODY_BYTES"
    )
    await assert_still_serving(http, small_gateway.graphql_url)


async def test_body_at_limit_accepted(small_gateway, http):
    base = json.dumps({"query": "{ __typename }"})
    body = base[:-1] + " " * (SMALL_BODY_BYTES - len(base)) + "}"
    assert len(body) == SMALL_BODY_BYTES
    result = await send(http, small_gateway.graphql_url, raw=body.encode())
    assert result.status == 200
    assert result.body == {"data": {"__typename": "Query"}}


async def test_chunked_body_over_limit(small_gateway, http):
    # A generator makes aiohttp send Transfer-Encoding: chunked with no Content-Length, so only
    # the bytes counted while streaming can trip the limit.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }'
        for _ in range(8):
            yield b" " * 256
        yield b'"}'

    async with http.post(small_gateway.graphql_url, data=chunks(), headers={"Content-Type": JSON}) as response:
        text = await response.text()
        sent_length = response.request_info.headers.get("Content-Length")
        sent_encoding = response.request_info.headers.get("Transfer-Encoding")
        status = response.status
    result = GraphQLResponse(status, {}, text)
    assert sent_length is None
    assert sent_encoding == "chunked"
    assert result.status == 413
    assert result.code == "PAYLOAD_TOO_LARGE"
    await assert_still_serving(http, small_gateway.graphql_url)


async def test_chunked_body_under_limit(small_gateway, http):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": '
        yield b'"{ __typename }"}'

    async with http.post(small_gateway.graphql_url, data=chunks(), headers={"Content-Type": JSON}) as response:
        assert response.status == 200
        assert await response.json() == {"data": {"__typename": "Query"}}


# Query limits


async def test_depth_over_limit(gateway, http):
    limit = gateway.settings.max_query_depth
    assert limit == 12
    query = nested_enclosures(3)  # 3 + 9 + 1 = 13 fields deep
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert result.status == 200
    assert result.code == "QUERY_TOO_COMPLEX"
    assert result.error["extensions"]["limit"] == "depth"
    assert result.error["extensions"]["maximum"] == limit
    assert result.error["message"] == "operation 'anonymous' is 13 fields deep, more than the limit of 12"
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


async def test_depth_at_limit_runs(gateway, http):
    query = nested_enclosures(2, leaf="farm { enclosures(first: 1) { totalCount } }")  # 3 + 6 + 3 = 12 deep
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert result.status == 200
    assert "errors" not in result.body
    assert result.body["data"]["farm"]["enclosures"]["nodes"][0]["farm"] is not None


async def test_depth_over_limit_graphql_response(gateway, http):
    result = await send(
        http, gateway.graphql_url, body={"query": nested_enclosures(3)}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    assert result.status == 400
    assert result.code == "QUERY_TOO_COMPLEX"
    assert "data" not in result.body


async def test_aliases_via_fragment_over_limit(gateway, http):
    # The fragment contains 30 aliases, under the limit of 50 once, over it when spread twice.
    limit = gateway.settings.max_query_aliases
    aliases = " ".join(f"a{i}: __typename" for i in range(30))
    query = f"query Wide {{ ...F ...F }} fragment F on Query {{ {aliases} }}"
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert result.status == 200
    assert result.code == "QUERY_TOO_COMPLEX"
    assert result.error["extensions"]["limit"] == "aliases"
    assert result.error["message"] == f"operation 'Wide' uses 60 aliases, more than the limit of {limit}"
    await assert_still_serving(http, gateway.graphql_url)


async def test_aliases_via_fragment_once_runs(gateway, http):
    aliases = " ".join(f"a{i}: __typename" for i in range(30))
    query = f"query Wide {{ ...F }} fragment F on Query {{ {aliases} }}"
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert result.status == 200
    assert result.body["data"]["a29"] == "Query"


async def test_tokens_over_limit(gateway, http):
    limit = gateway.settings.max_query_tokens
    query = "{ " + "__typename " * limit + "}"
    result = await send(http, gateway.graphql_url, body={"query": query}, headers={"Accept": GRAPHQL_RESPONSE_JSON})
    assert result.status == 400
    assert result.code == "QUERY_TOO_COMPLEX"
    assert result.error["extensions"]["limit"] == "tokens"
    assert result.error["extensions"]["maximum"] == limit
    assert result.error["message"] == f"the document has more than {limit} tokens"
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


async def test_fragment_cycle_rejected(gateway, http):
    query = "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { __typename ...A }"
    started = time.perf_counter()
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert time.perf_counter() - started < 5.0
    assert result.status == 200
    assert result.code == "GRAPHQL_VALIDATION_FAILED"
    assert result.error["message"] == "Cannot spread fragment 'A' within itself via 'B'."
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


# Parse, validation and variable errors


async def test_parse_error(gateway, http):
    result = await send(http, gateway.graphql_url, body={"query": "{ farms(first: 1 { id } }"})
    assert result.status == 200
    assert result.code == "GRAPHQL_PARSE_FAILED"
    assert result.error["message"].startswith("Syntax Error: ")
    assert result.error["locations"] == [{"line": 1, "column": 18}]
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


async def test_parse_error_graphql_response(gateway, http):
    result = await send(
        http, gateway.graphql_url, body={"query": "{ farms("}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    assert result.status == 400
    assert result.code == "GRAPHQL_PARSE_FAILED"
    assert "data" not in result.body


async def test_lexing_error(gateway, http):
    result = await send(http, gateway.graphql_url, body={"query": '{ farm(id: "unterminated) { id } }'})
    assert result.status == 200
    assert result.code == "GRAPHQL_PARSE_FAILED"
    assert "Unterminated string" in result.error["message"]


async def test_unknown_field_json(gateway, http):
    result = await send(http, gateway.graphql_url, body={"query": "{ farms(first: 1) { edges { node { color } } } }"})
    assert result.status == 200
    assert result.media_type == JSON
    assert result.code == "GRAPHQL_VALIDATION_FAILED"
    assert result.error["message"] == "Cannot query field 'color' on type 'Farm'."
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


async def test_unknown_field_graphql_response(gateway, http):
    result = await send(
        http,
        gateway.graphql_url,
        body={"query": "{ farms(first: 1) { edges { node { color } } } }"},
        headers={"Accept": GRAPHQL_RESPONSE_JSON},
    )
    assert result.status == 400
    assert result.media_type == GRAPHQL_RESPONSE_JSON
    assert result.code == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in result.body


async def test_variable_coercion_json(gateway, http):
    body = {"query": "query($n: Int!) { farms(first: $n) { totalCount } }", "variables": {"n": "ten"}}
    result = await send(http, gateway.graphql_url, body=body)
    assert result.status == 200
    assert result.code == "BAD_USER_INPUT"
    assert result.error["message"] == "Variable '$n' has invalid value: Int cannot represent non-integer value: 'ten'"
    assert "data" not in result.body
    await assert_still_serving(http, gateway.graphql_url)


async def test_variable_coercion_graphql_response(gateway, http):
    body = {"query": "query($n: Int!) { farms(first: $n) { totalCount } }", "variables": {}}
    result = await send(http, gateway.graphql_url, body=body, headers={"Accept": GRAPHQL_RESPONSE_JSON})
    assert result.status == 400
    assert result.code == "BAD_USER_INPUT"
    assert result.error["message"] == (
        "Variable '$n' has invalid value: Expected a value of non-null type 'Int!' to be provided."
    )
    assert "data" not in result.body


# Field argument errors: execution ran, so 200 with data and a path


@pytest.mark.parametrize(
    ("arguments", "argument", "message"),
    [
        ("first: 0", "first", "first must be between 1 and 200, got 0"),
        ("first: 201", "first", "first must be between 1 and 200, got 201"),
        ('first: 1, after: "not-a-cursor"', "after", "cursor 'not-a-cursor' was not issued for this list"),
    ],
    ids=["first-zero", "first-over-max", "bad-after"],
)
async def test_farms_argument_invalid(gateway, http, arguments, argument, message):
    result = await send(http, gateway.graphql_url, body={"query": f"{{ farms({arguments}) {{ totalCount }} }}"})
    assert result.status == 200
    assert result.code == "BAD_USER_INPUT"
    assert result.error["extensions"]["argument"] == argument
    assert result.error["path"] == ["farms"]
    assert result.error["message"].startswith(message)
    assert result.body["data"] == {"farms": None}
    await assert_still_serving(http, gateway.graphql_url)


async def test_after_from_other_list(gateway, http):
    # An endCursor of the unfiltered farm list does not page a filtered one.
    first = await send(http, gateway.graphql_url, body={"query": "{ farms(first: 1) { pageInfo { endCursor } } }"})
    cursor = first.body["data"]["farms"]["pageInfo"]["endCursor"]
    query = 'query($after: String) { farms(first: 1, region: "north", after: $after) { totalCount } }'
    result = await send(http, gateway.graphql_url, body={"query": query, "variables": {"after": cursor}})
    assert result.code == "BAD_USER_INPUT"
    assert result.error["extensions"]["argument"] == "after"


async def test_after_forged_offset(gateway, http):
    # A well-formed cursor for the right list but with an offset no page ever had.
    payload = json.dumps({"k": "farms:None:None", "o": 5}).encode()
    cursor = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    query = "query($after: String) { farms(first: 1, after: $after) { edges { node { id } } } }"
    result = await send(http, gateway.graphql_url, body={"query": query, "variables": {"after": cursor}})
    assert result.status == 200
    assert "errors" not in result.body
    assert len(result.body["data"]["farms"]["edges"]) == 1


@pytest.mark.parametrize("interval", [59, 86_401, 0, -60])
async def test_readings_interval_out_of_range(gateway, http, interval):
    query = (
        '{ farm(id: "farm-001") { enclosures(first: 1) { nodes { '
        f"readings(metric: TEMPERATURE, intervalSeconds: {interval}) {{ intervalSeconds }} }} }} }} }}"
    )
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert result.status == 200
    assert result.code == "BAD_USER_INPUT"
    assert result.error["extensions"]["argument"] == "intervalSeconds"
    assert result.error["message"] == f"intervalSeconds must be between 60 and 86400, got {interval}"
    assert result.error["path"] == ["farm", "enclosures", "nodes", 0, "readings"]
    nodes = result.body["data"]["farm"]["enclosures"]["nodes"]
    assert nodes == [{"readings": None}]
    await assert_still_serving(http, gateway.graphql_url)


async def test_readings_too_many_buckets(gateway, http):
    limit = gateway.settings.max_reading_buckets
    query = (
        '{ farm(id: "farm-001") { enclosures(first: 1) { nodes { '
        'readings(metric: TEMPERATURE, from: "2020-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", '
        "intervalSeconds: 60) { intervalSeconds } } } } }"
    )
    result = await send(http, gateway.graphql_url, body={"query": query})
    assert result.code == "BAD_USER_INPUT"
    assert f"more than the limit of {limit}; use a longer intervalSeconds or a shorter range" in result.error["message"]


# Subscriptions belong on the WebSocket endpoint


async def test_subscription_over_http(gateway, http):
    schema = gateway.app.state.schema._schema
    subscription_type = schema.subscription_type
    if subscription_type is None:
        query, code = "subscription { __typename }", "GRAPHQL_VALIDATION_FAILED"
    else:
        # A field with required arguments would fail validation before the operation-type check.
        names = [
            name
            for name, field in subscription_type.fields.items()
            if not any(isinstance(argument.type, GraphQLNonNull) for argument in field.args.values())
        ]
        if not names:
            pytest.skip("every subscription field needs arguments")
        query, code = f"subscription {{ {names[0]} {{ __typename }} }}", "OPERATION_NOT_SUPPORTED"
    result = await send(http, gateway.graphql_url, body={"query": query}, headers={"Accept": GRAPHQL_RESPONSE_JSON})
    assert result.status == 400
    assert result.code == code
    assert "data" not in result.body
    if subscription_type is None:
        assert result.error["message"] == "The subscription operation is not supported by the schema."
    else:
        assert "served over WebSocket at /graphql" in result.error["message"]
    await assert_still_serving(http, gateway.graphql_url)


# Request ids, GraphiQL and health endpoints


async def test_request_id_echoed(gateway, http):
    result = await send(
        http, gateway.graphql_url, body={"query": "{ __typename }"}, headers={"X-Request-ID": "dash-42.retry:1"}
    )
    assert result.headers["X-Request-ID"] == "dash-42.retry:1"


@pytest.mark.parametrize("supplied", ["has spaces", "x" * 129, "semi;colon", ""])
async def test_request_id_malformed_replaced(gateway, http, supplied):
    result = await send(http, gateway.graphql_url, body={"query": "{ __typename }"}, headers={"X-Request-ID": supplied})
    assert result.status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", result.headers["X-Request-ID"])


async def test_request_id_generated(gateway, http):
    first = await send(http, gateway.graphql_url, body={"query": "{ __typename }"})
    second = await send(http, gateway.graphql_url, body={"query": "{ __typename }"})
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_request_id_on_rejection(gateway, http):
    result = await send(http, gateway.graphql_url, raw=b"{", headers={"X-Request-ID": "bad-json-1"})
    assert result.status == 400
    assert result.headers["X-Request-ID"] == "bad-json-1"


async def test_graphiql_for_browser(gateway, http):
    headers = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    async with http.get(gateway.graphql_url, headers=headers) as response:
        text = await response.text()
        assert response.status == 200
        assert response.content_type == "text/html"
    assert "graphiql" in text.lower()


async def test_graphiql_not_for_json_client(gateway, http):
    result = await send(http, gateway.graphql_url, method="GET", headers={"Accept": JSON})
    assert result.status == 400
    assert result.code == "BAD_REQUEST"
    assert result.error["message"] == "missing the query parameter: send the GraphQL document as a string"


async def test_healthz(gateway, http):
    async with http.get(f"{gateway.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_readyz_all_ok(gateway, http):
    async with http.get(f"{gateway.url}/readyz") as response:
        status = response.status
        body = await response.json()
    assert status == 200
    assert body["status"] == "ready"
    assert sorted(body["subsystems"]) == ["acquisition", "alerting", "core", "fabric", "mlflow"]
    for name, check in body["subsystems"].items():
        assert check["status"] == "ok", f"{name}: {check}"


async def test_readyz_names_down_subsystem(sandbox_urls, http):
    settings = {**subsystem_settings(sandbox_urls), "alerting_url": f"http://127.0.0.1:{closed_port()}"}
    async with serve_gateway(**settings) as running:
        async with http.get(f"{running.url}/readyz") as response:
            status = response.status
            body = await response.json()
        async with http.get(f"{running.url}/healthz") as response:
            health_status = response.status
    assert status == 503
    assert body["status"] == "not_ready"
    alerting = body["subsystems"]["alerting"]
    assert alerting["status"] == "unavailable"
    assert alerting["code"] == "UPSTREAM_UNAVAILABLE"
    assert alerting["error"]
    others = {name: check["status"] for name, check in body["subsystems"].items() if name != "alerting"}
    assert others == {"core": "ok", "acquisition": "ok", "fabric": "ok", "mlflow": "ok"}
    assert health_status == 200


# Data of null from a failed non-null root field is an execution result, not a request error.
# No root field of the gateway's schema is non-null, so this drives the handler with a small
# schema in process.


def _failing_schema() -> GraphQLSchema:
    def fail(_root: Any, _info: Any, **_args: Any) -> int:
        raise ValueError("the counter is broken")

    query = GraphQLObjectType(
        "Query",
        {
            "count": GraphQLField(GraphQLNonNull(GraphQLInt), args={"step": GraphQLArgument(GraphQLInt)}, resolve=fail),
        },
    )
    return GraphQLSchema(query)


@pytest.fixture
async def failing_client() -> AsyncIterator[httpx.AsyncClient]:
    async def context(_request: Any) -> dict[str, Any]:
        return {}

    handler = GraphQLHTTPHandler(_failing_schema(), HTTPLimits(), context, [])
    app = Starlette(routes=[Route("/graphql", handler.handle, methods=["GET", "POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        yield client


async def test_null_root_data_kept(failing_client):
    response = await failing_client.post(
        "/graphql", json={"query": "{ count }"}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    body = response.json()
    assert response.status_code == 200
    assert "data" in body
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["count"]
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


async def test_null_root_coercion_still_400(failing_client):
    response = await failing_client.post(
        "/graphql",
        json={"query": "query($s: Int) { count(step: $s) }", "variables": {"s": "x"}},
        headers={"Accept": GRAPHQL_RESPONSE_JSON},
    )
    body = response.json()
    assert response.status_code == 400
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_concurrent_bad_and_good(gateway, http):
    # Bad requests in flight do not disturb good ones sent alongside them.
    bad = [send(http, gateway.graphql_url, raw=b"{") for _ in range(10)]
    good = [send(http, gateway.graphql_url, body={"query": "{ __typename }"}) for _ in range(10)]
    results = await asyncio.gather(*bad, *good)
    assert [result.status for result in results[:10]] == [400] * 10
    assert [result.body for result in results[10:]] == [{"data": {"__typename": "Query"}}] * 10
