"""H.264 repeats: show a picture the decoder still holds again for a few bytes, instead of encoding it (pure).

A talking character cycles through a few pictures: the benchmark's 20 s timeline changes
picture 277 times but shows only 89 distinct ones, and most changes go back to a picture shown
a moment ago. H.264 lets a frame copy a reference picture whole: a P slice whose macroblocks
are all skipped (``mb_skip_run`` = every macroblock, zero motion) after a reference list
modification that puts the wanted picture first. Such a frame is about ten bytes and costs
the encoder nothing, so x264 encodes only the pictures the decoder does not hold, and a
repeat shows exactly the picture x264 made the first time.

How the stream is put together (ITU-T H.264 sections named where they apply):

- x264 encodes every frame it is sent as a reference P frame (forced types; its IDR frames are
  forced too, where :func:`plan` puts them), so its reference buffer is a sliding window of its
  last ``max_num_ref_frames`` frames since the last IDR (8.2.5.3), which :func:`plan` follows.
  x264 is set up with B-frames allowed, never used, so that its SPS carries picture order
  counts in slice headers (``pic_order_cnt_type`` 0), which a repeat needs: repeats sit between
  x264's frames in output order, so every slice's ``pic_order_cnt_lsb`` is rewritten in place to
  the picture's place since the IDR (steps of one: a frame's picture order count need not be
  even, 8.2.1.1, and one bit more of range allows twice as many repeats in a row).
- Repeats are non-reference pictures (``nal_ref_idc`` 0): they leave the reference buffer and
  ``frame_num`` as x264 knows them. They use a PPS of their own (:func:`repeat_pps`, CAVLC:
  the skip run is one Exp-Golomb number, where CABAC would need an arithmetic coder).
- Anything x264 writes that breaks these assumptions (a slice with memory management
  operations, more than one slice per picture, fields) raises :class:`StreamError`, never a
  silently wrong picture.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "NAL_IDR",
    "NAL_PPS",
    "NAL_SLICE",
    "NAL_SPS",
    "PPS",
    "REPEAT_PPS_ID",
    "SPS",
    "SliceHeader",
    "Step",
    "StreamError",
    "annex_b",
    "encoded_runs",
    "nal_units",
    "parse_pps",
    "parse_slice",
    "parse_sps",
    "plan",
    "repeat_pps",
    "repeat_slice",
    "set_poc",
]

NAL_SLICE, NAL_IDR, NAL_SPS, NAL_PPS = 1, 5, 7, 8
REPEAT_PPS_ID = 1
_START_CODE = re.compile(b"\x00\x00\x01")
_NEEDS_ESCAPE = re.compile(b"\x00\x00(?=[\x00-\x03])")
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


class StreamError(ValueError):
    """x264 wrote something the repeats cannot be spliced into."""


# -- NAL units and bits --------------------------------------------------------------------


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of Annex B ``data`` (start codes removed, trailing zero bytes kept off)."""
    starts = [m.end() for m in _START_CODE.finditer(data)]
    units = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        units.append(data[start:end].rstrip(b"\x00"))
    return [unit for unit in units if unit]


def annex_b(units: Sequence[bytes]) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in units)


def _unescape(payload: bytes) -> bytes:
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    escaped = _NEEDS_ESCAPE.sub(b"\x00\x00\x03", rbsp)
    return escaped + b"\x03" if escaped.endswith(b"\x00") else escaped


