"""Telegram's limits on our side: windows, and the outbox deferring a chat over its limit."""

from __future__ import annotations

from bot.throttle import Throttle, Window


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_window_allows_limit_then_asks_to_wait() -> None:
    w = Window(20, 60.0)
    for i in range(20):
        assert w.wait(float(i)) == 0
        w.record(float(i))
    assert w.wait(20.0) == 40.0  # the first send ages out at 60 s
    assert w.wait(60.0) == 0


def test_groups_private_chats_and_overall_limits() -> None:
    clock = FakeTime()
    throttle = Throttle(clock=clock)
    for _ in range(20):
        assert throttle.chat_wait("-1001") == 0
        throttle.record("-1001")
    assert throttle.chat_wait("-1001") > 59  # 20 a minute per group
    for _ in range(3):
        assert throttle.chat_wait("42") == 0
        throttle.record("42")
    assert throttle.chat_wait("42") > 0  # a short burst, then one a second
    assert throttle.overall_wait() == 0  # 23 sent in the same instant: under 30
    for n in range(7):
        throttle.record(str(1000 + n))
    assert throttle.overall_wait() > 0  # 30 a second in all
    clock.now = 1.0
    assert throttle.overall_wait() == 0
