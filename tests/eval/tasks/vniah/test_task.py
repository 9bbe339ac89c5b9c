"""V-NIAH: the generated set has the needle where its index says; scoring by hand."""

from __future__ import annotations

import av
import numpy as np

from vlmctx_eval.tasks.vniah import VNIAH


def test_vniah_set_has_the_needle_where_the_index_says(tmp_path):
    task = VNIAH(str(tmp_path), frames="4,6", depths="0,1", size=64)
    loaded = task.load()
    assert len(loaded.samples) == 4 and not loaded.errors
    for s in loaded.samples:
        with av.open(s.video) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert len(frames) == s.meta["frames"]
        white = [i for i, f in enumerate(frames) if np.mean(f) > 200]  # the card is white
        assert white == [s.meta["needle_index"]]
    first = loaded.samples[0]
    preds = [{"prediction": f"Answer: {first.target}", "frames": [[0, 0.0], [1, 1.0]]}]
    preds += [{"prediction": "The code is 0000"}] * 3
    scores = task.score(loaded.samples, preds)
    assert scores[0] == {"exact_match": 1.0, "contains": 1.0, "needle_seen": 1.0}
    agg = task.aggregate(loaded.samples, scores)
    assert agg["scores"]["exact_match"] == 25.0
    assert agg["breakdowns"]["grid"]["4"] == {"0.00": 100.0, "1.00": 0.0}
    # a second load reuses the generated set
    assert [s.target for s in VNIAH(str(tmp_path)).load().samples] == [
        s.target for s in loaded.samples
    ]
