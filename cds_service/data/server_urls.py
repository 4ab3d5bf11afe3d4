"""FHIR server URLs compared as origins plus path segments, parsed once, never as string prefixes.

A URL is parsed with the same parser that sends the request (``httpx.URL``), so what is checked is what
is called. A URL is *on* an allowlisted base when scheme, host and port are equal and its path segments
are the base's (``/fhir`` and ``/fhir/``); it is *under* the base when its path starts with the base's
segments at a ``/`` boundary (``/ok/Patient`` is under ``/ok``, ``/okEVIL`` is not). Userinfo
(``https://allowed@elsewhere``), dot segments (also percent-encoded) and backslashes are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlRefused(ValueError):
    """The URL may not be called; the message is safe to show (it names no token)."""


@dataclass(frozen=True, slots=True)
class ServerUrl:
    """A parsed http(s) URL: origin (scheme, host, port) and decoded path segments."""

    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]
    url: httpx.URL = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> ServerUrl:
        """Parse ``text``; raise ``UrlRefused`` when it is not an absolute http(s) URL that may be called."""
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise UrlRefused("not a valid URL") from exc
        if url.scheme not in DEFAULT_PORTS or not url.raw_host:
            raise UrlRefused("not an absolute http(s) URL")
        if url.userinfo:
            raise UrlRefused("a URL with userinfo (user@host) is refused")
        port = url.port or DEFAULT_PORTS[url.scheme]
        if not 0 < port < 65536:
            raise UrlRefused("not a valid port")
        raw_path = url.raw_path.split(b"?", 1)[0].decode("ascii")
        segments = tuple(unquote(s) for s in raw_path.split("/")[1:])
        for segment in segments:
            if segment in (".", "..") or "\\" in segment or "/" in segment:
                raise UrlRefused("a URL with dot segments, backslashes or encoded slashes is refused")
        while segments and segments[-1] == "":
            segments = segments[:-1]
        return cls(url.scheme, url.raw_host.decode("ascii").lower(), port, segments, url)

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def origin_text(self) -> str:
        """``scheme://host:port``: the name of the server (its guard, its label in metrics and ``/readyz``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def is_under(self, base: ServerUrl) -> bool:
        """Same origin, and the path is the base's path or below it at a segment boundary."""
        return self.origin == base.origin and self.segments[: len(base.segments)] == base.segments

    def is_on(self, base: ServerUrl) -> bool:
        """Same origin and the same path (the base itself, trailing slash ignored)."""
        return self.origin == base.origin and self.segments == base.segments