class _Reader:
    """Reads bits from an RBSP, most significant first (7.2)."""

    def __init__(self, rbsp: bytes) -> None:
        self.bits = int.from_bytes(rbsp, "big")
        self.size = len(rbsp) * 8
        self.pos = 0

    def u(self, n: int) -> int:
        if self.pos + n > self.size:
            raise StreamError("a header ends early")
        self.pos += n
        return (self.bits >> (self.size - self.pos)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise StreamError("an Exp-Golomb code is too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


class _Writer:
    def __init__(self) -> None:
        self.value = 0
        self.size = 0

    def u(self, n: int, value: int) -> None:
        self.value = (self.value << n) | (value & ((1 << n) - 1))
        self.size += n

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def rbsp(self) -> bytes:
        """The bits with ``rbsp_trailing_bits`` (a one, then zeros to the byte)."""
        self.u(1, 1)
        pad = -self.size % 8
        return (self.value << pad).to_bytes((self.size + pad) // 8, "big")


# -- parameter sets and slice headers ------------------------------------------------------


@dataclass(frozen=True)
class SPS:
    sps_id: int
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    max_num_ref_frames: int
    width_mbs: int
    height_mbs: int

    @property
    def macroblocks(self) -> int:
        return self.width_mbs * self.height_mbs


@dataclass(frozen=True)
class PPS:
    pps_id: int
    sps_id: int
    cabac: bool
    bottom_field_poc: bool
    redundant_pic_cnt: bool
    weighted_pred: bool


def parse_sps(nal: bytes) -> SPS:
    """The fields of a sequence parameter set NAL unit that splicing needs (7.3.2.1.1)."""
    r = _Reader(_unescape(nal[1:]))
    profile = r.u(8)
    r.u(16)  # constraint flags, level
    sps_id = r.ue()
    if profile in _HIGH_PROFILES:
        if r.ue() == 3:  # chroma_format_idc
            r.u(1)
        r.ue(), r.ue(), r.u(1)  # bit depths, transform bypass
        if r.u(1):
            raise StreamError("the SPS has scaling matrices")
    log2_max_frame_num = r.ue() + 4
    poc_type = r.ue()
    log2_max_poc_lsb = r.ue() + 4 if poc_type == 0 else 0
    if poc_type == 1:
        raise StreamError("picture order count type 1 is not supported")
    max_num_ref_frames = r.ue()
    r.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs, height_units = r.ue() + 1, r.ue() + 1
    if not r.u(1):
        raise StreamError("the stream is interlaced")
    return SPS(sps_id, log2_max_frame_num, poc_type, log2_max_poc_lsb, max_num_ref_frames, width_mbs, height_units)


def parse_pps(nal: bytes) -> PPS:
    """The fields of a picture parameter set NAL unit that slice headers depend on (7.3.2.2)."""
    r = _Reader(_unescape(nal[1:]))
    pps_id, sps_id = r.ue(), r.ue()
    cabac, bottom_field_poc = bool(r.u(1)), bool(r.u(1))
    if r.ue():
        raise StreamError("the PPS has slice groups")
    r.ue(), r.ue()  # default active references
    weighted_pred = bool(r.u(1))
    r.u(2)
    r.se(), r.se(), r.se()  # initial QP, QS, chroma QP offset
    r.u(1), r.u(1)  # deblocking control, constrained intra
    redundant_pic_cnt = bool(r.u(1))
    return PPS(pps_id, sps_id, cabac, bottom_field_poc, redundant_pic_cnt, weighted_pred)


def repeat_pps(sps: SPS, pps_id: int = REPEAT_PPS_ID) -> bytes:
    """The PPS repeats use: CAVLC, one active reference, no weighted prediction, no deblocking needed."""
    w = _Writer()
    w.ue(pps_id)
    w.ue(sps.sps_id)
    w.u(1, 0)  # entropy_coding_mode_flag: CAVLC
    w.u(1, 0)  # bottom_field_pic_order_in_frame_present_flag
    w.ue(0)  # num_slice_groups_minus1
    for _ in range(2):
        w.ue(0)  # num_ref_idx_l0/l1_default_active_minus1
    w.u(1, 0)  # weighted_pred_flag
    w.u(2, 0)  # weighted_bipred_idc
    for _ in range(3):
        w.se(0)  # pic_init_qp_minus26, pic_init_qs_minus26, chroma_qp_index_offset
    w.u(1, 1)  # deblocking_filter_control_present_flag
    w.u(1, 0)  # constrained_intra_pred_flag
    w.u(1, 0)  # redundant_pic_cnt_present_flag
    return bytes([0x68]) + _escape(w.rbsp())  # nal_ref_idc 3, type 8


@dataclass(frozen=True)
class SliceHeader:
    idr: bool
    reference: bool
    first_mb: int
    slice_type: int
    frame_num: int
    poc_lsb: int
    poc_bit: int  # where pic_order_cnt_lsb starts in the RBSP (the NAL header byte left out)


def parse_slice(nal: bytes, sps: SPS, pps_by_id: dict[int, PPS]) -> SliceHeader:
    """A slice header up to its reference marking (7.3.3); raises if it marks references itself."""
    nal_type, reference = nal[0] & 0x1F, bool(nal[0] & 0x60)
    r = _Reader(_unescape(nal[1:64]))
    first_mb, slice_type = r.ue(), r.ue() % 5
    pps = pps_by_id.get(r.ue())
    if pps is None:
        raise StreamError("a slice names an unknown PPS")
    frame_num = r.u(sps.log2_max_frame_num)
    if nal_type == NAL_IDR:
        r.ue()  # idr_pic_id
    if sps.poc_type != 0:
        raise StreamError("slice headers carry no picture order count (set B-frames on)")
    poc_bit = r.pos
    poc_lsb = r.u(sps.log2_max_poc_lsb)
    if pps.bottom_field_poc:
        r.se()
    if pps.redundant_pic_cnt:
        r.ue()
    if slice_type == 1:
        raise StreamError("x264 wrote a B slice")
    if slice_type in (0, 3):  # P, SP
        if r.u(1):
            r.ue()
        if r.u(1):  # ref_pic_list_modification_flag_l0
            while (idc := r.ue()) != 3:
                if idc > 5:
                    raise StreamError("a bad reference list modification")
                r.ue()
        if pps.weighted_pred:
            raise StreamError("weighted prediction is on")
    if reference:
        if nal_type == NAL_IDR:
            r.u(1)
            if r.u(1):
                raise StreamError("an IDR marked long-term")
        elif r.u(1):
            raise StreamError("a slice marks references itself (adaptive marking)")
    return SliceHeader(nal_type == NAL_IDR, reference, first_mb, slice_type, frame_num, poc_lsb, poc_bit)


def set_poc(nal: bytes, header: SliceHeader, sps: SPS, poc: int) -> bytes:
    """``nal`` with its ``pic_order_cnt_lsb`` set to ``poc`` (modulo its range), other bits untouched."""
    rbsp = bytearray(_unescape(nal[1:]))
    n = sps.log2_max_poc_lsb
    lsb = poc % (1 << n)
    first, last = header.poc_bit // 8, (header.poc_bit + n - 1) // 8
    span = last - first + 1
    shift = span * 8 - (header.poc_bit % 8) - n
    value = int.from_bytes(rbsp[first : last + 1], "big")
    value = (value & ~(((1 << n) - 1) << shift)) | (lsb << shift)
    rbsp[first : last + 1] = value.to_bytes(span, "big")
    return nal[:1] + _escape(bytes(rbsp))


def repeat_slice(sps: SPS, frame_num: int, ref_frame_num: int, poc: int, pps_id: int = REPEAT_PPS_ID) -> bytes:
    """A non-reference P picture that shows the reference frame numbered ``ref_frame_num`` again.

    ``frame_num`` is the last reference frame's number plus one (7.4.3). Every macroblock is
    skipped: with no neighbour's motion to predict from, a skipped macroblock copies the first
    reference of list 0 at zero motion (8.4.1.1), and the modification (7.3.3.1, 8.2.4.3.1)
    puts the wanted picture first.
    """
    max_frame_num = 1 << sps.log2_max_frame_num
    pic_num = ref_frame_num if ref_frame_num <= frame_num else ref_frame_num - max_frame_num
    diff = frame_num - pic_num
    if not 0 < diff <= max_frame_num:
        raise StreamError("the picture to repeat is not an earlier reference")
    w = _Writer()
    w.ue(0)  # first_mb_in_slice
    w.ue(5)  # slice_type: P, as every slice of the picture
    w.ue(pps_id)
    w.u(sps.log2_max_frame_num, frame_num % max_frame_num)
    w.u(sps.log2_max_poc_lsb, poc % (1 << sps.log2_max_poc_lsb))
    w.u(1, 1)  # num_ref_idx_active_override_flag
    w.ue(0)  # one active reference
    w.u(1, 1)  # ref_pic_list_modification_flag_l0
    w.ue(0)  # modification_of_pic_nums_idc: subtract
    w.ue(diff - 1)  # abs_diff_pic_num_minus1
    w.ue(3)  # end of the list modification
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc (skipped blocks have nothing to filter)
    w.ue(sps.macroblocks)  # mb_skip_run: every macroblock
    return bytes([0x01]) + _escape(w.rbsp())  # nal_ref_idc 0, type 1


# -- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One picture of the output in order: encoded by x264, or a repeat of encoded picture ``source``."""

    index: int  # output frame index (the pts)
    key: str
    duration: int  # frame times on screen
    encode: bool
    keyframe: bool
    source: int | None  # for a repeat: the index of the Step that encoded its picture
    poc: int  # picture order count: the picture's place since the last keyframe


def plan(
    pictures: Sequence[tuple[int, str, int]],
    references: int,
    keyframe_interval: int,
    max_run: int,
) -> list[Step]:
    """Which of ``pictures`` (index, key, duration; in order) x264 encodes, and which are repeats.

    A picture is a repeat when an earlier encoded picture with the same key is still among the
    last ``references`` encoded since the keyframe. The first picture is a keyframe, and so is
    every ``keyframe_interval``-th encoded picture after it (as an encoder counts: seeking
    decodes at most that many encoded pictures, plus repeats, which cost nothing to decode; a
    picture that can be a repeat stays one when a keyframe is due, the next encoded one is the
    keyframe). At most ``max_run`` repeats follow an encoded picture (picture order counts must
    stay within half their range of the last reference picture's, 8.2.1.1; the caller leaves
    a margin).
    """
    steps: list[Step] = []
    window: list[tuple[str, int]] = []  # (key, step number) of the references, oldest first
    encoded = run = place = 0
    for index, key, duration in pictures:
        held = next((number for k, number in reversed(window) if k == key), None)
        if held is not None and run < max_run:
            steps.append(Step(index, key, duration, False, False, held, place))
            run += 1
        else:
            keyframe = encoded % keyframe_interval == 0
            if keyframe:
                window.clear()
                place = 0
            window.append((key, len(steps)))
            del window[:-references]
            steps.append(Step(index, key, duration, True, keyframe, None, place))
            encoded += 1
            run = 0
        place += 1
    return steps


def encoded_runs(steps: Sequence[Step]) -> Iterator[tuple[Step, list[Step]]]:
    """Each encoded step with the repeats that follow it before the next encoded one."""
    current: Step | None = None
    repeats: list[Step] = []
    for step in steps:
        if step.encode:
            if current is not None:
                yield current, repeats
            current, repeats = step, []
        else:
            repeats.append(step)
    if current is not None:
        yield current, repeats
