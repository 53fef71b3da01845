from yarl import URL

from tidewire.client import ClientSession


async def test_get(server: URL, session: ClientSession) -> None:
    async with session.get(server / "hello") as response:
        assert response.status == 200
        assert await response.text() == "hello"
    r = await session.get(server / "echo", params={"a": "1"})
    data = await r.json()
    assert data["query"] == [["a", "1"]]
    assert session.connector.idle == 1
