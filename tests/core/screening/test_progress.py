"""The progress line: counts, rate limiting in logs, final state always written."""

from __future__ import annotations

import io

from bmes_imaging.screening import ProgressLine


def test_log_stream_gets_first_and_final_state_only() -> None:
    buf = io.StringIO()
    bar = ProgressLine(4, resumed=2, stream=buf, log_interval=60.0)
    bar.update(done=1)
    bar.update(done=1)
    bar.update(failed=1)
    bar.update(done=1)
    bar.update(final=True)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("screen: 1/4 studies (1 done, 0 failed, 3 remaining, "
                               "2 already done)")
    assert "ETA" in lines[0]
    assert lines[1].startswith("screen: 4/4 studies (3 done, 1 failed, 0 remaining")
    assert " in " in lines[1] and "studies/min" in lines[1]


def test_final_state_not_repeated() -> None:
    buf = io.StringIO()
    bar = ProgressLine(1, stream=buf, log_interval=0.0)
    bar.update(done=1)
    bar.update(final=True)
    assert len(buf.getvalue().splitlines()) == 1
