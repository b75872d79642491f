//! Nova's audit periods (`nova.utils.last_completed_audit_period`): what
//! the compute hosts' `instance_usage_audit` task audits and what
//! `os-instance_usage_audit_log` reports, from `[DEFAULT]
//! instance_usage_audit_period` (`hour`, `day`, `month`, `year`, each with
//! an optional `@offset`).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

/// The task name of the instance usage audit in `task_log`.
pub const INSTANCE_USAGE_AUDIT: &str = "instance_usage_audit";

/// Nova's `last_completed_audit_period`: the most recently completed audit
/// period before `now` as (begin, end); None for a unit Nova does not know.
pub fn last_completed_audit_period(
    unit: &str,
    now: NaiveDateTime,
) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let (unit, offset) = match unit.split_once('@') {
        Some((u, o)) => (u, o.parse::<u32>().ok()?),
        None => (unit, 0),
    };
    let at = |y: i32, m: u32, d: u32, h: u32| {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(h, 0, 0))
    };
    // The month before (year, month).
    let prev = |y: i32, m: u32| if m <= 1 { (y - 1, 12) } else { (y, m - 1) };
    Some(match unit {
        "month" => {
            let day = offset.max(1);
            let mut end = at(now.year(), now.month(), day, 0)?;
            if end >= now {
                let (y, m) = prev(now.year(), now.month());
                end = at(y, m, day, 0)?;
            }
            let (y, m) = prev(end.year(), end.month());
            (at(y, m, day, 0)?, end)
        }
        "year" => {
            let month = offset.max(1);
            let end = at(now.year(), month, 1, 0)?;
            if end >= now {
                (
                    at(now.year() - 2, month, 1, 0)?,
                    at(now.year() - 1, month, 1, 0)?,
                )
            } else {
                (at(now.year() - 1, month, 1, 0)?, end)
            }
        }
        "day" => {
            let mut end = at(now.year(), now.month(), now.day(), offset)?;
            if end >= now {
                end -= Duration::days(1);
            }
            (end - Duration::days(1), end)
        }
        "hour" => {
            let mut end = now
                .with_minute(offset)?
                .with_second(0)?
                .with_nanosecond(0)?;
            if end >= now {
                end -= Duration::hours(1);
            }
            (end - Duration::hours(1), end)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time")
    }

    fn period(unit: &str, now: &str) -> (String, String) {
        let (b, e) = last_completed_audit_period(unit, t(now)).expect("period");
        (b.to_string(), e.to_string())
    }

    #[test]
    fn audit_periods_as_nova_computes_them() {
        let p = |b: &str, e: &str| (b.to_string(), e.to_string());
        assert_eq!(
            period("month", "2026-12-04 13:00:00"),
            p("2026-11-01 00:00:00", "2026-12-01 00:00:00")
        );
        // The end itself is not completed yet; January wraps to December.
        assert_eq!(
            period("month", "2026-01-01 00:00:00"),
            p("2025-11-01 00:00:00", "2025-12-01 00:00:00")
        );
        assert_eq!(
            period("month@15", "2026-12-04 13:00:00"),
            p("2026-10-15 00:00:00", "2026-11-15 00:00:00")
        );
        assert_eq!(
            period("year@3", "2026-12-04 13:00:00"),
            p("2025-03-01 00:00:00", "2026-03-01 00:00:00")
        );
        assert_eq!(
            period("day@18", "2026-12-04 13:00:00"),
            p("2026-12-02 18:00:00", "2026-12-03 18:00:00")
        );
        assert_eq!(
            period("hour", "2026-12-04 13:20:00"),
            p("2026-12-04 12:00:00", "2026-12-04 13:00:00")
        );
        assert!(last_completed_audit_period("week", t("2026-12-04 13:00:00")).is_none());
    }
}
