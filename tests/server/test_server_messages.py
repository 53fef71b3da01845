"""Requests as handlers see them and responses as clients see them."""

from __future__ import annotations

import asyncio
import bz2
import gzip
import io
import lzma
import os
import tarfile
from email.utils import formatdate
from pathlib import Path

import aiohttp
import pytest
from server_support import Serve, exchange, get, parse_responses

from tidewire.server import (
    Application,
    FileField,
    FileResponse,
    HTTPBadRequest,
    HTTPCreated,
    HTTPNoContent,
    Request,
    Response,
    StreamResponse,
    json_response,
)


async def test_request_attributes(serve: Serve, http: aiohttp.ClientSession) -> None:
    async def inspect(request: Request) -> Response:
        return json_response(
            {
                "method": request.method,
                "path": request.path,
                "raw_path": request.raw_path,
                "query": list(request.query.items()),
                "cookies": dict(request.cookies),
                "header": request.headers["X-Test"],
                "remote": request.remote,
                "url": str(request.url),
                "keep_alive": request.keep_alive,
                "version": list(request.version),
                "secure": request.secure,
            }
        )

    app = Application()
    app.router.add_get("/p/{x}", inspect)
    server = await serve(app)
    async with http.get(
        server.url + "/p/a%20b?q=1&q=2&e=",
        headers={"X-Test": "yes", "Cookie": "sid=abc; theme=dark"},
    ) as resp:
        data = await resp.json()
    assert data == {
        "method": "GET",
        "path": "/p/a b",
        "raw_path": "/p/a%20b?q=1&q=2&e=",
        "query": [["q", "1"], ["q", "2"], ["e", ""]],
        "cookies": {"sid": "abc", "theme": "dark"},
        "header": "yes",
        "remote": "127.0.0.1",
        "url": f"http://127.0.0.1:{server.port}/p/a%20b?q=1&q=2&e=",
        "keep_alive": True,
        "version": [1, 1],
        "secure": False,
    }


async def test_request_state_mapping(serve: Serve, http: aiohttp.ClientSession) -> None:
    async def handler(request: Request) -> Response:
        request["user"] = "ann"
        assert "user" in request
        return Response(text=request["user"])

    app = Application()
    app.router.add_get("/", handler)
    server = await serve(app)
    async with http.get(server.url + "/") as resp:
        assert await resp.text() == "ann"


async def test_json_text_and_urlencoded_bodies(serve: Serve, http: aiohttp.ClientSession) -> None:
    async def body(request: Request) -> Response:
        kind = request.match_info["kind"]
        if kind == "json":
            return json_response({"got": await request.json()})
        if kind == "form":
            form = await request.post()
            return json_response({"got": [[k, v] for k, v in form.items()]})
        return json_response({"got": await request.text()})

    app = Application()
    app.router.add_post("/{kind}", body)
    server = await serve(app)
    async with http.post(server.url + "/json", json={"a": [1, 2]}) as resp:
        assert await resp.json() == {"got": {"a": [1, 2]}}
    async with http.post(server.url + "/form", data={"a": "1", "b": "x y"}) as resp:
        assert await resp.json() == {"got": [["a", "1"], ["b", "x y"]]}
    async with http.post(
        server.url + "/text",
        data="héllo".encode("latin-1"),
        headers={"Content-Type": "text/plain; charset=latin-1"},
    ) as resp:
        assert await resp.json() == {"got": "héllo"}


async def test_multipart_form_with_a_file(serve: Serve, http: aiohttp.ClientSession) -> None:
    async def upload(request: Request) -> Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, FileField)
        return json_response(
            {
                "title": form["title"],
                "filename": upload.filename,
                "type": upload.content_type,
                "content": upload.file.read().decode(),
            }
        )

    app = Application()
    app.router.add_post("/", upload)
    server = await serve(app)
    data = aiohttp.FormData()
    data.add_field("title", "report")
    data.add_field("file", b"line1\r\nline2", filename="report.txt", content_type="text/csv")
    async with http.post(server.url + "/", data=data) as resp:
        assert await resp.json() == {
            "title": "report",
            "filename": "report.txt",
            "type": "text/csv",
            "content": "line1\r\nline2",
        }


