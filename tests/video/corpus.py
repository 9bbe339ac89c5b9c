"""The real-world contract corpus: small clips made with the ``ffmpeg`` CLI, as people make them.

Each recipe is one or two ffmpeg command lines (``{src}`` is a 4 s 128x72 H.264 source with a
30-frame GOP and 2 B-frames, ``{out}`` the clip). Clips are written once into pytest's cache
folder (``.pytest_cache/d/vlmctx-corpus/<ffmpeg version>-<recipe hash>/``) and reused by later
sessions. The truth for every clip is what FFmpeg itself presents: ``ffmpeg -f rawvideo -pix_fmt
rgb24`` (all frames, passthrough timing, autorotated), and the frame times, packets and declared
rate that FFmpeg's libraries show, read through PyAV's plain demux/decode loop (what ``ffprobe``
prints: the same libavformat/libavcodec calls; no ffprobe ships with pip).

The ``ffmpeg`` CLI is :func:`ffmpeg_exe`: imageio-ffmpeg's bundled static build (the ``dev``
extra), else the one on PATH; docs/video.md names the reference version.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np


@functools.cache
def ffmpeg_exe() -> str | None:
    """The reference ``ffmpeg`` CLI: imageio-ffmpeg's bundled binary (``pip install
    "vlmctx[dev]"``), else ``ffmpeg`` on PATH; None when neither exists."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def _ffmpeg() -> str:
    exe = ffmpeg_exe()
    if exe is None:
        raise RuntimeError(
            'no ffmpeg: pip install "vlmctx[dev]" (imageio-ffmpeg) or put one on PATH'
        )
    return exe


FFMPEG = ("-v", "error", "-nostdin", "-y")
SRC_ARGS = "-f lavfi -i testsrc2=size=128x72:rate=25:duration=4 -c:v libx264 -g 30 -keyint_min 30 "
SRC_ARGS += "-sc_threshold 0 -bf 2 -pix_fmt yuv420p"
LAVFI = "-f lavfi -i testsrc2=size={size}:rate=25:duration=2"
TS = "-i {src} -c copy -f mpegts {out}"  # the same bytes as the "mpegts" clip (the muxer is
# deterministic), so the cut clips below can be compared packet by packet with the whole one
TS_CUTS = {"mpegts_midstart": (0.3, None), "mpegts_truncated": (None, 0.6)}  # kept byte range

