"""The toy lab: scenes with known answers, the task, the training script, the experiment, and the
shipped model answering the bundled sample video."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pytest

from vlmctx.errors import ConfigError
from vlmctx.video.synthetic.toy_scenes import (
    COLOURS,
    QUESTIONS,
    TASKS,
    make_item,
    render,
    render_all,
    sample_scene,
)


@pytest.mark.parametrize("frames", [4, 16, 256])
@pytest.mark.parametrize("task", TASKS)
def test_items_are_deterministic_and_their_answers_follow_from_the_scene(task, frames) -> None:
    a = make_item(task, frames, np.random.default_rng(7))
    b = make_item(task, frames, np.random.default_rng(7))
    assert a == b
    scene, question, answer = a
    assert question == QUESTIONS[task] and scene.frames == frames
    distractors = [e for e in scene.events if e.where == "corner"] if task != "when" else []
    assert len(distractors) <= 1
    ev = tuple(e for e in scene.events if e not in distractors)
    assert all(0 <= e.start < frames for e in ev)
    if task == "ball":
        assert answer == scene.ball and not ev
    elif task == "needle":
        assert answer == ev[0].colour != scene.ball and ev[0].stop == ev[0].start + 1
    elif task == "count":
        assert answer == str(len(ev)) and all(e.kind == "flash" for e in ev)
        pairs = sorted(e.start // 2 for e in ev)
        assert all(q - p >= 2 for p, q in zip(pairs, pairs[1:], strict=False))
    elif task == "order":
        first = min(ev, key=lambda e: e.start)
        assert answer == first.kind and {e.kind for e in ev} == {"square", "circle"}
        assert ev[0].start != ev[1].start
    else:
        assert answer == str(ev[0].start) and ev[0].stop is None and ev[0].where == "corner"


def test_render_shows_the_events_on_their_frames() -> None:
    scene, _, answer = make_item("when", 16, np.random.default_rng(1))
    s = int(answer)
    frames = render_all(scene, 128, 96)
    corner = frames[:, 1, 126]  # top-right quarter, out of the ball's reach
    green = np.array(COLOURS["green"])
    seen = [bool(np.abs(px.astype(int) - green).max() < 40) for px in corner]
    assert seen == [i >= s for i in range(16)]
    flash, _, n = make_item("count", 16, np.random.default_rng(2))
    red = [i for i in range(16) if render(flash, i, 64, 48)[..., 0].mean() > 120]
    assert len(red) == int(n)


def test_the_sample_video_is_the_sample_scene() -> None:
    from vlmctx.runtime.assets import SAMPLE_FACTS

    scene = sample_scene()
    assert scene.duration_s == SAMPLE_FACTS["duration_s"] and scene.fps == SAMPLE_FACTS["fps"]
    assert scene.ball == SAMPLE_FACTS["ball_colour"]
    (square,) = scene.events
    assert square.colour == SAMPLE_FACTS["square_colour"]
    assert square.start / scene.fps == SAMPLE_FACTS["square_appears_s"]


def test_task_generates_loads_scores_and_aggregates(tmp_path) -> None:
    from vlmctx_eval.harness.records import Sample
    from vlmctx_eval.tasks.toylab import ToyLab

    task = ToyLab(dir=str(tmp_path), frames="8,12", kinds="ball,when", per_cell=2, seed=3)
    loaded = task.load()
    assert len(loaded.samples) == 8 and not loaded.errors
    assert ToyLab(dir=str(tmp_path), frames="8,12", kinds="ball,when", per_cell=2,
                  seed=3).load().samples == loaded.samples  # fmt: skip
    with pytest.raises(ConfigError, match="generated with"):
        ToyLab(dir=str(tmp_path), frames="8,12", kinds="ball,when", per_cell=3, seed=3).load()
    samples = [Sample(id=str(i), target=t, video="v", question="q",
                      meta={"task": k, "frames": f})
               for i, (t, k, f) in enumerate([("red", "ball", 8), ("red", "ball", 8),
                                              ("3", "when", 8), ("5", "when", 12)])]  # fmt: skip
    preds = [{"prediction": "Red."}, {"prediction": "blue"}, {"prediction": " 3"}, {}]
    scores = task.score(samples, preds)
    assert [s.get("exact_match") for s in scores] == [1.0, 0.0, 1.0, None]
    agg = task.aggregate(samples, scores)
    assert agg["breakdowns"]["by_frames"]["ball"] == {"8": 50.0}
    assert agg["breakdowns"]["by_frames"]["accuracy"] == {"8": 75.0}
    assert agg["scores"] == {"accuracy": 75.0, "ball": 50.0, "when": 100.0}


def test_training_prompt_is_the_engines_prompt() -> None:
    """The model is trained on exactly the token sequence VideoLM builds at inference."""
    from vlmctx.models import ADAPTERS
    from vlmctx.models.contract import Loaded
    from vlmctx.video.types import Frames, VideoInfo
    from vlmctx_pipelines.toylab.model import build_processor
    from vlmctx_pipelines.toylab.train import RENDER, prompt, video_inputs

    proc = build_processor()
    scene, question, _ = make_item("count", 8, np.random.default_rng(0))
    data = render_all(scene, *RENDER)
    adapter = ADAPTERS.create("qwen2_vl")
    adapter.settings.time_prefix = False  # what the toylab checkpoint's vlmctx.json declares
    pts = np.arange(8, dtype=np.float64)
    info = VideoInfo("x", 8, 1.0, 8.0, RENDER[0], RENDER[1], 0, "", False, pts, np.zeros(1, int))
    frames = Frames(data, np.arange(8), pts, "test", info, sample_fps=1.0)
    engine = adapter.prompt.build_inputs(Loaded(None, proc, adapter, "x"), question, frames)
    train = video_inputs(proc, [prompt(proc, question)], [data])
    assert engine["input_ids"].tolist() == train["input_ids"].tolist()
    assert (engine["pixel_values_videos"] == train["pixel_values_videos"]).all()


def test_train_script_writes_a_checkpoint_vlmctx_loads(tmp_path) -> None:
    from vlmctx.engine import VideoLM
    from vlmctx_pipelines.toylab.train import train

    args = Namespace(out=str(tmp_path / "ck"), steps=2, batch=2, lr=1e-3, warmup=1, max_frames=8,
                     seed=0, threads=1, eval_items=1, no_progress=True)  # fmt: skip
    summary = train(args)
    meta = json.loads((tmp_path / "ck" / "vlmctx.json").read_text())
    assert meta["time_prefix"] is False and meta["visual_window"] == 8
    assert set(summary["accuracy_at_trained_length"]) == set(TASKS)
    lm = VideoLM.load(str(tmp_path / "ck"))
    assert lm.adapter.settings.time_prefix is False and lm.adapter.settings.visual_window == 8
    from vlmctx.runtime.assets import sample_video

    ans = lm.ask(sample_video(), "What colour is the ball?", max_new_tokens=2)
    assert (
        ans.visual_tokens > 0 and ans.visual_tokens % 2 == 0
    )  # 2 tokens per frame pair (16x32 px)


def test_window_variant_trains_with_more_tokens_per_frame_and_another_theta(tmp_path) -> None:
    """``--frame-pixels 2048 --rope-theta 100`` (docs/toylab.md, the realistic-window variant):
    3 tokens per frame, the window and theta land in the checkpoint, and it loads and answers."""
    from vlmctx.engine import VideoLM
    from vlmctx.runtime.assets import sample_video
    from vlmctx_pipelines.toylab.cli import add_args
    from vlmctx_pipelines.toylab.train import train

    p = argparse.ArgumentParser()
    add_args(p)
    args = p.parse_args(["-o", str(tmp_path / "ck"), "--steps", "1", "--batch", "2",
                         "--max-frames", "4", "--eval-items", "1", "--no-progress",
                         "--frame-pixels", "2048", "--rope-theta", "100"])  # fmt: skip
    summary = train(args)
    meta = json.loads((tmp_path / "ck" / "vlmctx.json").read_text())
    assert meta["visual_window"] == summary["visual_window"] == 12  # 2 frame pairs x (2 x 3)
    assert "--frame-pixels 2048 --rope-theta 100 " in meta["command"]
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["text_config"]["rope_parameters"]["rope_theta"] == 100.0
    lm = VideoLM.load(str(tmp_path / "ck"))
    assert lm.adapter.settings.visual_window == 12
    ans = lm.ask(sample_video(), "What colour is the ball?", max_new_tokens=2)
    assert ans.visual_tokens > 0 and ans.visual_tokens % 6 == 0  # 32x48 px: 6 per frame pair
    with pytest.raises(SystemExit):  # below the processors' 256-pixel minimum
        p.parse_args(["--frame-pixels", "255"])


def test_window_split_is_the_schemes_own_report() -> None:
    """The frequency split docs/toylab.md quotes: toy 1/1/14 of 16, variant 1/7/8, and
    Qwen2-VL-7B 21/16/27 of 64 (VCWE's report for twice the visual window)."""
    from vlmctx_eval.experiments.toylab.window import TOYS, rows, split

    table = rows()
    got = {name: (r["kept"], r["ramped"], r["interpolated"]) for name, r in table}
    toy, variant = (name for name, *_ in TOYS)
    assert got[toy] == (1, 1, 14) and got[variant] == (1, 7, 8)
    (qwen2,) = [r for name, r in table if "Qwen2-VL-7B-Instruct" in name]
    assert (qwen2["kept"], qwen2["ramped"], qwen2["interpolated"]) == (21, 16, 27)
    assert qwen2["temporal"] == [16, 0, 0, 16]  # every temporal frequency kept on the real card
    assert dict(table)[toy]["temporal"] == [1, 1, 2, 4]
    assert (split(128, 1e6, 6272)["kept"], split(128, 1e6, 6272)["interpolated"]) == (16, 32)


def test_experiment_runs_the_grid_and_writes_predictions_and_paired_tables(tmp_path) -> None:
    import argparse

    from vlmctx_eval.experiments.toylab.experiment import add_args, execute
    from vlmctx_eval.experiments.toylab.stats import main as stats_main
    from vlmctx_eval.experiments.toylab.stats import read_rows

    p = argparse.ArgumentParser()
    add_args(p)
    args = p.parse_args(["--seeds", "0", "--output-path", str(tmp_path / "runs"), "--frames", "8",
                         "--per-cell", "1", "--schemes", "default,vcwe:apply_to=visual",
                         "--pooling", "none,progressive", "--results", str(tmp_path / "res"),
                         "--no-progress"])  # fmt: skip
    assert execute(args) == 0
    res = tmp_path / "res"
    labels = {"default + none", "vcwe(apply_to=visual) + none", "default + progressive",
              "vcwe(apply_to=visual) + progressive"}  # fmt: skip
    rows = read_rows(res / "toylab_predictions.jsonl.gz")
    assert len(rows) == len(TASKS) and {r["kind"] for r in rows} == set(TASKS)
    assert all(set(r["predictions"]) == set(r["correct"]) == labels for r in rows)
    assert all(r["seed"] == 0 and r["checkpoint"] == "toylab" and r["frames"] == 8 for r in rows)
    # every row's correctness is the task's exact match of its prediction
    assert all(r["correct"][lb] == int(r["predictions"][lb].strip().lower().rstrip(".")
                                       == r["answer"].lower()) for r in rows for lb in labels)  # fmt: skip
    doc = json.loads((res / "toylab.json").read_text())
    assert set(doc["labels"]) == labels and doc["frames"] == [8]
    learned = doc["cells"]["learned"]["default + none"]["8"]
    assert learned["n"] == 3 and learned["k"] == sum(
        r["correct"]["default + none"] for r in rows if r["kind"] in ("ball", "needle", "order")
    )
    assert doc["run"]["command"].startswith("vlmctx toylab run --seeds 0 --frames 8")
    md = (res / "toylab.md").read_text()
    assert "| vcwe(apply_to=visual) + progressive |" in md and "Wilson 95%" in md
    assert (res / "toylab.png").exists()
    assert (tmp_path / "runs" / "seed0" / "data-8-n1-s0" / "toylab.jsonl").exists()
    # the committed tables can be rebuilt from the predictions alone, byte for byte
    (res / "toylab.md").unlink()
    assert stats_main([str(res / "toylab_predictions.jsonl.gz")]) == 0
    assert (res / "toylab.md").read_text() == md


def test_experiment_refuses_a_missing_seed_checkpoint_and_says_how_to_train_it(tmp_path) -> None:
    import argparse

    from vlmctx_eval.experiments.toylab.experiment import add_args, execute

    p = argparse.ArgumentParser()
    add_args(p)
    args = p.parse_args(["--seeds", "0,1", "--frames", "8", "--output-path", str(tmp_path / "runs"),
                         "--results", str(tmp_path / "res")])  # fmt: skip
    ckpt = tmp_path / "runs" / "checkpoints" / "seed1"
    with pytest.raises(ConfigError, match=f"vlmctx toylab train --seed 1 -o {ckpt}"):
        execute(args)
    assert not (tmp_path / "runs" / "seed0").exists()  # nothing ran


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--seeds", "0,x"], "--seeds takes integers"), (["--seeds", "1,1"], "distinct"),
     (["--seeds", "0,1", "--checkpoints", "toylab"], "names 1 checkpoints for 2 seeds")],
)  # fmt: skip
def test_seed_plan(argv, message) -> None:
    import argparse

    from vlmctx_eval.experiments.toylab.experiment import add_args, seed_checkpoints

    p = argparse.ArgumentParser()
    add_args(p)
    assert seed_checkpoints(p.parse_args(["--output-path", "o"])) == [
        (0, "toylab"), (1, "o/checkpoints/seed1"), (2, "o/checkpoints/seed2")]  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        seed_checkpoints(p.parse_args(argv))


