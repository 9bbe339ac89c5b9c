"""``vlmctx serve``: an OpenAI-compatible HTTP server over :class:`vlmctx.engine.VideoLM`.

Installed as ``vlmctx_serve`` (extra ``serve``: FastAPI, uvicorn, prometheus-client). It depends
only on vlmctx's public API (``VideoLM``, ``ContextConfig``, the registries, the memory planner),
never on eval/, pipelines/ or demos/. Modules: ``cli`` (flags, start-up), ``settings`` (limits and
access rules), ``request`` (an OpenAI chat request -> a validated job), ``media`` (what a URL may
read), ``runner`` (the queue and the generation thread), ``schema`` (OpenAI response bodies),
``metrics`` (Prometheus), ``app`` (the routes). docs/serve.md is the user's guide.
"""
