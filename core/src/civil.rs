//! Unix time as a UTC calendar date, for the dates front ends show (token
//! and record expiry). No date crate: the core stays `no_std` and small in
//! the web build.

use alloc::format;
use alloc::string::String;

/// A UTC date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcDateTime {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl UtcDateTime {
    /// The proleptic Gregorian date of `ts` seconds since 1970-01-01 UTC
    /// (negative: before). Days to civil date per Howard Hinnant's
    /// `civil_from_days`.
    pub fn from_unix(ts: i64) -> Self {
        let days = ts.div_euclid(86_400);
        let secs = ts.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        // Every value below is in range by construction (day 1..=31,
        // month 1..=12, hour < 24, minute and second < 60).
        UtcDateTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month: month as u8,
            day: day as u8,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
        }
    }

    /// `2026-11-28T16:20:00Z` (RFC 3339).
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2026-11-28 16:20 UTC`, for people.
    pub fn short(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let iso = |ts| UtcDateTime::from_unix(ts).rfc3339();
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(-1), "1969-12-31T23:59:59Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso(1_709_164_799), "2024-02-28T23:59:59Z");
        assert_eq!(iso(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(iso(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(iso(1_795_882_800), "2026-11-28T16:20:00Z");
        assert_eq!(
            UtcDateTime::from_unix(1_795_882_800).short(),
            "2026-11-28 16:20 UTC"
        );
    }
}