def _rows(pairs: list[tuple[int, int]], kind: str = "ball", seed: int = 0) -> list[dict]:
    return [{"seed": seed, "checkpoint": "c", "id": f"{kind}-{seed}-{i}", "kind": kind,
             "frames": 32, "answer": "x", "predictions": {},
             "correct": {"default + none": a, "pi + none": b}}
            for i, (a, b) in enumerate(pairs)]  # fmt: skip


def test_stats_cells_and_paired_tests_are_the_hand_computed_ones() -> None:
    from vlmctx_eval.experiments.toylab.stats import analyse, cell, holm, markdown, paired
    from vlmctx_eval.harness.stats import wilson_interval

    # seed 0: 10 questions, stock right on 6, pi right on 2 (pi alone right once, stock alone 5)
    rows = _rows([(1, 0)] * 5 + [(1, 1)] + [(0, 1)] + [(0, 0)] * 3)
    rows += _rows([(1, 1)] * 4 + [(0, 0)] * 6, seed=1)  # seed 1: both right on the same 4
    rows += _rows([(0, 1)] * 10, kind="count")  # not learned: never in the headline
    c = cell(rows, "pi + none", 32, ("ball", "needle", "order"))
    lo, hi = wilson_interval(6, 20)
    assert (c["k"], c["n"], c["acc"]) == (6, 20, 30.0)
    assert c["ci95"] == [round(100 * lo, 1), round(100 * hi, 1)]
    assert c["per_seed"] == {"0": 20.0, "1": 40.0}
    t = paired(rows, "default + none", "pi + none", 32, ("ball",))
    assert (t["n"], t["a_only"], t["b_only"], t["diff"]) == (20, 5, 1, -20.0)
    assert t["test"] == "exact binomial" and t["p"] == pytest.approx(2 * 7 / 64)  # P(X<=1 | 6)
    assert t["diff_per_seed"] == {"0": -40.0, "1": 0.0}
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    doc = analyse(rows)
    assert doc["claims"] == []  # no documented comparison at 32 frames among these two
    (vs,) = doc["vs_stock"]
    assert vs["b"] == "pi + none" and vs["p_holm"] == vs["p"]  # a family of one
    assert doc["cells"]["unlearned"]["pi + none"]["32"]["acc"] == 100.0
    ball_only = analyse(_rows([(1, 0)]))
    assert ball_only["cells"]["unlearned"]["pi + none"]["32"]["n"] == 0
    assert "| pi + none | – |" in markdown(ball_only)  # an empty cell, not a crash


