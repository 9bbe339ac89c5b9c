"""vlmctx: run open vision-language models on long videos without retraining, and measure it.

The library is importable without any front-end dependency (gradio, matplotlib) and runs on CPU.
The one object front ends use is :class:`vlmctx.engine.VideoLM`; everything else is a typed step
of the flow ``path -> probe -> sampler -> reader -> adapter -> pooler -> positions -> generate``.
"""

from vlmctx.errors import VlmctxError

__version__ = "0.1.0"
__all__ = ["VlmctxError", "__version__"]
