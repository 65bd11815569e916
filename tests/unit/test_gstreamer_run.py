"""What tests/support/gstreamer.py reads from `gst-launch-1.0 -m -v` output, on lines GStreamer printed: an
error is caught wherever it is, EOS and the demuxer are recognised, and the seconds played leave out the jump
of a discontinuity. Without these the player tests could not fail."""

from __future__ import annotations

import pytest

from tests.support.gstreamer import GstRun

PREROLL = """Setting pipeline to PAUSED ...
Pipeline is PREROLLING ...
Got message #30 from element "hlsdemux0" (state-changed): GstMessageStateChanged, old-state=(GstState)null, \
new-state=(GstState)ready, pending-state=(GstState)void-pending;
"""
END = """Got message #1746 from element "pipeline0" (eos): no message details
Got EOS from element "pipeline0".
Execution ended after 0:00:01.405601398
Setting pipeline to NULL ...
Freeing pipeline ...
"""
DEMUX2 = 'Got message #44 from element "hlsdemux2-0" (state-changed): GstMessageStateChanged;\n'
ERRORS = [
    # hlsdemux, a segment answering 404
    "ERROR: from element /GstPipeline:pipeline0/GstHLSDemux:hlsdemux0: File not found: "
    "../ext/soup/gstsouphttpsrc.c(1683): gst_soup_http_src_parse_status (): "
    "/GstPipeline:pipeline0/GstHLSDemux:hlsdemux0/GstBin:srcbin-src_0/GstSoupHTTPSrc:souphttpsrc1:",
    # hlsdemux2, the same, as a bus message only
    'Got message #56 from element "hlsdemux2-0" (error): GstMessageError, gerror=(GError)NULL, '
    'debug=(string)"Fragment\\ downloading\\ has\\ failed\\ consecutive\\ times";',
]
WARNING = 'Got message #70 from element "avdec_h264-0" (warning): GstMessageWarning, gerror=(GError)NULL;'


def picture(pts: str) -> str:
    return (
        "/GstPipeline:pipeline0/GstFakeSink:pictures: last-message = chain   ******* (pictures:sink) "
        f"(115200 bytes, dts: none, pts: {pts}, duration: 0:00:00.066666666, offset: -1, offset_end: -1, "
        "flags: 00000000 ) 0x7f0000000000\n"
    )


def test_a_clean_run_to_its_end_has_no_errors_and_ends_in_eos() -> None:
    run = GstRun(0, PREROLL + picture("0:00:10.000000000") + END)
    assert (run.errors, run.warnings, run.eos, run.demuxers) == ([], [], True, {"hlsdemux"})


@pytest.mark.parametrize("line", ERRORS)
def test_an_error_gstreamer_printed_is_caught(line: str) -> None:
    run = GstRun(1, PREROLL + line + "\nERROR: pipeline doesn't want to preroll.\n")
    assert line in run.errors and not run.eos


def test_a_warning_is_caught() -> None:
    assert GstRun(None, PREROLL + WARNING + "\n").warnings == [WARNING]


def test_the_demuxer_is_named_by_its_messages() -> None:
    assert GstRun(None, DEMUX2).demuxers == {"hlsdemux2"}


def test_seconds_played_leave_out_the_jump_of_a_discontinuity() -> None:
    frames = [f"0:00:{10 + i / 15:012.9f}" for i in range(16)]  # 10.0 .. 11.0
    frames += [f"0:01:{i / 15:012.9f}" for i in range(16)]  # 60.0 .. 61.0: a new run's clock
    run = GstRun(None, "".join(picture(pts) for pts in frames))
    assert run.pictures[0] == 10.0 and run.pictures[-1] == 61.0
    assert run.played == pytest.approx(2.0)