def test_window_result_set_has_its_own_files_title_and_claims(tmp_path) -> None:
    """``vlmctx toylab run --name toylab_window`` results: rebuilt under their own name, with the
    realistic-window claims (each VCWE reading vs stock, and visual vs all)."""
    from vlmctx_eval.experiments.toylab.experiment import add_args
    from vlmctx_eval.experiments.toylab.stats import main, name_of, sentence, write_rows

    labels = ("default + none", "vcwe(apply_to=all) + none", "vcwe(apply_to=visual) + none")
    rows = [{"seed": 0, "checkpoint": "c", "id": f"ball-{i}", "kind": "ball", "frames": 32,
             "answer": "red", "predictions": {lb: "red" for lb in labels},
             "correct": {lb: int(i % (j + 2) == 0) for j, lb in enumerate(labels)}}
            for i in range(12)]  # fmt: skip
    path = tmp_path / "toylab_window_predictions.jsonl.gz"
    write_rows(path, rows)
    assert name_of(path) == "toylab_window" and name_of(tmp_path / "x.jsonl") == "toylab"
    assert main([str(path)]) == 0
    doc = json.loads((tmp_path / "toylab_window.json").read_text())
    assert [c["id"] for c in doc["claims"]] == ["vcwe-all-32", "vcwe-visual-32", "all-vs-visual-32"]
    vis_vs_all = doc["claims"][2]
    assert (vis_vs_all["a"], vis_vs_all["b"]) == (labels[2], labels[1])
    assert (vis_vs_all["acc_a"], vis_vs_all["acc_b"]) == (25.0, 33.3)  # i % 4, i % 3 == 0
    assert vis_vs_all["verdict"] == "not shown"  # 3 vs 2 discordant questions
    assert sentence(vis_vs_all) == (
        "vcwe(apply_to=all) + none vs vcwe(apply_to=visual) + none at 32 frames: 33.3% [14, 61] "
        "vs 25.0% [9, 53], +8.3 points (n = 12 paired questions; 3 right only under the first, 2 "
        "only under the second), McNemar (exact) p = 1, Holm p = 1: no difference shown"
    )
    md = (tmp_path / "toylab_window.md").read_text()
    assert md.startswith("# Toy lab, realistic-window variant")
    assert "experiments.toylab.stats eval/bench/results/toylab_window_predictions.jsonl.gz" in md
    assert not (tmp_path / "toylab.md").exists()
    p = argparse.ArgumentParser()
    add_args(p)
    assert p.parse_args(["--name", "toylab_window"]).name == "toylab_window"
    with pytest.raises(SystemExit):
        p.parse_args(["--name", "../toylab"])


