"""H.264 repeats, the pure parts: bits, headers, the plan (streamer.export.h264)."""

from __future__ import annotations

import random

import av
import pytest

from streamer.export import h264
from streamer.export.formats import X264_PARAMS

SPS = h264.SPS(
    sps_id=0, log2_max_frame_num=4, poc_type=0, log2_max_poc_lsb=7, max_num_ref_frames=4, width_mbs=8, height_mbs=12
)


def test_bits_round_trip_through_the_writer_and_reader():
    rng = random.Random(7)
    fields: list[tuple[str, int, int]] = []
    for _ in range(40):
        n = rng.randrange(1, 20)
        fields += [
            ("u", n, rng.randrange(1 << n)),
            ("ue", 0, rng.randrange(5000)),
            ("se", 0, rng.randrange(-2500, 2500)),
        ]
    w = h264._Writer()
    for kind, n, value in fields:
        w.u(n, value) if kind == "u" else getattr(w, kind)(value)
    r = h264._Reader(w.rbsp())
    assert [r.u(n) if kind == "u" else getattr(r, kind)() for kind, n, _ in fields] == [v for _, _, v in fields]
    assert r.u(1) == 1  # rbsp_trailing_bits


def test_escaping_round_trips_and_leaves_no_start_code_inside():
    rbsp = bytes([0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0])
    escaped = h264._escape(rbsp)
    assert b"\x00\x00\x00" not in escaped and b"\x00\x00\x01" not in escaped and b"\x00\x00\x02" not in escaped
    assert h264._unescape(escaped) == rbsp
    assert h264.nal_units(h264.annex_b([b"\x67" + escaped, b"\x68\x01"])) == [b"\x67" + escaped, b"\x68\x01"]


def _keys(steps: list[h264.Step]) -> list[tuple[str, bool]]:
    return [(s.key, s.encode) for s in steps]


def test_plan_repeats_a_key_only_while_it_is_among_the_last_references():
    pictures = [(i, key, 1) for i, key in enumerate("abacadeab")]
    steps = h264.plan(pictures, references=3, keyframe_interval=100, max_run=16)
    # a b a(rep) c a(rep: a, b, c held) d (a, b, c, d: b drops) e (c, d, e: a drops) a(new) b(new)
    assert _keys(steps) == [
        ("a", True),
        ("b", True),
        ("a", False),
        ("c", True),
        ("a", False),
        ("d", True),
        ("e", True),
        ("a", True),
        ("b", True),
    ]
    assert steps[2].source == 0 and steps[4].source == 0  # the step that encoded "a"
    assert [s.poc for s in steps] == list(range(9))
    assert [s.keyframe for s in steps] == [True] + [False] * 8


def test_plan_uses_the_newest_encode_of_a_key_and_puts_keyframes_on_encoded_pictures():
    # max_run 1: the second "a" in a row after a repeat is encoded again; the third repeats that newer encode.
    steps = h264.plan([(i, k, 1) for i, k in enumerate("abbaa")], references=4, keyframe_interval=100, max_run=1)
    assert _keys(steps) == [("a", True), ("b", True), ("b", False), ("a", True), ("a", False)]
    assert [s.source for s in steps] == [None, None, 1, None, 3]
    # Keyframes every 3 encoded pictures. A repeat due after the third stays a repeat; the next
    # encoded picture is the keyframe, and the window starts again there (so "a" is encoded anew).
    steps = h264.plan([(i, k, 1) for i, k in enumerate("ababcaab")], references=4, keyframe_interval=3, max_run=16)
    assert _keys(steps) == [
        ("a", True),
        ("b", True),
        ("a", False),
        ("b", False),
        ("c", True),
        ("a", False),
        ("a", False),
        ("b", False),
    ]
    steps = h264.plan([(i, k, 1) for i, k in enumerate("abcdab")], references=4, keyframe_interval=3, max_run=16)
    assert _keys(steps) == [("a", True), ("b", True), ("c", True), ("d", True), ("a", True), ("b", True)]
    assert [s.keyframe for s in steps] == [True, False, False, True, False, False]
    assert [s.poc for s in steps] == [0, 1, 2, 0, 1, 2]


