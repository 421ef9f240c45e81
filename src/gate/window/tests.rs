use jiff::Timestamp;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn schedule(text: &str) -> Schedule {
    Schedule::parse(text).unwrap()
}

#[test]
fn open_inside_closed_outside_and_says_when_it_opens() {
    let window = schedule("Sat 01:00-05:00 Europe/Berlin");
    // Saturday 2026-12-05, 01:00 in Berlin is 00:00 UTC (CET, +01:00).
    assert_eq!(
        window.opening(at("2026-12-03T12:00:00Z")),
        Opening::Opens(at("2026-12-05T00:00:00Z"))
    );
    assert_eq!(window.opening(at("2026-12-05T00:00:00Z")), Opening::Open);
    assert_eq!(window.opening(at("2026-12-05T03:59:59Z")), Opening::Open);
    // 05:00 Berlin is the end, exclusive: the next opening is a week later.
    assert_eq!(
        window.opening(at("2026-12-05T04:00:00Z")),
        Opening::Opens(at("2026-12-12T00:00:00Z"))
    );
}

#[test]
fn a_window_past_midnight_is_open_on_the_next_morning() {
    let window = schedule("Fri 22:00-02:00 UTC");
    // Friday 2026-12-04 22:00 to Saturday 02:00.
    assert_eq!(window.opening(at("2026-12-05T01:30:00Z")), Opening::Open);
    assert_eq!(
        window.opening(at("2026-12-05T02:00:00Z")),
        Opening::Opens(at("2026-12-11T22:00:00Z"))
    );
}

#[test]
fn daylight_saving_moves_the_window_with_the_wall_clock() {
    let window = schedule("Sun 01:00-05:00 Europe/Berlin");
    // Summer time began on Sunday 2026-03-29 at 02:00: 01:00 is still CET (+01:00).
    assert_eq!(
        window.opening(at("2026-03-28T12:00:00Z")),
        Opening::Opens(at("2026-03-29T00:00:00Z"))
    );
    // 05:00 CEST (+02:00) is 03:00 UTC: the window is three real hours long that night.
    assert_eq!(window.opening(at("2026-03-29T02:59:00Z")), Opening::Open);
    assert_ne!(window.opening(at("2026-03-29T03:00:00Z")), Opening::Open);
    // In summer 01:00 Berlin is 23:00 UTC the day before.
    assert_eq!(
        window.opening(at("2026-07-01T00:00:00Z")),
        Opening::Opens(at("2026-07-04T23:00:00Z"))
    );
}

#[test]
fn day_lists_ranges_wrapping_ranges_daily_and_several_windows() {
    let weekdays = schedule("Mon-Fri 12:00-13:00 UTC");
    // Thursday 2026-12-03.
    assert_eq!(weekdays.opening(at("2026-12-03T12:30:00Z")), Opening::Open);
    // Friday 13:00 → Monday 12:00.
    assert_eq!(
        weekdays.opening(at("2026-12-04T13:00:00Z")),
        Opening::Opens(at("2026-12-07T12:00:00Z"))
    );
    let weekend = schedule("Fri-Mon 00:00-24:00 UTC");
    assert_eq!(weekend.opening(at("2026-12-07T23:59:00Z")), Opening::Open);
    assert_eq!(
        weekend.opening(at("2026-12-08T00:00:00Z")),
        Opening::Opens(at("2026-12-11T00:00:00Z"))
    );
    let daily = schedule("daily 03:00-04:00 Asia/Tokyo");
    assert_eq!(
        daily.opening(at("2026-12-03T19:00:00Z")),
        Opening::Opens(
            at("2026-12-03T18:00:00Z")
                .checked_add(jiff::SignedDuration::from_hours(24))
                .unwrap()
        )
    );
    let two = schedule("Sat 01:00-05:00 Europe/Berlin; Wed 20:00-21:00 UTC");
    assert_eq!(
        two.opening(at("2026-12-03T12:00:00Z")),
        Opening::Opens(at("2026-12-05T00:00:00Z"))
    );
    assert_eq!(two.opening(at("2026-12-02T20:30:00Z")), Opening::Open);
    assert_eq!(
        two.to_string(),
        "Sat 01:00-05:00 Europe/Berlin; Wed 20:00-21:00 UTC"
    );
}

#[test]
fn union_of_schedules_opens_at_the_earliest() {
    let a = schedule("Sat 01:00-05:00 UTC");
    let b = schedule("Thu 18:00-19:00 UTC");
    let both = Schedule::union([&a, &b]).unwrap();
    assert_eq!(
        both.opening(at("2026-12-03T12:00:00Z")),
        Opening::Opens(at("2026-12-03T18:00:00Z"))
    );
    assert!(Schedule::union(std::iter::empty()).is_none());
}

#[test]
fn bad_windows_say_which_part_is_wrong() {
    for (text, problem) in [
        ("Sat 01:00-05:00", "DAYS HH:MM-HH:MM ZONE"),
        ("Caturday 01:00-05:00 UTC", "`Caturday` is not a day"),
        ("Sat 1:00-05:00 UTC", "`1:00` is not a time"),
        ("Sat 01:00-25:00 UTC", "`25:00` is not a time"),
        ("Sat 01:00 UTC", "not a time range"),
        (
            "Sat 01:00-05:00 Europe/Atlantis",
            "`Europe/Atlantis` is not an IANA time zone",
        ),
        (" ; ", "no window"),
    ] {
        let error = Schedule::parse(text).unwrap_err();
        assert!(
            error.to_string().contains(problem),
            "{text:?}: {error} lacks {problem:?}"
        );
    }
}
