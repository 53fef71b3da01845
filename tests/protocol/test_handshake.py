"""The opening handshake (RFC 6455 section 4): request checks, accept key, negotiation."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from tidewire.protocol.deflate import ClientDeflate, DeflateParams, ServerDeflate
from tidewire.protocol.errors import InvalidHandshake, ProtocolError
from tidewire.protocol.handshake import (
    accept_key,
    accept_request,
    check_response,
    generate_key,
    parse_extensions,
    request_headers,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def _request(**replace: str | None) -> CIMultiDict[str]:
    headers = CIMultiDict(request_headers(RFC_KEY))
    for key, value in replace.items():
        name = key.replace("_", "-")
        headers.popall(name, None)
        if value is not None:
            headers[name] = value
    return headers


def test_accept_key_rfc_example() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT


def test_generated_keys_are_16_random_bytes() -> None:
    keys = {generate_key() for _ in range(10)}
    assert len(keys) == 10
    assert all(len(k) == 24 and k.endswith("==") for k in keys)


def test_valid_request_is_accepted() -> None:
    result = accept_request("GET", _request())
    assert dict(result.headers) == {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": RFC_ACCEPT,
    }
    assert (result.agreement.subprotocol, result.agreement.deflate) == (None, None)


def test_tokens_are_case_insensitive_lists() -> None:
    headers = _request(Upgrade="h2c, WebSocket", Connection="keep-alive, UPGRADE")
    assert accept_request("GET", headers).agreement.subprotocol is None


def test_non_get_is_405() -> None:
    with pytest.raises(InvalidHandshake) as info:
        accept_request("POST", _request())
    assert info.value.status == 405
    assert ("Allow", "GET") in info.value.headers


@pytest.mark.parametrize(
    "replace",
    [
        {"Upgrade": None},
        {"Upgrade": "h2c"},
        {"Connection": None},
        {"Connection": "keep-alive"},
        {"Sec_WebSocket_Key": None},
        {"Sec_WebSocket_Key": "short=="},
        {"Sec_WebSocket_Key": "not base64 at all!!!!!!!"},
        {"Sec_WebSocket_Key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"},  # 21 bytes
        {"Sec_WebSocket_Key": "ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ=="},
    ],
)
def test_bad_requests_are_400(replace: dict[str, str | None]) -> None:
    with pytest.raises(InvalidHandshake) as info:
        accept_request("GET", _request(**replace))
    assert info.value.status == 400


def test_two_keys_are_400() -> None:
    headers = _request()
    headers.add("Sec-WebSocket-Key", generate_key())
    with pytest.raises(InvalidHandshake) as info:
        accept_request("GET", headers)
    assert info.value.status == 400


@pytest.mark.parametrize("version", [None, "8", "12", "14", "13, 8"])
def test_other_versions_are_426_with_the_supported_version(version: str | None) -> None:
    with pytest.raises(InvalidHandshake) as info:
        accept_request("GET", _request(Sec_WebSocket_Version=version))
    assert info.value.status == 426
    assert ("Sec-WebSocket-Version", "13") in info.value.headers


@pytest.mark.parametrize(
    ("offered", "ours", "chosen"),
    [
        ("chat, superchat", ("superchat", "chat"), "superchat"),
        ("chat,superchat", ("other", "chat"), "chat"),
        ("chat", ("other",), None),
        (None, ("chat",), None),
        ("chat", (), None),
    ],
)
def test_subprotocol_is_the_servers_first_offered_choice(
    offered: str | None, ours: tuple[str, ...], chosen: str | None
) -> None:
    result = accept_request("GET", _request(Sec_WebSocket_Protocol=offered), protocols=ours)
    assert result.agreement.subprotocol == chosen
    assert dict(result.headers).get("Sec-WebSocket-Protocol") == chosen


def test_client_request_headers() -> None:
    headers = request_headers(
        RFC_KEY, protocols=["a", "b"], deflate=ClientDeflate(), origin="http://x"
    )
    assert headers == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", RFC_KEY),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "a, b"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ("Origin", "http://x"),
    ]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("foo", [("foo", [])]),
        ("Foo; A=1 ; b", [("foo", [("a", "1"), ("b", None)])]),
        ('x; p="quoted, with ; separators"', [("x", [("p", "quoted, with ; separators")])]),
        ('x; p="esc\\"aped"', [("x", [("p", 'esc"aped')])]),
        ("a, b; c=2,, ", [("a", []), ("b", [("c", "2")])]),
        (
            "permessage-deflate; client_max_window_bits, permessage-deflate",
            [
                ("permessage-deflate", [("client_max_window_bits", None)]),
                ("permessage-deflate", []),
            ],
        ),
    ],
)
def test_parse_extensions(value: str, parsed: list[object]) -> None:
    assert parse_extensions([value]) == parsed


@pytest.mark.parametrize("value", ["bad name", "x; =1", "x; p=a b", "x;", 'x; p="unterminated'])
def test_parse_extensions_refuses_malformed_values(value: str) -> None:
    with pytest.raises(ProtocolError):
        parse_extensions([value])


def test_malformed_extension_header_is_400_for_a_deflate_server() -> None:
    headers = _request(Sec_WebSocket_Extensions="bad name")
    with pytest.raises(InvalidHandshake) as info:
        accept_request("GET", headers, deflate=ServerDeflate())
    assert info.value.status == 400
    # a server without deflate ignores the header
    assert accept_request("GET", headers).agreement.deflate is None


def _response(key: str = RFC_KEY, **extra: str) -> CIMultiDict[str]:
    headers = CIMultiDict(
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key)),
        ]
    )
    for name, value in extra.items():
        headers.add(name.replace("_", "-"), value)
    return headers


def test_client_accepts_a_valid_response() -> None:
    agreement = check_response(101, _response(), RFC_KEY)
    assert (agreement.subprotocol, agreement.deflate) == (None, None)


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, _response()),
        (426, _response()),
        (101, CIMultiDict([("Connection", "Upgrade"), ("Sec-WebSocket-Accept", RFC_ACCEPT)])),
        (101, CIMultiDict([("Upgrade", "websocket"), ("Sec-WebSocket-Accept", RFC_ACCEPT)])),
        (101, _response(key=generate_key())),
        (101, CIMultiDict([("Upgrade", "websocket"), ("Connection", "upgrade")])),
        (101, _response(Sec_WebSocket_Protocol="chat")),
        (101, _response(Sec_WebSocket_Extensions="permessage-deflate")),
        (101, _response(Sec_WebSocket_Extensions="x-unknown")),
    ],
)
def test_client_refuses_bad_responses(status: int, headers: CIMultiDict[str]) -> None:
    with pytest.raises(InvalidHandshake) as info:
        check_response(status, headers, RFC_KEY)
    assert info.value.status == status


def test_client_checks_the_subprotocol_against_its_offer() -> None:
    headers = _response(Sec_WebSocket_Protocol="chat")
    assert check_response(101, headers, RFC_KEY, protocols=["chat"]).subprotocol == "chat"
    with pytest.raises(InvalidHandshake):
        check_response(101, headers, RFC_KEY, protocols=["other"])
    headers.add("Sec-WebSocket-Protocol", "chat")
    with pytest.raises(InvalidHandshake):
        check_response(101, headers, RFC_KEY, protocols=["chat"])


def test_client_refuses_deflate_twice_or_unknown_extension_next_to_it() -> None:
    for value in ("permessage-deflate, permessage-deflate", "permessage-deflate, x-other"):
        with pytest.raises(InvalidHandshake):
            check_response(
                101, _response(Sec_WebSocket_Extensions=value), RFC_KEY, deflate=ClientDeflate()
            )


def test_deflate_agreement_round_trip_through_headers() -> None:
    client = ClientDeflate(client_max_window_bits=10, server_no_context_takeover=True)
    request = CIMultiDict(request_headers(RFC_KEY, deflate=client))
    server = accept_request("GET", request, deflate=ServerDeflate())
    expected = DeflateParams(server_no_context_takeover=True, client_max_window_bits=10)
    assert server.agreement.deflate == expected
    agreement = check_response(101, CIMultiDict(server.headers), RFC_KEY, deflate=client)
    assert agreement.deflate == expected
