"""Charades-STA videos as the 480p archive unpacks (``Charades_v1_480/``)."""

from vlmctx_eval.tasks.charades_sta.release import find_video


def test_release_folder_and_extensions(tmp_path):
    (tmp_path / "Charades_v1_480").mkdir()
    (tmp_path / "Charades_v1_480" / "AO8RW.mp4").write_bytes(b"x")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "3MSZA.MP4").write_bytes(b"x")
    assert find_video(str(tmp_path), "AO8RW") == str(tmp_path / "Charades_v1_480" / "AO8RW.mp4")
    assert find_video(str(tmp_path), "3MSZA") == str(tmp_path / "videos" / "3MSZA.MP4")
    assert find_video(str(tmp_path), "NOPE0") is None
