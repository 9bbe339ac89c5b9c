"""The demo's typed parameter fields (generated from the registries), its timeline, its
tokens/memory trade-off plot, its memory labels, and that a client leaving stops generation."""

from __future__ import annotations

import inspect
import threading

import pytest

gr = pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'vlmctx[demo]')")

from tests.demos.conftest import TINY  # noqa: E402
from vlmctx_demos.app import DemoApp  # noqa: E402
from vlmctx_demos.controls import KINDS, _registry, chosen_params, param_specs  # noqa: E402
from vlmctx_demos.readout import measured_memory, timeline_html, tradeoff  # noqa: E402


@pytest.fixture(scope="module")
def app() -> DemoApp:
    from vlmctx.engine import VideoLM

    return DemoApp(VideoLM.load(TINY, device="cpu"), max_upload_mb=50)


@pytest.mark.parametrize("kind", KINDS)
def test_every_registered_parameter_has_a_typed_field_with_help(kind: str) -> None:
    """A pooler or scheme added to a registry shows up with a field per parameter, its default
    and help (param_specs raises on a parameter with no help or no field type)."""
    reg = _registry(kind)
    for name in reg.names():
        specs = param_specs(kind, name)
        params = reg.entry(name).parameters()
        assert [s.name for s in specs] == list(params)
        for spec in specs:
            default = params[spec.name]
            assert spec.default == (None if default is inspect.Parameter.empty else default)
            assert spec.field in ("int", "float", "bool", "choice") and len(spec.help) > 15
            assert spec.optional == (spec.default is None)
            if spec.field == "choice":
                assert spec.default in spec.choices


def test_only_the_selected_and_changed_parameters_reach_the_config(app: DemoApp) -> None:
    values = app.controls(pooling="progressive", position="yarn")
    cfg = app.config(*values)
    assert (cfg.pooling, dict(cfg.pooling_params), cfg.position, dict(cfg.position_params)) == (
        "progressive",
        {},
        "yarn",
        {},
    )  # defaults and empty optional fields are left to the scheme
    values = app.controls(pooling="progressive", position="yarn",
                          progressive={"group": 8}, yarn={"factor": 2.5, "beta_fast": 16.0},
                          ntk={"factor": 9.0}, uniform={"kernel": 3})  # fmt: skip
    cfg = app.config(*values)
    assert dict(cfg.pooling_params) == {"group": 8}
    assert dict(cfg.position_params) == {"factor": 2.5, "beta_fast": 16.0}
    app.lm.with_config(cfg)  # the engine accepts what the fields produce
    specs = app.specs
    assert chosen_params(specs, [None] * len(specs), "position", "yarn") == {}
    zeros = [0 if s.optional else s.default for s in specs]  # what the page sends for "auto"
    assert chosen_params(specs, zeros, "position", "yarn") == {}
    with pytest.raises(ValueError, match="field values"):
        chosen_params(specs, [], "position", "yarn")


def test_every_scheme_and_pooler_with_default_fields_is_accepted(app: DemoApp) -> None:
    for pooling in app.poolers:
        for position in app.positions:
            app.lm.with_config(app.config(*app.controls(pooling=pooling, position=position)))


def test_timeline_ticks_sit_at_the_true_timestamps() -> None:
    html = timeline_html([0.0, 3.0, 11.5], [0, 90, 345], 12.0)
    assert html.count('class="vt-tick"') == 3
    assert 'data-t="3.000"' in html and "left:25.000%" in html and "frame #345 at 11.50 s" in html
    assert "12.00 s" in html


def test_measured_memory_says_what_it_measured() -> None:
    call = measured_memory({"peak_memory_bytes": 2**30, "peak_memory_scope": "call"}, "cuda:0")
    assert "1.00 GiB" in call and "of this call" in call and "GPU allocator" in call
    proc = measured_memory({"peak_memory_bytes": 2**30, "peak_memory_scope": "process"}, "cpu")
    assert "whole process" in proc and "not comparable with the plan" in proc


def test_tradeoff_points_are_the_plan_and_pooling_lowers_them(app: DemoApp) -> None:
    import numpy as np

    from vlmctx.planner import plan_memory
    from vlmctx.runtime.assets import sample_video
    from vlmctx.video import probe

    video = str(sample_video())
    info = probe(video)
    none = tradeoff(app.lm, video, "none", {})
    assert [p.frames for p in none] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert [p.exact for p in none] == [True] * 5 + [False] * 4
    for p in none[:5]:  # exact points: what `vlmctx plan` plans for the same frames
        pts = np.linspace(0.0, info.duration_s - 1e-3, p.frames)
        plan = plan_memory(TINY, p.frames, (info.height, info.width), "Describe the video.",
                           "float32", pts, info.duration_s)  # fmt: skip
        assert (p.visual_tokens, p.total_tokens, p.planned_bytes) == (
            plan.visual_tokens,
            plan.total_tokens,
            plan.peak_prefill_bytes,
        )
    tokens = [p.visual_tokens for p in none]
    assert tokens == sorted(tokens) and tokens[-1] > 8 * tokens[4]
    pooled = tradeoff(app.lm, video, "uniform", {"kernel": 2})
    assert all(a.visual_tokens < b.visual_tokens for a, b in zip(pooled[3:], none[3:], strict=True))
    assert pooled[-1].planned_bytes < none[-1].planned_bytes
    table, _, caption = app.plot(video, *app.controls(pooling="uniform"))
    assert list(table["visual tokens"]) == [p.visual_tokens for p in pooled]
    assert "16 frames" in caption
    empty, _, hint = app.plot(None, *app.controls())
    assert empty.empty and "Upload a video" in hint


def test_a_client_that_leaves_stops_the_generation(app: DemoApp) -> None:
    """Closing the respond generator (Gradio does so when the client goes) closes the stream:
    the generation has stopped and the model is free as soon as close() returns."""
    from vlmctx.runtime.assets import sample_video

    gen = app.respond(str(sample_video()), "Describe everything.", [], None, 50,
                      *app.controls(n_frames=4))  # fmt: skip
    next(gen)  # frames shown
    next(gen)  # the first streamed piece: generation is running
    gen.close()
    free: list[bool] = []

    def probe_lock() -> None:
        got = app.lm.loaded.lock.acquire(timeout=0)
        free.append(got)
        if got:
            app.lm.loaded.lock.release()

    t = threading.Thread(target=probe_lock)
    t.start()
    t.join()
    assert free == [True], "the model is still generating for a client that left"