async def test_malformed_multipart_is_400(serve: Serve) -> None:
    async def upload(request: Request) -> Response:
        await request.post()
        return Response()

    app = Application()
    app.router.add_post("/", upload)
    server = await serve(app)
    body = b"--xyz\r\nno-colon-header\r\n\r\nvalue\r\n--xyz--\r\n"
    raw = await exchange(
        server.port,
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    assert parse_responses(raw)[0].status == 400


async def test_streaming_request_content(serve: Serve) -> None:
    async def lines(request: Request) -> Response:
        content = request.content
        first = await content.readline()
        two = await content.read(2)
        rest = [chunk async for chunk in content.iter_chunked(3)]
        assert content.at_eof()
        return json_response(
            {"first": first.decode(), "two": two.decode(), "rest": b"".join(rest).decode()}
        )

    app = Application()
    app.router.add_post("/", lines)
    server = await serve(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    for piece in (b"hel", b"lo\nab", b"cdefgh"):
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        await asyncio.sleep(0.01)
    writer.write(b"0\r\n\r\n")
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert parse_responses(raw)[0].body == b'{"first": "hello\\n", "two": "ab", "rest": "cdefgh"}'


async def test_chunked_stream_response(serve: Serve) -> None:
    async def stream(request: Request) -> StreamResponse:
        response = StreamResponse(headers={"X-Kind": "stream"})
        response.content_type = "text/plain"
        response.set_cookie("early", "kept")
        await response.prepare(request)
        # the head went out: a cookie now would be lost, so it is refused
        with pytest.raises(RuntimeError, match="after prepare"):
            response.set_cookie("late", "lost")
        with pytest.raises(RuntimeError, match="after prepare"):
            response.del_cookie("early")
        for part in (b"one ", b"two ", b"three"):
            await response.write(part)
        await response.write_eof()
        return response

    app = Application()
    app.router.add_get("/", stream)
    server = await serve(app)
    raw = await exchange(server.port, get("/", "Connection: close"))
    assert b"\r\nTransfer-Encoding: chunked\r\n" in raw
    assert raw.endswith(b"\r\n0\r\n\r\n")
    (response,) = parse_responses(raw)
    assert response.body == b"one two three"
    assert response.headers["X-Kind"] == "stream"
    assert response.headers["Set-Cookie"].startswith("early=kept")


async def test_response_kinds_and_cookies(serve: Serve, http: aiohttp.ClientSession) -> None:
    async def kinds(request: Request) -> StreamResponse:
        kind = request.match_info["kind"]
        if kind == "bytes":
            return Response(body=b"\x00\x01", content_type="application/x-thing")
        if kind == "status":
            return Response(status=418, reason="I'm a teapot", text="short and stout")
        if kind == "cookie":
            response = Response(text="c")
            response.set_cookie("sid", "v1", max_age=60, httponly=True, samesite="Lax")
            response.del_cookie("old")
            return response
        if kind == "created":
            raise HTTPCreated(text="made")
        if kind == "returned-error":
            return HTTPBadRequest(text="bad input")
        return HTTPNoContent()

    app = Application()
    app.router.add_get("/{kind}", kinds)
    server = await serve(app)
    async with http.get(server.url + "/bytes") as resp:
        assert resp.headers["Content-Type"] == "application/x-thing"
        assert await resp.read() == b"\x00\x01"
    async with http.get(server.url + "/status") as resp:
        assert (resp.status, resp.reason, await resp.text()) == (
            418,
            "I'm a teapot",
            "short and stout",
        )
    async with http.get(server.url + "/cookie") as resp:
        cookies = resp.headers.getall("Set-Cookie")
        assert any(
            c.startswith("sid=v1;") and "HttpOnly" in c and "Max-Age=60" in c for c in cookies
        )
        assert any(c.startswith('old="";') and "Max-Age=0" in c for c in cookies)
    async with http.get(server.url + "/created") as resp:
        assert (resp.status, await resp.text()) == (201, "made")
    async with http.get(server.url + "/returned-error") as resp:
        assert (resp.status, await resp.text()) == (400, "bad input")
    async with http.get(server.url + "/none") as resp:
        assert resp.status == 204
        assert "Content-Length" not in resp.headers
        assert await resp.read() == b""


def test_header_injection_is_refused() -> None:
    response = Response(text="x", headers={"X-Evil": "a\r\nSet-Cookie: pwned=1"})
    with pytest.raises(ValueError, match="invalid character"):
        response._head_for("GET", 1, True)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "public"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"0123456789")
    (root / "sub" / "page.html").write_text("<p>hi</p>")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    return root


async def test_file_response_ranges_and_conditions(
    serve: Serve, http: aiohttp.ClientSession, files: Path
) -> None:
    async def send(request: Request) -> FileResponse:
        return FileResponse(files / request.match_info["name"])

    app = Application()
    app.router.add_get("/f/{name}", send)
    server = await serve(app)
    url = server.url + "/f/hello.txt"
    async with http.get(url) as resp:
        assert resp.status == 200
        assert await resp.read() == b"0123456789"
        assert resp.headers["Content-Type"] == "text/plain"
        assert resp.headers["Accept-Ranges"] == "bytes"
        last_modified = resp.headers["Last-Modified"]
        etag = resp.headers["ETag"]
    cases = {
        "bytes=2-4": (206, b"234", "bytes 2-4/10"),
        "bytes=7-": (206, b"789", "bytes 7-9/10"),
        "bytes=-3": (206, b"789", "bytes 7-9/10"),
        "bytes=5-100": (206, b"56789", "bytes 5-9/10"),
        "bytes=0-1,4-5": (200, b"0123456789", None),
        "bytes=20-": (416, b"", "bytes */10"),
    }
    for header, (status, body, content_range) in cases.items():
        async with http.get(url, headers={"Range": header}) as resp:
            assert resp.status == status, header
            assert await resp.read() == body
            assert resp.headers.get("Content-Range") == content_range
    async with http.get(url, headers={"If-Modified-Since": last_modified}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    old = formatdate(os.stat(files / "hello.txt").st_mtime - 3600, usegmt=True)
    async with http.get(url, headers={"If-Modified-Since": old}) as resp:
        assert resp.status == 200
    async with http.head(url) as resp:
        assert resp.headers["Content-Length"] == "10"
    async with http.get(server.url + "/f/missing.txt") as resp:
        assert resp.status == 404


async def test_large_file_is_sent_whole(
    serve: Serve, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    big.write_bytes(data)

    async def send(request: Request) -> FileResponse:
        return FileResponse(big, chunk_size=65536)

    app = Application()
    app.router.add_get("/", send)
    server = await serve(app)
    async with http.get(server.url + "/") as resp:
        assert await resp.read() == data
    async with http.get(server.url + "/", headers={"Range": "bytes=1000000-"}) as resp:
        assert await resp.read() == data[1000000:]


async def test_static_files_and_traversal_attempts(
    serve: Serve, http: aiohttp.ClientSession, files: Path
) -> None:
    app = Application()
    app.router.add_static("/static", files)
    server = await serve(app)
    async with http.get(server.url + "/static/sub/page.html") as resp:
        assert (resp.status, await resp.text()) == (200, "<p>hi</p>")
        assert resp.headers["Content-Type"] == "text/html"
    async with http.get(server.url + "/static/sub") as resp:
        assert resp.status == 403
    for attempt in (
        b"/static/../secret.txt",
        b"/static/sub/../../secret.txt",
        b"/static/%2e%2e/secret.txt",
        b"/static/sub%2F..%2F..%2Fsecret.txt",
        b"/static/..%5csecret.txt",
        b"/static/escape.txt",
        b"/static/hello.txt%00.png",
        b"/static/nothing.txt",
    ):
        raw = await exchange(
            server.port, b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % attempt
        )
        (response,) = parse_responses(raw)
        assert response.status == 404, attempt
        assert b"secret" not in response.body


async def test_static_can_follow_symlinks_when_asked(
    serve: Serve, http: aiohttp.ClientSession, files: Path
) -> None:
    app = Application()
    app.router.add_static("/static", files, follow_symlinks=True)
    server = await serve(app)
    async with http.get(server.url + "/static/escape.txt") as resp:
        assert await resp.text() == "secret"


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("backup.tar.gz", "application/gzip"),
        ("backup.tgz", "application/gzip"),
        ("notes.gz", "application/gzip"),
        ("notes.bz2", "application/x-bzip2"),
        ("notes.xz", "application/x-xz"),
    ],
)
async def test_a_compressed_file_arrives_byte_for_byte(
    serve: Serve, http: aiohttp.ClientSession, tmp_path: Path, name: str, ctype: str
) -> None:
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    compress = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}
    content = compress[name.rsplit(".", 1)[1].replace("tgz", "gz")](tar.getvalue())
    (tmp_path / name).write_bytes(content)
    app = Application()
    app.router.add_static("/files", tmp_path)
    server = await serve(app)
    async with http.get(f"{server.url}/files/{name}") as resp:  # aiohttp would unpack it
        assert resp.headers["Content-Type"] == ctype
        assert "Content-Encoding" not in resp.headers
        assert await resp.read() == content
