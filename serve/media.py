"""What a media URL in a request may read, and reading it.

Four forms, each closed unless a flag opens it (vLLM's ``--allowed-local-media-path`` and
``--allowed-media-domains`` are the model):

- a plain path or ``file://`` URL: only a regular file whose *resolved* path (``..``,
  percent-encoding of the URL and every symlink followed) lies inside an ``--allowed-media-dir``;
  relative paths are read from the first of them. The decoder is handed the resolved path;
- ``http(s)://``: only hosts in ``--allowed-media-domains`` (``host`` or ``host:port``), read with a
  size cap (``--max-media-mb``) and a timeout (``--media-timeout``); a redirect is followed only to
  the same host and port, at most 5 times; no proxy from the environment;
- ``data:<type>;base64,...``: its decoded size checked against ``--max-media-mb`` before decoding;
- anything else is refused.

Every refusal is a 400 whose message names the flag that would allow the request.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import mimetypes
import os
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from vlmctx_serve.errors import APIError, bad_request
from vlmctx_serve.settings import MIB, ServeSettings

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
MAX_REDIRECTS = 5
# data: URL media types a part of each kind may carry
_DATA_TYPES = {
    "video": ("video/",),
    "image": ("image/",),
    "subtitles": ("text/vtt", "text/srt", "application/x-subrip", "application/json"),
}
_SUBTITLE_SUFFIX = {
    "text/vtt": ".vtt",
    "text/srt": ".srt",
    "application/x-subrip": ".srt",
    "application/json": ".json",
}


class MediaFetcher:
    """Turns one request's media URLs into local files; ``close()`` deletes what it downloaded."""

    def __init__(self, settings: ServeSettings, param: str) -> None:
        self.settings = settings
        self.param = param  # where in the request the URL was (for the error's ``param``)
        self._temp: list[str] = []

    def local_file(self, url: str, kind: str) -> str:
        """A readable local file holding the medium at ``url`` (``kind``: video, image,
        subtitles); raises :class:`APIError` (400) for anything the settings do not allow."""
        if not isinstance(url, str) or not url.strip():
            raise bad_request(f"{self.param} must be a non-empty URL or path", self.param)
        if "\x00" in url:
            raise bad_request("a media URL may not contain NUL characters", self.param)
        m = _SCHEME.match(url)
        scheme = m[1].lower() if m and len(m[1]) > 1 else ""  # "C:" is not a scheme
        if scheme == "":
            return self._allowed_path(url)
        if scheme == "file":
            return self._allowed_path(self._file_url_path(url))
        if scheme in ("http", "https"):
            return self._download(url, kind)
        if scheme == "data":
            return self._data_url(url, kind)
        raise bad_request(
            f"media URL scheme {scheme!r} is not served; use a path or file:// URL "
            "(--allowed-media-dir), http(s):// (--allowed-media-domains) or a base64 data: URL",
            self.param,
            "unsupported_media_url",
        )

    def close(self) -> None:
        """Delete the files this request downloaded or decoded."""
        for path in self._temp:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._temp.clear()

    # ---- local files -----------------------------------------------------------------------
    def _file_url_path(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise bad_request(
                f"file:// URLs name files on this machine; host {parts.netloc!r} is not allowed",
                self.param,
            )
        path = unquote(parts.path)  # %2e%2e is "..": resolved below like any other
        if "\x00" in path:
            raise bad_request("a media URL may not contain NUL characters", self.param)
        return path

    def _allowed_path(self, path: str) -> str:
        dirs = self.settings.allowed_media_dirs
        if not dirs:
            raise bad_request(
                "local media files are not served; start the server with "
                "--allowed-media-dir DIR to allow files under DIR",
                self.param,
                "media_dir_not_allowed",
            )
        candidate = Path(os.path.expanduser(path)) if path.startswith("~") else Path(path)
        if not candidate.is_absolute():
            candidate = dirs[0] / candidate
        real = Path(os.path.realpath(candidate))  # "..", "." and every symlink resolved
        if not any(real == d or real.is_relative_to(d) for d in dirs):
            raise bad_request(
                f"media path {path!r} is outside the allowed folders; only files under "
                "--allowed-media-dir are served",
                self.param,
                "media_path_not_allowed",
            )
        if not real.is_file():
            raise bad_request(f"no media file {path!r} under --allowed-media-dir", self.param)
        return str(real)

    # ---- remote files ----------------------------------------------------------------------
    def _host_allowed(self, url: str) -> tuple[str, str, int]:
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise bad_request("media URLs may not carry user names or passwords", self.param)
        origin = _origin(url)
        if origin is None:
            raise bad_request(f"media URL {url[:200]!r} has no host or a bad port", self.param)
        _, host, port = origin
        allowed = self.settings.allowed_media_domains
        if host not in allowed and f"{host}:{port}" not in allowed:
            raise bad_request(
                f"media host {host}:{port} is not allowed; add it with "
                "--allowed-media-domains HOST[:PORT] (none by default)",
                self.param,
                "media_domain_not_allowed",
            )
        return origin

    def _download(self, url: str, kind: str) -> str:
        import httpx

        origin = self._host_allowed(url)
        try:
            return self._fetch(url, kind, origin)
        except httpx.HTTPError as exc:
            raise bad_request(
                f"could not fetch the media URL ({type(exc).__name__}: {str(exc)[:200]})",
                self.param,
                "media_fetch_failed",
            ) from None

    def _fetch(self, url: str, kind: str, origin: tuple[str, str, int]) -> str:
        import httpx

        deadline = time.monotonic() + self.settings.media_timeout_s
        timeout = httpx.Timeout(self.settings.media_timeout_s)
        with httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout) as client:
            for _ in range(MAX_REDIRECTS + 1):
                with client.stream("GET", url) as resp:
                    if resp.is_redirect:
                        url = urljoin(url, resp.headers.get("location", ""))
                        if _origin(url) != origin:
                            raise bad_request(
                                "the media URL redirects to another host, which is never "
                                "followed; give the final URL (its host in "
                                "--allowed-media-domains)",
                                self.param,
                                "media_redirect_refused",
                            )
                        continue
                    return self._save_response(resp, url, kind, deadline)
        raise bad_request(f"more than {MAX_REDIRECTS} redirects from the media URL", self.param)

    def _save_response(self, resp, url: str, kind: str, deadline: float) -> str:  # noqa: ANN001
        if resp.status_code != 200:
            raise bad_request(f"fetching the media URL gave HTTP {resp.status_code}", self.param)
        cap = self.settings.max_media_bytes
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise self._too_big(int(declared))
        suffix = Path(urlsplit(url).path).suffix[:8] or ".bin"
        fd, path = tempfile.mkstemp(prefix="vlmctx-serve-", suffix=suffix)
        self._temp.append(path)
        size = 0
        with os.fdopen(fd, "wb") as fh:
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise self._too_big(size)
                if time.monotonic() > deadline:
                    raise bad_request(
                        "the media download took longer than --media-timeout", self.param
                    )
                fh.write(chunk)
        return path

    def _too_big(self, size: int) -> APIError:
        return bad_request(
            f"the medium holds more than {self.settings.max_media_bytes / MIB:g} MiB "
            f"({size / MIB:.1f} MiB or more); the server's --max-media-mb allows larger ones",
            self.param,
            "media_too_large",
        )

    # ---- data: URLs ------------------------------------------------------------------------
    def _data_url(self, url: str, kind: str) -> str:
        head, sep, payload = url[5:].partition(",")
        if not sep or not head.endswith(";base64"):
            raise bad_request(
                "data: URLs must be base64, e.g. data:video/mp4;base64,AAAA...", self.param
            )
        mime = head[: -len(";base64")].split(";")[0].strip().lower()
        if not mime.startswith(_DATA_TYPES[kind]):
            raise bad_request(
                f"a {kind} data: URL must carry one of {', '.join(_DATA_TYPES[kind])}, "
                f"got {mime or 'no media type'!r}",
                self.param,
            )
        if len(payload) * 3 // 4 > self.settings.max_media_bytes:
            raise self._too_big(len(payload) * 3 // 4)
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("the data: URL is not valid base64", self.param) from None
        suffix = _SUBTITLE_SUFFIX.get(mime) or mimetypes.guess_extension(mime) or ".bin"
        fd, path = tempfile.mkstemp(prefix="vlmctx-serve-", suffix=suffix)
        self._temp.append(path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the port filled in; None without a valid host."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host, port or (443 if scheme == "https" else 80)