def test_plan_never_repeats_more_than_max_run_in_a_row_and_keeps_durations():
    pictures = [(i * 2, key, 2) for i, key in enumerate("ab" + "ab" * 5)]
    steps = h264.plan(pictures, references=4, keyframe_interval=100, max_run=3)
    assert [s.encode for s in steps] == [True, True, False, False, False, True, False, False, False, True, False, False]
    assert [s.index for s in steps] == [i * 2 for i in range(12)] and {s.duration for s in steps} == {2}
    runs = list(h264.encoded_runs(steps))
    assert [(current.index, [r.index for r in repeats]) for current, repeats in runs] == [
        (0, []),
        (2, [4, 6, 8]),
        (10, [12, 14, 16]),
        (18, [20, 22]),
    ]


def test_repeat_slice_reads_back_as_a_non_reference_p_picture_of_the_repeat_pps():
    pps = h264.parse_pps(h264.repeat_pps(SPS))
    assert (pps.pps_id, pps.sps_id, pps.cabac, pps.weighted_pred) == (h264.REPEAT_PPS_ID, 0, False, False)
    nal = h264.repeat_slice(SPS, frame_num=17, ref_frame_num=14, poc=130)
    header = h264.parse_slice(nal, SPS, {pps.pps_id: pps})
    assert (header.idr, header.reference, header.slice_type) == (False, False, 0)
    assert header.frame_num == 17 % 16 and header.poc_lsb == 130 % 128
    # The reference list modification: abs_diff_pic_num_minus1 = 17 - 14 - 1, then mb_skip_run = every macroblock.
    r = h264._Reader(h264._unescape(nal[1:]))
    r.pos = header.poc_bit + 7
    assert [r.u(1), r.ue(), r.u(1), r.ue(), r.ue(), r.ue(), r.se(), r.ue(), r.ue()] == [1, 0, 1, 0, 2, 3, 0, 1, 96]
    # frame_num wraps: frame 15 is earlier than frame 1 (17 mod 16).
    assert h264.parse_slice(h264.repeat_slice(SPS, 17, 15, 4), SPS, {1: pps}).frame_num == 1
    with pytest.raises(h264.StreamError, match="not an earlier reference"):
        h264.repeat_slice(SPS, frame_num=3, ref_frame_num=3, poc=0)


def test_set_poc_changes_only_the_picture_order_count():
    pps = h264.parse_pps(h264.repeat_pps(SPS))
    nal = h264.repeat_slice(SPS, 5, 2, 10)
    before = h264.parse_slice(nal, SPS, {1: pps})
    for poc in (0, 1, 127, 128 + 90):
        after = h264.parse_slice(h264.set_poc(nal, before, SPS, poc), SPS, {1: pps})
        assert after.poc_lsb == poc % 128
        assert (after.frame_num, after.slice_type, after.reference) == (before.frame_num, 0, False)


def test_headers_of_x264_with_our_settings_parse_and_a_slice_that_marks_references_itself_is_refused():
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 64, 96, "yuv420p"
    ctx.time_base = ctx.framerate = 24
    ctx.options = {"preset": "ultrafast", "x264-params": X264_PARAMS}
    ctx.flags |= av.codec.context.Flags.global_header
    ctx.open()
    units = h264.nal_units(ctx.extradata)
    (sps_nal,) = [u for u in units if u[0] & 0x1F == h264.NAL_SPS]
    (pps_nal,) = [u for u in units if u[0] & 0x1F == h264.NAL_PPS]
    sps, pps = h264.parse_sps(sps_nal), h264.parse_pps(pps_nal)
    assert (sps.width_mbs, sps.height_mbs, sps.poc_type, sps.max_num_ref_frames) == (4, 6, 0, 16)
    assert sps.log2_max_poc_lsb == 6 and pps.cabac  # 16 repeats in a row
    # A reference P slice with adaptive_ref_pic_marking_mode_flag set.
    w = h264._Writer()
    w.ue(0), w.ue(5), w.ue(pps.pps_id)
    w.u(sps.log2_max_frame_num, 1)
    w.u(sps.log2_max_poc_lsb, 2)
    w.u(1, 0), w.u(1, 0)  # no override, no list modification
    w.u(1, 1)  # adaptive marking
    with pytest.raises(h264.StreamError, match="adaptive marking"):
        h264.parse_slice(b"\x61" + h264._escape(w.rbsp()), sps, {pps.pps_id: pps})
