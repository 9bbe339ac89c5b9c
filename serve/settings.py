"""The server's limits and access rules, fixed at start-up (``vlmctx serve`` flags).

Defaults are closed: no local folder and no remote host may be read until a flag names it, the
server listens on 127.0.0.1, and every size a client controls (body, media, question, answer,
frames, queue) has a cap. docs/serve.md lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1 << 20


@dataclass(frozen=True)
class ServeSettings:
    """What a request may ask for and read. Sizes in bytes, times in seconds."""

    model: str  # the id clients name in ``model`` (``--served-model-name``, default ``--model``)
    allowed_media_dirs: tuple[Path, ...] = ()  # resolved (symlinks followed) at start-up
    allowed_media_domains: tuple[str, ...] = ()  # "host" or "host:port", lower case
    max_media_bytes: int = 64 * MIB  # one downloaded or data: URL medium
    media_timeout_s: float = 30.0  # one download, connect to last byte
    max_body_bytes: int = 100 * MIB  # one request body (a base64 video is 4/3 of its size)
    max_question_chars: int = 8000  # all text of the messages together
    max_new_tokens: int = 512  # the most ``max_tokens`` a request may ask for
    default_max_tokens: int = 128  # without ``max_tokens`` (as `vlmctx ask`)
    max_frames: int = 256  # frames one request may sample
    max_memory: int | None = None  # the memory plan's peak above which a request is refused
    max_queue: int = 16  # requests waiting for the model beyond the one it runs
    retry_after_s: int = 5  # what a 429 tells the client to wait
    api_key: str | None = field(default=None, repr=False)

    @staticmethod
    def resolve_dirs(dirs: list[str] | None) -> tuple[Path, ...]:
        """Each ``--allowed-media-dir`` as an existing folder, symlinks resolved."""
        out = []
        for d in dirs or ():
            p = Path(os.path.expanduser(d)).resolve()
            if not p.is_dir():
                from vlmctx.errors import ConfigError

                raise ConfigError(f"--allowed-media-dir {d!r} is not a folder")
            out.append(p)
        return tuple(out)

    @staticmethod
    def parse_domains(items: list[str] | None) -> tuple[str, ...]:
        """``--allowed-media-domains a.com,b.org:8080`` (repeatable) as lower-case entries."""
        out: list[str] = []
        for item in items or ():
            out += [d.strip().lower() for d in item.split(",") if d.strip()]
        for d in out:
            if "/" in d or "@" in d or "*" in d:
                from vlmctx.errors import ConfigError

                raise ConfigError(
                    f"--allowed-media-domains takes host names (host or host:port), got {d!r}"
                )
        return tuple(out)
