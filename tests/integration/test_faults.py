"""Faults of issue 12: stalled and misbehaving backends, clients that leave, shutdown with
work in flight, slow publishers, nonsense statuses. Timeouts are configured down to about a
second so that each test stays short.
"""

import pytest

from backend import Resp
from conftest import IS_PUSHPIN


@pytest.mark.xfail(IS_PUSHPIN, reason="Pushpin 1.36 relays any code 0..999", strict=True)
@pytest.mark.parametrize("status", ["0", "99", "101", "600"])
def test_grip_status_outside_final_range_is_502(proxy, backend, status):
    backend.on("/gs-bad", Resp(200, [("Content-Type", "text/plain"), ("Grip-Status", status)],
                               b"x\n"))
    r = proxy.http("GET", "/gs-bad")
    assert r.status == 502
    assert r.body == b"Error while proxying to origin.\n"