def test_docs_claims_blocks_are_rewritten_from_the_table(tmp_path) -> None:
    """``toylab_stats --docs``: each ``<!-- claims NAME VIEW -->`` block gets the table's claims
    in words; the text around it and blocks of tables without claims stay as they are."""
    from vlmctx_eval.experiments.toylab.stats import main, write_rows

    labels = ("default + none", "vcwe(apply_to=all) + none", "vcwe(apply_to=visual) + none")
    rows = [{"seed": 0, "checkpoint": "c", "id": f"ball-{i}", "kind": "ball", "frames": 32,
             "answer": "red", "predictions": {},
             "correct": {labels[0]: 1, labels[1]: 0, labels[2]: int(i < 20)}}
            for i in range(30)]  # fmt: skip
    write_rows(tmp_path / "toylab_window_predictions.jsonl.gz", rows)
    doc_md = tmp_path / "page.md"
    old = "before\n<!-- claims toylab_window vcwe-all -->\nstale\n<!-- /claims -->\nafter\n"
    keep = "<!-- claims toylab all -->\nuntouched\n<!-- /claims -->\n"
    doc_md.write_text(old + keep)
    pred = str(tmp_path / "toylab_window_predictions.jsonl.gz")
    assert main([pred, "--docs", str(doc_md)]) == 0
    text = doc_md.read_text()
    assert text.startswith("before\n<!-- claims toylab_window vcwe-all -->\n\n*Generated by")
    assert "stale" not in text and text.endswith("<!-- /claims -->\nafter\n" + keep)
    (line,) = [x for x in text.splitlines() if x.startswith("- `")]
    assert line.startswith("- `vcwe-all-32`: vcwe(apply_to=all) + none vs default + none at 32 "
                           "frames: 0.0% [0, 11] vs 100.0% [89, 100], -100.0 points")  # fmt: skip
    assert "McNemar (χ²) p < 1e-4" in line and line.endswith(": lower.")
    assert main([pred, "--docs", str(doc_md)]) == 0 and doc_md.read_text() == text  # idempotent


