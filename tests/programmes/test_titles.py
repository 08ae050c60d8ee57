"""Programme titles from the first minute's stored readings: screen text first, then an announcement in speech;
none when nothing names the programme (never a guess)."""

from __future__ import annotations

from pipeline.programmes.titles import title_from_lines, title_lines


def test_screen_text_names_the_programme():
    screen = [(70.0, "Later Reading"), (2.0, "20:14"), (4.0, "Korean Central Television"), (6.0, "Farm Hour")]
    assert title_from_lines(screen, [], common={"korean central television"}) == ("Farm Hour", "screen")


def test_a_ticker_or_a_clock_is_no_title_and_speech_is_next():
    screen = [(1.0, "12:00:01"), (3.0, "the leader gave field guidance at the newly built factory in the county today")]
    speech = [(2.0, "Good evening. You are watching The Evening Bulletin. Our top story")]
    assert title_from_lines(screen, speech) == ("The Evening Bulletin", "speech")


def test_nothing_named_gives_no_title():
    assert title_from_lines([], [(5.0, "and the harvest was good this year")]) == (None, None)
    assert title_from_lines([(90.0, "Farm Hour")], [(80.0, "This is Farm Hour")]) == (None, None)  # after a minute


def test_lines_are_read_within_the_programme_not_past_its_end():
    segs = [{"video_id": "a", "air_start_s": 1000.0, "air_end_s": 1600.0},
            {"video_id": "b", "air_start_s": 1600.0, "air_end_s": 2200.0}]
    lines = {"a": [{"start": 590.0, "text": "in a"}], "b": [{"start": 5.0, "text": "in b"}, {"start": 40.0, "text": "late"}]}
    got = title_lines(lambda vid, kind: lines[vid], segs, 1580.0, 1630.0, "screen")
    assert got == [(10.0, "in a"), (25.0, "in b")]  # "late" (1640 s) is after the programme's end
