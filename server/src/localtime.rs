//! Local time as upstream writes it in `queue/agents-timestamp` (`YYYY-MM-DD HH:MM:SS`, the
//! manager's time zone), and the current time.
//!
//! The zone (`TZ`, else `/etc/localtime`, else UTC) is read once, with its daylight-saving
//! transitions, by tz-rs; `time` does the calendar arithmetic. (The `time` crate's own local-offset
//! lookup refuses to work in a multi-threaded process, which a server is.)

use std::sync::OnceLock;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

fn zone() -> Option<&'static tz::TimeZone> {
    static ZONE: OnceLock<Option<tz::TimeZone>> = OnceLock::new();
    ZONE.get_or_init(|| match std::env::var("TZ") {
        // As the C library: `TZ` names a zone (`Europe/Berlin`, `:Europe/Berlin`, a path) or is a
        // POSIX rule (`EST5EDT`); unset, /etc/localtime.
        Ok(tz) if !tz.is_empty() => tz::TimeZone::from_posix_tz(&tz).ok(),
        _ => tz::TimeZone::local().ok(),
    })
    .as_ref()
}

/// The zone's offset from UTC, in seconds, at `utc` (seconds since the epoch); 0 without a zone.
fn offset_at(utc: i64) -> i64 {
    zone().and_then(|z| z.find_local_time_type(utc).ok()).map_or(0, |t| i64::from(t.ut_offset()))
}

/// Now, in seconds since the epoch.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `YYYY-MM-DD HH:MM:SS` in local time, as agents-timestamp holds it.
pub fn format_local_time(epoch: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(epoch.saturating_add(offset_at(epoch))) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "1970-01-01 00:00:00".to_owned(),
    }
}

/// Reads `YYYY-MM-DD HH:MM:SS` as local time; seconds since the epoch. A time that occurs twice
/// (when clocks go back) is read as its first occurrence.
pub fn parse_local_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, clock) = text.split_once(' ')?;
    let date = parse_date(date)?;
    let mut c = clock.splitn(3, ':');
    let (hour, minute, second) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let local = PrimitiveDateTime::new(date, Time::from_hms(hour, minute, second).ok()?).assume_utc().unix_timestamp();
    // The offset in force then: try the earlier of the two candidate offsets first.
    let candidates = [offset_at(local.saturating_sub(86_400)), offset_at(local.saturating_add(86_400))];
    let mut best: Option<i64> = None;
    for offset in candidates {
        let utc = local.saturating_sub(offset);
        if offset_at(utc) == offset {
            best = Some(best.map_or(utc, |b: i64| b.min(utc)));
        }
    }
    Some(best.unwrap_or_else(|| local.saturating_sub(offset_at(local))))
}

/// Reads many `YYYY-MM-DD HH:MM:SS` local times (a whole agents-timestamp), remembering the
/// offset of the last day that had a single one: lines of that day skip the zone lookups.
#[derive(Debug, Default)]
pub struct LocalTimeReader {
    /// The date text of a day with one offset, the day's local midnight, and that offset.
    day: Option<([u8; 10], i64, i64)>,
}

impl LocalTimeReader {
    /// As [`parse_local_time`].
    pub fn read(&mut self, text: &str) -> Option<i64> {
        let text = text.trim();
        let date: [u8; 10] = text.as_bytes().get(..10)?.try_into().ok()?;
        if let Some((day, midnight, offset)) = self.day
            && day == date
        {
            let clock = text.get(11..)?;
            let mut c = clock.splitn(3, ':');
            let (hour, minute, second): (i64, i64, i64) =
                (c.next()?.parse().ok()?, c.next()?.parse().ok()?, c.next()?.parse().ok()?);
            if !(0..24).contains(&hour) || !(0..60).contains(&minute) || !(0..60).contains(&second) {
                return None;
            }
            return Some(midnight + hour * 3600 + minute * 60 + second - offset);
        }
        let epoch = parse_local_time(text)?;
        // The day has one offset when the zone agrees a day before its start and a day after its
        // end (the same assumption `parse_local_time` makes). Only `YYYY-MM-DD HH:MM:SS` is cached.
        let Some(midnight) = parse_midnight(text).filter(|_| text.as_bytes().get(10) == Some(&b' ')) else {
            self.day = None;
            return Some(epoch);
        };
        let (before, after) = (offset_at(midnight - 2 * 86_400), offset_at(midnight + 2 * 86_400));
        self.day = (before == after).then_some((date, midnight, before));
        Some(epoch)
    }
}

/// `YYYY-MM-DD`.
fn parse_date(date: &str) -> Option<Date> {
    let mut d = date.splitn(3, '-');
    let (year, month, day) = (d.next()?.parse().ok()?, d.next()?.parse::<u8>().ok()?, d.next()?.parse().ok()?);
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// The day's 00:00:00 as if it were UTC.
fn parse_midnight(text: &str) -> Option<i64> {
    let date = parse_date(text.get(..10)?)?;
    Some(PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc().unix_timestamp())
}

/// `2026-12-02T09:45:00Z` (RFC 3339, UTC), for what operators read.
pub fn rfc3339(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod reader_tests {
    use super::*;

    #[test]
    fn the_reader_agrees_with_parse_local_time_line_after_line() {
        let mut reader = LocalTimeReader::default();
        for text in [
            "2026-11-20 10:11:12",
            "2026-11-20 23:59:59",
            "2026-11-20 00:00:00",
            "2026-03-29 02:30:00",
            "2026-03-29 03:30:00",
            "2026-10-25 02:30:00",
            "2026-10-25 01:00:00",
            "2026-11-21 07:00:00",
            "2026-11-21 24:00:00",
            "2026-11-21 7:0",
            "2026-1-2 10:11:12",
            "2026-1-2 10:11:13",
        ] {
            assert_eq!(reader.read(text), parse_local_time(text), "{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_round_trips_and_matches_the_zone() {
        // (Not an instant whose local text occurs twice when clocks go back: that reads as the first.)
        for epoch in [0, 1_700_000_000, 1_711_846_800, 1_729_900_000, 4_102_444_799] {
            let text = format_local_time(epoch);
            assert_eq!(parse_local_time(&text), Some(epoch), "{text}");
        }
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_local_time("2023-13-01 00:00:00"), None);
        assert_eq!(parse_local_time("garbage"), None);
    }
}

#[cfg(test)]
mod zone_tests {
    /// The same text `date` prints for the zone in force (the test command runs with the machine's
    /// zone; run with `TZ=America/New_York` to check a zone with daylight saving).
    #[test]
    fn agrees_with_the_systems_date_command() {
        for epoch in [1_700_000_000_i64, 1_720_000_000] {
            let out = std::process::Command::new("date")
                .arg("-d")
                .arg(format!("@{epoch}"))
                .arg("+%Y-%m-%d %H:%M:%S")
                .output();
            if let Ok(out) = out
                && out.status.success()
            {
                assert_eq!(super::format_local_time(epoch), String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
}
