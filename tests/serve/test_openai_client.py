"""The real `openai` client against a live `vlmctx serve` app with the shipped toylab model:
answers equal `vlmctx ask`'s, streamed and not; media by path, URL, base64 and image; vlmctx
options through the extra body; concurrent answers equal sequential ones; /v1/models, /health,
/metrics; the memory planner's refusal."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.serve.conftest import KEY, QUESTION, Media, running, settings_for, video_message

openai = pytest.importorskip("openai", reason="the tests' client: pip install 'vlmctx[serve]'")
MODEL = "toylab"


@pytest.fixture(scope="module")
def lm():
    from vlmctx.engine import VideoLM

    return VideoLM.load(MODEL, device="cpu")


@pytest.fixture(scope="module")
def base(lm, media: Media) -> Iterator[str]:
    from vlmctx_serve.app import create_app

    with running(create_app(lm, settings_for(media, MODEL))) as url:
        yield url


@pytest.fixture(scope="module")
def client(base: str):
    return openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=120)


def ask_cli(video: str, question: str, *flags: str) -> dict:
    """`vlmctx ask --json` run through the real command line, in this process."""
    import contextlib
    import io

    from vlmctx.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["ask", video, question, "--model", MODEL, "--device", "cpu", "--json",
                     *flags])  # fmt: skip
    assert code == 0
    return json.loads(out.getvalue())


def streamed(client, **kw) -> tuple[str, list]:  # noqa: ANN001
    chunks = list(client.chat.completions.create(model=MODEL, stream=True, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def test_answers_equal_vlmctx_ask_streamed_and_not(client, media: Media) -> None:
    expected = ask_cli(str(media.clip), QUESTION)
    msgs = video_message(str(media.clip))
    plain = client.chat.completions.create(model=MODEL, messages=msgs)
    assert plain.choices[0].message.content == expected["text"]
    assert plain.choices[0].finish_reason == "stop"
    assert plain.usage.prompt_tokens == expected["total_tokens"]
    assert plain.usage.completion_tokens == expected["new_tokens"]
    facts = plain.model_extra["vlmctx"]
    assert [[f["index"], f["time_s"]] for f in facts["frames"]] == expected["frames"]
    assert facts["visual_tokens"] == expected["visual_tokens"]
    assert facts["config"] == expected["config"]
    assert facts["prefix_cache"] in {"hit", "miss"}  # the engine's prefix cache (issue 28)
    text, chunks = streamed(client, messages=msgs, stream_options={"include_usage": True})
    assert text.strip() == expected["text"]
    assert chunks[0].choices[0].delta.role == "assistant"
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(final) == 1 and final[0].model_extra["vlmctx"]["visual_tokens"] == 16
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == expected["new_tokens"]


def test_stream_ends_with_done_over_raw_sse(base: str, media: Media) -> None:
    body = {"model": MODEL, "messages": video_message(str(media.clip)), "stream": True}
    with httpx.stream("POST", base + "/v1/chat/completions", json=body, timeout=120,
                      headers={"Authorization": f"Bearer {KEY}"}) as r:  # fmt: skip
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]" and events.count("data: [DONE]") == 1
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


def test_media_by_url_base64_and_image(client, media: Media) -> None:
    want = client.chat.completions.create(model=MODEL, messages=video_message(str(media.clip)))
    text = want.choices[0].message.content
    for url in (
        media.clip.as_uri(),  # file://
        "clip.mp4",  # relative: read from the allowed folder
        media.allowed_host + "/clip.mp4",
        media.allowed_host + "/to-same",  # a redirect on the same host is followed
        "data:video/mp4;base64," + base64.b64encode(media.clip.read_bytes()).decode(),
    ):
        got = client.chat.completions.create(model=MODEL, messages=video_message(url))
        assert got.choices[0].message.content == text, url[:40]
    png = "data:image/png;base64," + base64.b64encode(media.image.read_bytes()).decode()
    for url in (png, str(media.image)):
        got = client.chat.completions.create(model=MODEL,
                                             messages=video_message(url, kind="image_url"))  # fmt: skip
        assert len(got.model_extra["vlmctx"]["frames"]) == 1
        assert got.model_extra["vlmctx"]["medium"]["kind"] == "image"


def test_vlmctx_options_go_through_the_registries(client, media: Media) -> None:
    msgs = video_message(str(media.clip))
    expected = ask_cli(str(media.clip), QUESTION, "--frames", "8", "--position", "vcwe")
    got = client.chat.completions.create(model=MODEL, messages=msgs,
                                         extra_body={"frames": 8, "position": "vcwe"})  # fmt: skip
    facts = got.model_extra["vlmctx"]
    assert len(facts["frames"]) == 8 and facts["config"] == expected["config"]
    assert got.choices[0].message.content == expected["text"]
    got = client.chat.completions.create(model=MODEL, messages=msgs,
                                         extra_body={"fps": 0.5})  # fmt: skip
    assert got.model_extra["vlmctx"]["config"]["sampler"] == "fps"
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model=MODEL, messages=msgs, extra_body={"pooling": "progresive"}
        )
    assert "Did you mean 'progressive'" in exc.value.body["message"]
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL, messages=msgs,
                                       extra_body={"sampler_args": {"nn": 4}})  # fmt: skip
    assert "nn" in exc.value.body["message"]
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL, messages=msgs, extra_body={"framse": 8})
    assert "did you mean 'frames'" in exc.value.body["message"]


def test_history_and_system_messages(client, lm, media: Media) -> None:
    from vlmctx.engine import load_frames

    msgs = video_message(str(media.clip)) + [
        {"role": "assistant", "content": "red"},
        {"role": "user", "content": "And the background?"},
    ]
    got = client.chat.completions.create(model=MODEL, messages=msgs)
    frames = load_frames(str(media.clip), lm.config)
    want = lm.ask(frames, "And the background?", history=[(QUESTION, "red")])
    assert got.choices[0].message.content == want.text
    sys_msgs = [{"role": "system", "content": "Be brief."}, *video_message(str(media.clip))]
    got = client.chat.completions.create(model=MODEL, messages=sys_msgs)
    want = lm.ask(frames, "Be brief.\n\n" + QUESTION)
    assert got.choices[0].message.content == want.text
    assert got.model_extra["vlmctx"]["system_prompt"] == "prepended to the first user message"


def test_concurrent_answers_equal_sequential(client, media: Media) -> None:
    jobs = [(q, n) for q in (QUESTION, "What shape is the object?", "Where is the ball?")
            for n in (4, 8)]  # fmt: skip

    def one(job: tuple[str, int]) -> str:
        q, n = job
        r = client.chat.completions.create(model=MODEL, messages=video_message(str(media.clip), q),
                                           extra_body={"frames": n})  # fmt: skip
        return r.choices[0].message.content

    sequential = [one(j) for j in jobs]
    results: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, one(jobs[i])))
               for i in range(len(jobs))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [results[i] for i in range(len(jobs))] == sequential


def test_models_health_and_metrics(base: str, client, media: Media) -> None:
    client.chat.completions.create(model=MODEL, messages=video_message(str(media.clip)))
    assert [m.id for m in client.models.list()] == [MODEL]
    assert httpx.get(base + "/health").json() == {"status": "ok", "model": MODEL}  # no key needed
    text = httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    ok = re.search(r'vlmctx_requests_total\{path="/v1/chat/completions",status="200"\} (\S+)', text)
    assert ok and float(ok[1]) >= 1
    for name in ("vlmctx_request_latency_seconds_bucket", "vlmctx_time_to_first_token_seconds_count",
                 "vlmctx_completion_tokens_total", "vlmctx_prompt_tokens_total",
                 "vlmctx_queue_depth", "vlmctx_requests_running",
                 "process_resident_memory_bytes"):  # fmt: skip
        assert name in text, name
    assert "vlmctx_queue_depth 0.0" in text


def test_planner_refuses_an_over_budget_request_with_the_plan(lm, media: Media) -> None:
    from vlmctx_serve.app import create_app

    settings = settings_for(media, MODEL, max_memory=1 << 20, max_frames=64)
    with running(create_app(lm, settings)) as url:
        c = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
        msgs = video_message(str(media.clip))
        with pytest.raises(openai.APIStatusError) as exc:
            c.chat.completions.create(model=MODEL, messages=msgs)
        assert exc.value.status_code == 413
        plan = exc.value.body["plan"]
        assert plan["frames"] == 16 and plan["visual_tokens"] == 16
        assert plan["peak_prefill_bytes"] > 1 << 20
        with pytest.raises(openai.BadRequestError, match="--max-frames"):
            c.chat.completions.create(model=MODEL, messages=msgs, extra_body={"frames": 65})
