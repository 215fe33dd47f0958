"""Times of a referral from its task's history (server/referrals/timing.py); the HTTP
test of a whole referral is in test_workflow.py."""

from __future__ import annotations

from datetime import timedelta

from server.referrals import referral_times


def version(n: int, status: str, at: str) -> dict:
    return {"resourceType": "Task", "status": status,
            "meta": {"versionId": str(n), "lastUpdated": f"2026-03-{at}+00:00"}}


def test_times_are_measured_from_when_the_referral_was_sent():
    history = [version(4, "completed", "05T10:00:00"), version(2, "accepted", "02T09:00:00"),
               version(1, "requested", "01T09:00:00"), version(3, "in-progress",
                                                                "03T09:00:00"),
               version(5, "completed", "06T10:00:00")]  # a later edit of the closed task
    times = referral_times(history)
    assert times.to_acceptance == timedelta(days=1)
    assert times.to_service == timedelta(days=2)
    assert times.to_completion == timedelta(days=4, hours=1)
    assert times.outcome == "completed"


def test_a_measure_not_reached_is_none():
    times = referral_times([version(1, "requested", "01T09:00:00"),
                            version(2, "received", "01T12:00:00")])
    assert times.sent is not None
    assert (times.to_acceptance, times.to_service, times.to_completion) == (None, None, None)


def test_a_rejected_referral_has_no_time_to_completion():
    times = referral_times([version(1, "requested", "01T09:00:00"),
                            version(2, "rejected", "01T10:30:00")])
    assert times.outcome == "rejected"
    assert times.ended is not None and times.to_completion is None
    assert times.to_acceptance is None
