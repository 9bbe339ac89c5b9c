"""Token reducers over frame embeddings (registry ``POOLERS``): which grid each frame keeps.

A pooler looks at a video's LLM-token grid (t frames x h x w) and decides, per frame, the grid its
embedding is pooled to; :func:`pool_frames` averages the embeddings over each output cell and
returns, per kept token, the (t, h, w) coordinate of the cell's centre in the *unpooled* grid, so a
pooled token can sit where the tokens it replaced sat (M-RoPE families).

- ``none``: every frame keeps its grid (identity).
- ``uniform(kernel)``: every frame average-pooled by ``kernel`` x ``kernel`` (ceil at the edges),
  like LLaVA-OneVision's 2x2 video pooling.
- ``progressive(group, kernel, full)``: the VCWE paper's progressive pooling (arXiv 2409.20018):
  frames in groups of ``group``; the frame at position ``full`` of each group keeps full
  resolution, the others are pooled by ``kernel``. The paper's exact group size and which frame
  keeps full resolution could not be pinned down from the available text; the defaults (group 4,
  first frame full, 2x2) are our choice and are parameters.
- ``hybrid(group, ratio)``: GIRAFFE's hybrid resolution (arXiv 2412.12735, section 2.3): in each
  group of ``group`` frames one frame keeps its m tokens, the other ``group - 1`` are adaptively
  pooled to about m / ``ratio`` tokens (aspect kept), e.g. 240 -> 80 for ratio 3.

``vlmctx.models.pooled`` applies a pooler to each of the four families (pooled embeddings through
``inputs_embeds``; pooled M-RoPE positions at the unpooled cell centres). Combining a pooler with a
position scheme other than ``default`` is refused for now.
"""

from vlmctx.pooling.poolers import POOLERS, FramePooling, Pooler, pool_frames, pooled_token_count

__all__ = ["POOLERS", "FramePooling", "Pooler", "pool_frames", "pooled_token_count"]
