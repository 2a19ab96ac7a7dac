"""python-telegram-bot's requests to the Bot API over aiohttp instead of httpx.

Under load the bot spends most of its time talking to the Bot API: a reply, a button's answer and
the polling are each a request. With httpx (python-telegram-bot's default) those requests took about
a quarter of the event loop's CPU; aiohttp, which the webhook server already runs on, parses HTTP in
C. python-telegram-bot supports this through its `BaseRequest` interface; this class only carries a
request across and maps aiohttp's errors to python-telegram-bot's.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

_UNSET = type(BaseRequest.DEFAULT_NONE)  # "not given": python-telegram-bot's own default marker


def _given(value: Any, default: float | None) -> float | None:
    return default if isinstance(value, _UNSET) else value


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        # origin -> proxy: what HTTPS_PROXY and friends say, read once per origin
        self._proxies: dict[str, URL | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                # not trust_env: it reads the environment and ~/.netrc on a thread for every
                # request (a tenth of the event loop under load); `_proxy` reads them once
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        # aiohttp has no write timeout of its own: a body is written within the read's time
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None and pool is None else (connect or 0) + (pool or 0),
            sock_read=read,
        )
        body: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            fields = request_data.json_parameters
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in fields.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                body = form
            else:
                body = fields  # form-encoded, as python-telegram-bot's own request sends it
        proxy = await self._proxy(url)
        try:
            async with self._session.request(
                method, url, data=body, timeout=timeout, proxy=proxy
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # asyncio's, which aiohttp raises for its time-outs
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    async def _proxy(self, url: str) -> URL | None:
        """HTTPS_PROXY and friends (with NO_PROXY and ~/.netrc), as httpx honours them: offices
        often reach the internet only through a proxy. aiohttp's own reading, once per origin."""
        parsed = URL(url)
        origin = str(parsed.origin())
        if origin not in self._proxies:
            proxy: URL | None = None
            with contextlib.suppress(LookupError):  # LookupError: none for this origin
                found, auth = await asyncio.to_thread(get_env_proxy_for_url, parsed)
                # aiohttp sends a proxy URL's credentials as Proxy-Authorization
                proxy = found if auth is None else found.with_user(auth.login).with_password(auth.password)
            self._proxies[origin] = proxy
        return self._proxies[origin]