def test_stats_cli_refuses_what_is_not_a_predictions_file(tmp_path, capsys) -> None:
    from vlmctx_eval.experiments.toylab.stats import main

    bad = tmp_path / "x.jsonl"
    bad.write_text('{"a": 1}\n')
    for path in (bad, tmp_path / "missing.jsonl.gz"):
        assert main([str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_training_seeds_give_independent_replicates(tmp_path) -> None:
    """Same seed, same weights; another seed, other weights (and other training questions)."""
    from safetensors.torch import load_file

    from vlmctx_pipelines.toylab.train import train

    def weights(seed: int, name: str) -> dict:
        args = Namespace(out=str(tmp_path / name), steps=2, batch=2, lr=1e-3, warmup=1,
                         max_frames=4, seed=seed, threads=1, eval_items=1, no_progress=True)  # fmt: skip
        train(args)
        meta = json.loads((tmp_path / name / "vlmctx.json").read_text())
        assert meta["training"]["seed"] == seed and f"--seed {seed}" in meta["command"]
        return load_file(str(tmp_path / name / "model.safetensors"))

    a, b, c = weights(5, "a"), weights(5, "b"), weights(6, "c")
    assert all((a[k] == b[k]).all() for k in a)
    assert any(not (a[k] == c[k]).all() for k in a)


def test_shipped_model_answers_the_sample_video() -> None:
    """The README's first command: the toylab model on the bundled sample gives the right answers."""
    from vlmctx.config import ContextConfig
    from vlmctx.engine import VideoLM
    from vlmctx.runtime.assets import SAMPLE_FACTS, sample_video

    lm = VideoLM.load("toylab", ContextConfig(sampler="fps", sampler_params={"fps": 1.0}))
    ans = lm.ask(sample_video(), "What colour is the ball?", max_new_tokens=4)
    assert ans.text == SAMPLE_FACTS["ball_colour"]
    assert len(ans.frames) == 12


def test_readme_main_command_answers(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vlmctx.cli", "ask", "sample", "What colour is the ball?",
         "--model", "toylab", "--fps", "1", "--no-stream", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["text"] == "red"


def test_experiment_refuses_an_unknown_scheme_before_generating_data(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "vlmctx.cli", "toylab", "run", "--schemes", "default,bogus",
         "--frames", "8", "--per-cell", "1", "--output-path", str(tmp_path / "runs"),
         "--results", str(tmp_path / "res")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 2 and "unknown position scheme 'bogus'" in out.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_run_results_default_outside_the_package() -> None:
    """A user's `vlmctx toylab run` must not overwrite the committed table inside the installed
    package: results default to <output-path>/results."""
    import argparse

    from vlmctx_eval.experiments.toylab.experiment import add_args

    p = argparse.ArgumentParser()
    add_args(p)
    args = p.parse_args([])
    assert args.results is None and args.output_path == "toylab_results"
