from __future__ import annotations

import numpy as np

from vlmctx.video.synthetic import clips


def test_counter_round_trips_every_value() -> None:
    for i in (0, 1, 2, 5, 249, 250, 1023, 4095):
        assert clips.read_counter(clips.draw_frame(i, 192, 112)) == i
        assert clips.read_counter(np.rot90(clips.draw_frame(i, 192, 112)), rotation=90) == i


def test_frames_are_deterministic_and_neighbours_differ() -> None:
    a, b = clips.draw_frame(7, 96, 64), clips.draw_frame(7, 96, 64)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - clips.draw_frame(8, 96, 64)).mean() > 5
    cut = np.abs(a.astype(int) - clips.draw_frame(8, 96, 64, scene=1)).mean()
    assert cut > 2 * np.abs(a.astype(int) - clips.draw_frame(8, 96, 64)).mean()


def test_synth_clip_is_cached(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("VLMCTX_SYNTH_DIR", str(tmp_path))
    first = clips.synth_clip(num_frames=8, gop=4)
    mtime = first.stat().st_mtime_ns
    assert clips.synth_clip(num_frames=8, gop=4) == first and first.stat().st_mtime_ns == mtime
