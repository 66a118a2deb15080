"""The job process's report to its supervisor."""

from __future__ import annotations

import logging
import multiprocessing

from driftline.jobproc import _send


def test_a_report_to_a_killed_supervisor_is_one_log_line(caplog):
    reader, writer = multiprocessing.Pipe(duplex=False)
    reader.close()  # the supervisor was killed: nobody reads the pipe
    with caplog.at_level(logging.WARNING, logger="driftline.job"):
        _send(writer, {"ok": True, "result": "completed"})
    assert [r.getMessage() for r in caplog.records] == [
        "Supervisor gone, outcome not reported (BrokenPipeError): completed"
    ]
    assert not any(r.exc_info for r in caplog.records)
