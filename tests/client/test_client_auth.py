"""BasicAuth: encoding, decoding, and where a session takes credentials from."""

from __future__ import annotations

import pytest
from yarl import URL

from tidewire.client import BasicAuth, ClientSession


def test_round_trip() -> None:
    auth = BasicAuth("aladdin", "open sesame")
    assert auth.encode() == "Basic YWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert BasicAuth.decode(auth.encode()) == auth
    assert BasicAuth.decode(BasicAuth("ü", "p:w", "utf-8").encode(), "utf-8").password == "p:w"


@pytest.mark.parametrize("header", ["Bearer xyz", "Basic !!!", "Basic Zm9v"])
def test_decode_refuses_garbage(header: str) -> None:
    with pytest.raises(ValueError):
        BasicAuth.decode(header)


def test_from_url() -> None:
    assert BasicAuth.from_url(URL("http://u:p@h/")) == BasicAuth("u", "p")
    assert BasicAuth.from_url(URL("http://h/")) is None


async def test_auth_sources(server: URL) -> None:
    async with ClientSession(auth=BasicAuth("session", "s")) as session:

        async def sent(**kwargs: object) -> str:
            url = kwargs.pop("url", server / "echo")
            response = await session.get(url, **kwargs)  # type: ignore[arg-type]
            header: str = (await response.json())["headers"]["Authorization"]
            return header

        assert await sent() == BasicAuth("session", "s").encode()
        assert await sent(auth=BasicAuth("req", "r")) == BasicAuth("req", "r").encode()
        in_url = server.with_user("url").with_password("u") / "echo"
        assert await sent(url=in_url) == BasicAuth("url", "u").encode()
        assert await sent(headers={"Authorization": "Bearer t"}) == "Bearer t"
