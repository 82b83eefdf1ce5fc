//! Calendar windows in UTC and the clock they are read from (injectable for tests).

use std::sync::atomic::{AtomicI64, Ordering};

use model::Window;
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// Where the meter reads the time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until set, for tests.
#[derive(Debug)]
pub struct ManualClock {
    nanos: AtomicI64,
}

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> ManualClock {
        ManualClock {
            nanos: AtomicI64::new(to_nanos(at)),
        }
    }
    pub fn set(&self, at: OffsetDateTime) {
        self.nanos.store(to_nanos(at), Ordering::SeqCst);
    }
    pub fn advance(&self, by: time::Duration) {
        let by = i64::try_from(by.whole_nanoseconds()).unwrap_or(i64::MAX);
        self.nanos.fetch_add(by, Ordering::SeqCst);
    }
}

fn to_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.nanos.load(Ordering::SeqCst)))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

const DAY: i64 = 86_400;

/// The window of kind `w` that contains `t`: start and end (exclusive), Unix seconds.
pub fn bounds(w: Window, t: OffsetDateTime) -> (i64, i64) {
    let unix = t.unix_timestamp();
    let floor = |len: i64| {
        let start = unix - unix.rem_euclid(len);
        (start, start + len)
    };
    match w {
        Window::Minute => floor(60),
        Window::Hour => floor(3_600),
        Window::Day => floor(DAY),
        Window::Week => {
            // 1970-01-01 was a Thursday: Monday is 3 days after it, modulo 7.
            let day = unix.div_euclid(DAY);
            let monday = day - (day - 4).rem_euclid(7);
            (monday * DAY, (monday + 7) * DAY)
        }
        Window::Month => {
            let d = t.to_offset(UtcOffset::UTC).date();
            let first = |year: i32, month: Month| {
                Date::from_calendar_date(year, month, 1)
                    .map(|d| d.midnight().assume_utc().unix_timestamp())
                    .unwrap_or(unix)
            };
            let (next_year, next_month) = match d.month() {
                Month::December => (d.year() + 1, Month::January),
                m => (d.year(), m.next()),
            };
            (first(d.year(), d.month()), first(next_year, next_month))
        }
    }
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-12-01T00:00:00Z`.
pub fn rfc3339(unix: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) if (0..=9999).contains(&t.year()) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        _ => unix.to_string(),
    }
}
