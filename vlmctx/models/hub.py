"""Is a model reachable? Local names, the hub cache, and a fast offline check before any download.

Without hub access, ``from_pretrained`` on a hub id retries for ~26 s and logs a dozen warnings
before it fails. :func:`require_reachable` answers in well under a second instead: a hub id whose
``config.json`` is in the local Hugging Face cache is fine offline; otherwise the hub must be
reachable (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` say it is not; else one TCP connect to the
hub's host with a short timeout, done once per process). When it is not, one line says so, with a
"did you mean" over the names that work here: the shipped checkpoints, ``tiny-<family>`` and
checkpoint folders in the current directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from vlmctx.errors import ModelLoadError
from vlmctx.models.cards import find
from vlmctx.models.names import SHIPPED
from vlmctx.models.tiny import tiny_names
from vlmctx.registry import did_you_mean

CONNECT_TIMEOUT_S = 1.5


def local_names() -> list[str]:
    """Model names that load with no hub access: shipped, tiny and ./<folder> checkpoints."""
    names = [*SHIPPED, *tiny_names()]
    with contextlib.suppress(OSError):
        names += sorted(e.name for e in os.scandir(".") if os.path.isfile(Path(e) / "config.json"))
    return names


def offline_by_env() -> bool:
    """Whether the environment forbids hub access (``HF_HUB_OFFLINE=1`` and friends)."""
    return any(
        os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """One TCP connect to the hub's host (``HF_ENDPOINT``), bounded in time, DNS included."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    ok: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=connect, daemon=True)  # getaddrinfo has no timeout of its own
    t.start()
    t.join(CONNECT_TIMEOUT_S + 0.5)
    return bool(ok)


def in_cache(model_id: str) -> bool:
    """Whether the hub id's ``config.json`` is in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # an id the hub library refuses (bad characters...) is not cached
        return False


def require_reachable(model: str) -> None:
    """Refuse, fast and in one line, a hub id that is neither cached nor reachable."""
    if Path(model).exists() or in_cache(model):
        return
    if offline_by_env():
        why = "HF_HUB_OFFLINE is set"
    elif not hub_reachable():
        why = "the Hugging Face hub cannot be reached"
    else:
        return
    card = (
        " (`vlmctx plan` works offline for it: it has an architecture card)" if find(model) else ""
    )
    raise ModelLoadError(
        f"model {model!r} is not on this machine and {why} (offline){did_you_mean(model, local_names())}"
        f"; use a local checkpoint folder, the shipped 'toylab', or a tiny-<family> test model "
        f"(`vlmctx ls` lists them){card}"
    )