# name -> (file name, ffmpeg argument lines, what it exercises). Arguments are split on spaces.
RECIPES: dict[str, tuple[str, list[str], str]] = {
    "trim_copy_mp4": (
        "trim.mp4",
        ["-ss 1.3 -i {src} -t 2 -c copy {out}"],
        "stream-copy trim starting inside a GOP: edit list, 3 discarded packets",
    ),
    "trim_copy_offset_mp4": (
        "neg.mp4",
        ["-itsoffset -0.5 -i {src} -c copy {out}"],
        "negative input offset: edit list hides the first 0.5 s",
    ),
    "trim_copy_mkv": (
        "trim.mkv",
        ["-ss 1.3 -i {src} -t 2 -c copy {out}"],
        "the same trim into Matroska: no edit list, pre-roll frames presented",
    ),
    "trim_copy_noeditlist": (
        "noedit.mp4",
        ["-ss 1.3 -i {src} -t 2 -c copy -use_editlist 0 {out}"],
        "trim written without an edit list: first PTS 0.08 s",
    ),
    "last_packet_discarded": (
        "short_elst.mp4",
        ["-i {src} -c copy {out}"],
        "edit list one frame shorter than the media (patched): 100 vs 99",
    ),
    "open_gop_h264": (
        "opengop.mp4",
        [
            LAVFI.format(size="128x72") + " -c:v libx264 -x264-params "
            "keyint=15:min-keyint=15:scenecut=0:open-gop=1:bframes=3 {out}"
        ],
        "open-GOP H.264, 3 B-frames",
    ),
    "bframe_delay": (
        "bdelay.mp4",
        ["-i {src} -c copy -use_editlist 0 {out}"],
        "B-frame delay without edit list: first PTS 0.08 s, not 0",
    ),
    "vfr_mp4": (
        "vfr.mp4",
        [
            LAVFI.format(size="128x72") + " -vf setpts=(N+floor(N/4)*0.7)/25/TB "
            "-fps_mode vfr -c:v libx264 -bf 2 {out}"
        ],
        "variable frame rate MP4",
    ),
    "vfr_mkv": (
        "vfr.mkv",
        [
            LAVFI.format(size="128x72") + " -vf setpts=(N+floor(N/4)*0.7)/25/TB "
            "-fps_mode vfr -c:v libx264 -bf 2 {out}"
        ],
        "variable frame rate Matroska",
    ),
    "hevc_10bit": (
        "hevc10.mp4",
        [
            LAVFI.format(size="128x72") + " -c:v libx265 -x265-params "
            "log-level=error -pix_fmt yuv420p10le -tag:v hvc1 {out}"
        ],
        "HEVC Main10",
    ),
    "vp9_webm": (
        "vp9.webm",
        [
            LAVFI.format(size="128x72") + " -c:v libvpx-vp9 -deadline realtime "
            "-cpu-used 8 -b:v 200k {out}"
        ],
        "VP9 in WebM",
    ),
    "av1": ("av1.mp4", [LAVFI.format(size="128x72") + " -c:v libsvtav1 -preset 12 {out}"], "AV1"),
    "rotate_90": ("rot90.mp4", ["-display_rotation:v:0 90 -i {src} -c copy {out}"], "rotation 90"),
    "rotate_180": ("rot180.mp4", ["-display_rotation:v:0 180 -i {src} -c copy {out}"], "180"),
    "rotate_270": ("rot270.mp4", ["-display_rotation:v:0 270 -i {src} -c copy {out}"], "270"),
    "odd_size_yuv444": (
        "odd444.mp4",
        [
            LAVFI.format(size="128x72")
            + " -vf format=yuv444p,crop=97:61:3:5 -c:v libx264 -pix_fmt yuv444p {out}"
        ],
        "97x61 in yuv444p (High 4:4:4)",
    ),
    "gif": ("anim.gif", ["-f lavfi -i testsrc2=size=96x64:rate=10:duration=2 -f gif {out}"], "GIF"),
    "two_video_streams": (
        "two.mp4",
        [
            LAVFI.format(size="64x48")
            + " "
            + LAVFI.format(size="128x72")
            + " -map 0 -map 1 -c:v libx264 -pix_fmt yuv420p {out}"
        ],
        "two video streams (64x48 first, 128x72 second): the first is read",
    ),
    "mpegts": ("clip.ts", [TS], "MPEG-TS (stream copy): no index, PTS start at 1.48 s"),
    "m2ts": (
        "clip.mts",
        ["-i {src} -c copy -f mpegts -mpegts_m2ts_mode 1 {out}"],
        "M2TS / AVCHD .mts: 192-byte packets, no index",
    ),
    "mpegts_open_gop": (
        "opengop.ts",
        [
            LAVFI.format(size="128x72") + " -c:v libx264 -x264-params "
            "keyint=15:min-keyint=15:scenecut=0:open-gop=1:bframes=3 -f mpegts {out}"
        ],
        "open-GOP H.264 in MPEG-TS, as broadcast streams are",
    ),
    "mpegts_midstart": (
        "midstart.ts",
        [TS],
        "a .ts that starts mid-GOP (a capture joined late): first 30% of the bytes cut off",
    ),
    "mpegts_truncated": (
        "trunc.ts",
        [TS],
        "a .ts cut short inside a frame (a download that stopped): last 40% of the bytes cut off",
    ),
    "raw_h264": (
        "raw.h264",
        ["-i {src} -c copy -bsf:v h264_mp4toannexb -f h264 {out}"],
        "raw H.264 elementary stream: no container, no timestamps",
    ),
    "still_png_as_mp4": (
        "still.mp4",
        [LAVFI.format(size="128x72") + " -frames:v 1 -f image2 -c:v png {out}"],
        "a PNG renamed .mp4: accepted as one frame",
    ),
}
NEEDS_ENCODER = {"av1": "libsvtav1", "hevc_10bit": "libx265", "vp9_webm": "libvpx-vp9"}


