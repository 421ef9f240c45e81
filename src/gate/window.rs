//! Maintenance windows: `Sat 01:00-05:00 Europe/Berlin`, several joined by `;`.
//!
//! A window is a set of weekdays, a start and an end in local time, and an IANA time zone
//! (jiff's bundled database, so the `scratch` image needs no `/usr/share/zoneinfo`). An end at
//! or before the start runs past midnight into the next day (`Fri 22:00-02:00`). Local times
//! are turned into instants per day, so daylight-saving changes move the window with the
//! clock on the wall, as a person who wrote "01:00 Berlin time" means: a start inside a
//! spring-forward gap begins at the first instant after the gap.

use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// Why a window's text cannot be used; the message names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("maintenance window {text:?}: {problem}")]
pub struct WindowError {
    pub text: String,
    pub problem: String,
}

/// One or more windows, as written in an annotation or in config.toml.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    windows: Vec<Window>,
    text: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Window {
    days: [bool; 7],
    start: Time,
    end: Time,
    zone: TimeZone,
}

/// Whether a window is open now, or when the next one opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    Open,
    /// The next instant a window opens.
    Opens(Timestamp),
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, WindowError> {
        let windows = text
            .split(';')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| Window::parse(part).map_err(|problem| error(text, problem)))
            .collect::<Result<Vec<_>, _>>()?;
        if windows.is_empty() {
            return Err(error(
                text,
                "no window; write e.g. `Sat 01:00-05:00 Europe/Berlin`".into(),
            ));
        }
        Ok(Self {
            windows,
            text: text.trim().to_string(),
        })
    }

    /// Several schedules as one: open when any of them is.
    pub fn union<'a>(schedules: impl IntoIterator<Item = &'a Schedule>) -> Option<Self> {
        let schedules: Vec<&Schedule> = schedules.into_iter().collect();
        (!schedules.is_empty()).then(|| Self {
            windows: schedules.iter().flat_map(|s| s.windows.clone()).collect(),
            text: schedules
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        })
    }

    /// Open now, or the earliest opening after `now`.
    pub fn opening(&self, now: Timestamp) -> Opening {
        let mut next: Option<Timestamp> = None;
        for window in &self.windows {
            match window.opening(now) {
                Opening::Open => return Opening::Open,
                Opening::Opens(at) => next = Some(next.map_or(at, |n| n.min(at))),
            }
        }
        // Every window has at least one day, so one opens within eight days.
        Opening::Opens(next.expect("a schedule has at least one window with a day"))
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn error(text: &str, problem: String) -> WindowError {
    WindowError {
        text: text.to_string(),
        problem,
    }
}

impl Window {
    fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [days, hours, zone] = parts[..] else {
            return Err(format!(
                "`{text}` is not `DAYS HH:MM-HH:MM ZONE` (e.g. `Sat 01:00-05:00 Europe/Berlin`)"
            ));
        };
        let days = parse_days(days)?;
        let (start, end) = hours
            .split_once('-')
            .ok_or_else(|| format!("`{hours}` is not a time range like `01:00-05:00`"))?;
        let zone = TimeZone::get(zone).map_err(|_| {
            format!("`{zone}` is not an IANA time zone (e.g. `Europe/Berlin`, `UTC`)")
        })?;
        Ok(Self {
            days,
            start: parse_time(start, false)?,
            end: parse_time(end, true)?,
            zone,
        })
    }

    fn opening(&self, now: Timestamp) -> Opening {
        let today = now.to_zoned(self.zone.clone()).date();
        // Yesterday's window may still be open past midnight; a week and a day ahead always
        // reaches the next day the window has.
        let mut day = today.yesterday().unwrap_or(today);
        let last = today.checked_add(8.days()).unwrap_or(today);
        while day <= last {
            if self.days[weekday_index(day.weekday())] {
                let (start, end) = self.instants(day);
                if start <= now && now < end {
                    return Opening::Open;
                }
                if start > now {
                    return Opening::Opens(start);
                }
            }
            day = match day.tomorrow() {
                Ok(next) => next,
                Err(_) => break,
            };
        }
        Opening::Opens(Timestamp::MAX)
    }

    /// The window of `day` as instants; an end at or before the start is on the next day.
    fn instants(&self, day: Date) -> (Timestamp, Timestamp) {
        let at = |date: Date, time: Time| -> Timestamp {
            self.zone
                .to_zoned(date.to_datetime(time))
                .as_ref()
                .map_or(Timestamp::MAX, Zoned::timestamp)
        };
        let start = at(day, self.start);
        // `24:00` is midnight at the end of the day.
        let end = if self.end == Time::midnight() || self.end <= self.start {
            at(day.tomorrow().unwrap_or(day), self.end)
        } else {
            at(day, self.end)
        };
        (start, end)
    }
}

fn parse_time(text: &str, is_end: bool) -> Result<Time, String> {
    if is_end && text == "24:00" {
        return Ok(Time::midnight());
    }
    let (hour, minute) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not a time like `01:00`"))?;
    let number = |part: &str, max: i8| -> Option<i8> {
        (part.len() == 2)
            .then(|| part.parse::<i8>().ok())
            .flatten()
            .filter(|n| (0..=max).contains(n))
    };
    match (number(hour, 23), number(minute, 59)) {
        (Some(hour), Some(minute)) => Time::new(hour, minute, 0, 0).map_err(|e| e.to_string()),
        _ => Err(format!(
            "`{text}` is not a time like `01:00` (00:00 to 23:59)"
        )),
    }
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn weekday_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).expect("0 to 6")
}

/// `Sat`, `Mon-Fri`, `Sat,Sun`, `Fri-Mon` (wrapping) or `daily`.
fn parse_days(text: &str) -> Result<[bool; 7], String> {
    if text.eq_ignore_ascii_case("daily") {
        return Ok([true; 7]);
    }
    let day = |name: &str| {
        DAY_NAMES
            .iter()
            .position(|d| d.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!("`{name}` is not a day: write Mon, Tue, Wed, Thu, Fri, Sat, Sun or daily")
            })
    };
    let mut days = [false; 7];
    for item in text.split(',') {
        match item.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (day(first)?, day(last)?);
                let mut index = first;
                loop {
                    days[index] = true;
                    if index == last {
                        break;
                    }
                    index = (index + 1) % 7;
                }
            }
            None => days[day(item)?] = true,
        }
    }
    Ok(days)
}

#[cfg(test)]
mod tests;
