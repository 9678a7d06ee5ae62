"""The capacity benchmark's lost-frame accounting (bench/lib/frames.py)."""

from bench.lib.frames import CLOSE_GRACE, Session, lost_frames, parse_sent


def session(
    hello: float, groups: set[str], received: set[int], closed: float | None = None
) -> Session:
    return Session(opened=hello - 0.1, groups=groups, hello_at=hello, closed_at=closed,
                   received=received)  # fmt: skip


def test_parse_sent_reads_the_probes_list() -> None:
    assert parse_sent([b"7 12.5 queue.1,queue.2", "8 13.0 queue.3"]) == [
        (7, 12.5, ["queue.1", "queue.2"]),
        (8, 13.0, ["queue.3"]),
    ]


def test_a_frame_a_socket_of_its_group_missed_is_lost() -> None:
    sent = [(1, 10.0, ["queue.1"]), (2, 11.0, ["queue.1"])]
    sockets = [session(5.0, {"queue.1"}, {1, 2}), session(5.0, {"queue.1"}, {1})]
    assert lost_frames(sent, sockets, 0.0, 20.0) == {"events": 2, "expected": 4, "lost": 1}


def test_other_groups_later_hellos_and_closing_sockets_expect_nothing() -> None:
    sent = [(1, 10.0, ["queue.1"])]
    sockets = [
        session(5.0, {"queue.2"}, set()),  # not its queue
        session(10.5, {"queue.1"}, set()),  # hello after the commit
        session(5.0, {"queue.1"}, set(), closed=10.0 + CLOSE_GRACE / 2),  # closing meanwhile
    ]
    assert lost_frames(sent, sockets, 0.0, 20.0) == {"events": 1, "expected": 0, "lost": 0}


def test_a_socket_closed_well_after_the_commit_should_have_had_it() -> None:
    sent = [(1, 10.0, ["queue.1"])]
    sockets = [session(5.0, {"queue.1"}, set(), closed=10.0 + CLOSE_GRACE * 3)]
    assert lost_frames(sent, sockets, 0.0, 20.0)["lost"] == 1


def test_a_socket_in_two_of_the_events_groups_counts_once() -> None:
    sent = [(1, 10.0, ["queue.1", "queue.2"])]
    sockets = [session(5.0, {"queue.1", "queue.2"}, {1})]
    assert lost_frames(sent, sockets, 0.0, 20.0) == {"events": 1, "expected": 1, "lost": 0}


def test_events_outside_the_window_are_not_counted() -> None:
    sent = [(1, 1.0, ["queue.1"]), (2, 30.0, ["queue.1"])]
    sockets = [session(0.5, {"queue.1"}, set())]
    assert lost_frames(sent, sockets, 5.0, 20.0) == {"events": 0, "expected": 0, "lost": 0}