def ffmpeg_version() -> str:
    out = subprocess.run([_ffmpeg(), "-version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[2]


def has_encoder(name: str) -> bool:
    out = subprocess.run([_ffmpeg(), "-v", "error", "-encoders"], capture_output=True, text=True)
    return any(line.split()[1:2] == [name] for line in out.stdout.splitlines() if line.strip())


def build(root: Path) -> dict[str, Path | str]:
    """Make every clip under ``root`` (kept if already there); name -> path, or a skip reason."""
    key = hashlib.sha256(json.dumps([RECIPES, SRC_ARGS]).encode()).hexdigest()[:12]
    folder = root / f"{ffmpeg_version()}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "src.mp4"
    if not src.exists():
        _run(SRC_ARGS.split() + [str(src)], src)
    clips: dict[str, Path | str] = {}
    for name, (fname, lines, _) in RECIPES.items():
        enc = NEEDS_ENCODER.get(name)
        if enc and not has_encoder(enc):
            clips[name] = f"the local ffmpeg has no {enc} encoder"
            continue
        out = folder / fname
        if not out.exists():
            tmp = folder / f"tmp-{fname}"
            for line in lines:
                args = [a.format(src=src, out=tmp) for a in line.split()]
                _run(args, tmp)
            if name == "last_packet_discarded":
                shorten_edit_list(tmp, frames=1, fps=25)
            if name in TS_CUTS:
                cut_bytes(tmp, *TS_CUTS[name])
            shutil.move(tmp, out)
        clips[name] = out
    return clips


def _run(args: list[str], out: Path) -> None:
    proc = subprocess.run([_ffmpeg(), *FFMPEG, *args], capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr[-500:]}")


def shorten_edit_list(path: Path, frames: int, fps: int) -> None:
    """Cut ``frames`` off the end of the MP4's (version 0, one-entry) edit list, as a muxer does
    that drops the last frame's duration: the demuxer then flags the last packet discard."""
    data = bytearray(path.read_bytes())
    mvhd = data.index(b"mvhd")
    timescale = struct.unpack(">I", data[mvhd + 16 : mvhd + 20])[0]
    elst = data.index(b"elst")
    assert data[elst + 4] == 0 and struct.unpack(">I", data[elst + 8 : elst + 12])[0] == 1
    duration = struct.unpack(">I", data[elst + 12 : elst + 16])[0]
    data[elst + 12 : elst + 16] = struct.pack(">I", duration - frames * timescale // fps)
    path.write_bytes(bytes(data))


def cut_bytes(path: Path, head: float | None, tail: float | None) -> None:
    """Keep the bytes of ``path`` from ``head`` (a fraction of its size, rounded down to a
    188-byte TS packet, so the demuxer resyncs at once) to ``tail`` (a fraction, plus 77 bytes so
    the cut falls inside a TS packet, as a stopped download's does)."""
    data = path.read_bytes()
    start = int(len(data) * head) // 188 * 188 if head else 0
    end = int(len(data) * tail) + 77 if tail else len(data)
    path.write_bytes(data[start:end])


def packets(path: Path) -> dict[int, int]:
    """Raw pts -> size of every packet of the first video stream (``ffprobe -show_packets``)."""
    import av

    with av.open(str(path)) as c:
        return {int(p.pts): p.size for p in c.demux(c.streams.video[0]) if p.pts is not None}


def frame_rate(path: Path) -> float:
    """The first video stream's declared rate (``avg_frame_rate``, the "25 fps" ffmpeg prints),
    e.g. 25.0. Not ``r_frame_rate``: FFmpeg 9 reports a raw H.264 stream's field rate there (50)."""
    import av

    with av.open(str(path)) as c:
        return float(c.streams.video[0].average_rate)


def ffmpeg_frames(path: Path, height: int, width: int) -> np.ndarray:
    """Every frame FFmpeg presents, as it presents it: (t, h, w, 3) uint8 RGB, upright."""
    cmd = [_ffmpeg(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0"]
    cmd += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)  # (t, h, w, 3)


def ffprobe_times(path: Path) -> np.ndarray:
    """Presentation time (s) of every frame FFmpeg decodes from the first video stream, as
    ``ffprobe -show_entries frame=pts_time`` prints it; NaN where there is none (a raw
    elementary stream's frames)."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        tb = stream.time_base
        times = [np.nan if f.pts is None else float(f.pts * tb) for f in c.decode(stream)]
    return np.array(times, dtype=np.float64)
