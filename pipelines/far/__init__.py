"""FAR jobs: training (`vlmctx train-far`), rollout (`vlmctx generate`), the FlexRoPE experiment."""
