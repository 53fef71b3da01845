"""CORS with the real peer that enforces it: a page in headless Chromium calls an API
on another origin, which tidewire's ``cors.setup`` allows for one origin only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tidewire.server import Application, AppRunner, Request, Response, TCPSite, cors, json_response

CALL = """async (api) => {
    try {
        const answer = await fetch(api + "/items", {
            method: "PUT",
            headers: {"Content-Type": "application/json", "X-Token": "t"},
            body: JSON.stringify({name: "tea"}),
        });
        return [answer.status, await answer.text(), answer.headers.get("X-Total")];
    } catch (error) {
        return ["refused", String(error)];
    }
}"""


async def page(request: Request) -> Response:
    return Response(text="<!doctype html><title>page</title>", content_type="text/html")


async def put_item(request: Request) -> Response:
    return json_response(await request.json(), headers={"X-Total": "1"})


@pytest.fixture
async def sites() -> AsyncIterator[list[str]]:
    """The API, a page on the origin it allows, and a page on another origin."""
    runners: list[AppRunner] = []

    async def serve(app: Application) -> str:
        runner = AppRunner(app, shutdown_timeout=1.0)
        runners.append(runner)
        await runner.setup()
        site = TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site.port}"

    pages = []
    for _ in range(2):
        app = Application()
        app.router.add_get("/", page)
        pages.append(await serve(app))
    api = Application()
    api.router.add_put("/items", put_item)
    cors.setup(
        api, origins=[pages[0]], headers=["content-type", "x-token"], expose_headers=["X-Total"]
    )
    yield [await serve(api), *pages]
    for runner in runners:
        await runner.cleanup()


async def test_a_page_of_an_allowed_origin_calls_the_api_and_another_cannot(
    browser: Any, sites: list[str]
) -> None:
    api, allowed, foreign = sites
    page = await browser.new_page()
    await page.goto(allowed)
    status, body, total = await page.evaluate(CALL, api)
    assert (status, body, total) == (200, '{"name": "tea"}', "1")  # preflight passed
    await page.goto(foreign)
    outcome = await page.evaluate(CALL, api)
    assert outcome[0] == "refused", outcome  # the browser enforced the refusal
    await page.close()
