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


def test_idle_chat_windows_are_forgotten_but_busy_ones_kept() -> None:
    clock = FakeTime()
    throttle = Throttle(clock=clock)
    for n in range(500):
        throttle.record(str(n))  # 500 private chats, once each
    for _ in range(20):
        throttle.record("-1001")  # a group at its limit
    clock.now = 61.0
    throttle.record("7")  # the first send after the sweep interval sweeps
    assert set(throttle.chats) == {"7"}  # the group's minute has passed too
    clock.now = 100.0
    for _ in range(20):
        throttle.record("-1002")
    clock.now = 122.0
    throttle.record("8")  # a sweep while the group is inside its minute
    assert set(throttle.chats) == {"-1002", "8"}
    assert throttle.chat_wait("-1002") > 0  # its 20 still count
    clock.now = 160.0
    assert throttle.chat_wait("-1002") == 0


def test_sends_under_way_take_their_place_in_the_window() -> None:
    """Sends go out side by side: one decided and not yet answered already counts, or 30 begun at
    once would all pass the check before the first is recorded."""
    clock = FakeTime()
    throttle = Throttle(clock=clock)
    for n in range(30):
        assert throttle.overall_wait() == 0
        throttle.begin(str(n))
    assert throttle.overall_wait() == 1.0  # all under way: a place frees a second after one lands
    clock.now = 0.2
    throttle.record("0")  # the first answered: it stays in the window until it ages out
    assert throttle.overall_wait() == 1.0
    clock.now = 1.2
    assert throttle.overall_wait() == 0
    throttle.begin("-1001")
    assert throttle.chat_wait("-1001") == 0  # a group's 20 a minute: one under way leaves room
    for _ in range(19):
        throttle.begin("-1001")
    assert throttle.chat_wait("-1001") == 60.0
