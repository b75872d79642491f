//! `Option<Timestamp>` on the wire (`#[serde(default, with = "wire_time")]`),
//! byte for byte as chrono's serde writes and reads it: RFC 3339 in UTC with
//! `Z`, the fraction of a second in 0, 3, 6 or 9 digits, whichever is the
//! shortest exact one. chrono goes through `fmt::Display` and a general
//! parser; a listing of 100 instances writes and reads about 500 of them, a
//! tenth of the conductor's encoding. The common shape is written and read
//! here; anything else (leap seconds, years beyond 9999, offsets other than
//! `Z`, more than 9 fraction digits) goes to chrono, so what is accepted
//! and what is written are unchanged.

use crate::Timestamp;
use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// The longest text written here: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX: usize = 30;

/// `t` as chrono writes it, or `None` when that is not the common shape.
fn format(t: &Timestamp, buf: &mut [u8; MAX]) -> Option<usize> {
    let nanos = t.nanosecond();
    let year = t.year();
    if nanos >= 1_000_000_000 || !(0..=9999).contains(&year) {
        return None;
    }
    let mut put = |at: usize, v: u32, width: usize| {
        let mut v = v;
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    let digits = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    };
    if digits > 0 {
        put(20, nanos / 10u32.pow(9 - digits as u32), digits);
    }
    let mut len = 19;
    for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        buf[at] = sep;
    }
    if digits > 0 {
        buf[19] = b'.';
        len = 20 + digits;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// `text` in the common shape, or `None` (then chrono reads it).
fn parse(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        if b[at] != sep {
            return None;
        }
    }
    let nanos = match b.len() - 1 {
        19 => 0,
        end if b[19] == b'.' && (21..=29).contains(&end) => {
            num(20, end)? * 10u32.pow((29 - end) as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let (h, m, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if s > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(h, m, s, nanos)?;
    Some(Utc.from_utc_datetime(&date.and_time(time)))
}

pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    let Some(t) = t else {
        return s.serialize_none();
    };
    let mut buf = [0u8; MAX];
    match format(t, &mut buf) {
        // Only ASCII digits and separators were written.
        Some(len) => {
            s.serialize_str(std::str::from_utf8(&buf[..len]).map_err(serde::ser::Error::custom)?)
        }
        None => t.serialize(s),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    d.deserialize_option(OptionVisitor)
}

struct OptionVisitor;

impl<'de> Visitor<'de> for OptionVisitor {
    type Value = Option<Timestamp>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(TextVisitor).map(Some)
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
        match parse(text) {
            Some(t) => Ok(t),
            None => Timestamp::deserialize(de::value::StrDeserializer::<E>::new(text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Fast(#[serde(with = "super")] Option<Timestamp>);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Chrono(Option<Timestamp>);

    fn samples() -> Vec<Timestamp> {
        let mut out = vec![];
        for secs in [
            0i64,
            1,
            59,
            951_782_400,
            1_700_000_000,
            1_764_936_000,
            253_402_300_799,
        ] {
            for nanos in [
                0u32,
                1,
                7,
                999,
                1_000,
                120_000,
                123_456,
                1_000_000,
                100_000_000,
                123_000_000,
                123_456_789,
                999_999_999,
            ] {
                out.extend(chrono::DateTime::from_timestamp(secs, nanos));
            }
        }
        // Outside the common shape: a leap second, years beyond 9999 and
        // before 0.
        out.extend(chrono::DateTime::from_timestamp(
            1_700_000_039,
            1_500_000_000,
        ));
        out.extend(chrono::DateTime::from_timestamp(253_402_300_800, 5));
        out.extend(chrono::DateTime::from_timestamp(-62_167_219_201, 0));
        out
    }

    #[test]
    fn writes_what_chrono_writes() {
        for t in samples().into_iter().map(Some).chain([None]) {
            let ours = serde_json::to_string(&Fast(t)).unwrap();
            assert_eq!(ours, serde_json::to_string(&Chrono(t)).unwrap(), "{t:?}");
            assert_eq!(
                serde_json::from_str::<Fast>(&ours).unwrap(),
                Fast(t),
                "{ours}"
            );
        }
    }

    #[test]
    fn reads_what_chrono_reads() {
        let texts = [
            "2026-12-05T12:00:00Z",
            "2026-12-05T12:00:00.5Z",
            "2026-12-05T12:00:00.123456789Z",
            "2026-12-05T12:00:00.1234567891Z",
            "2026-12-05T12:00:00+01:00",
            "2026-12-05T12:00:00.25-05:30",
            "2026-12-05 12:00:00Z",
            "2026-12-05t12:00:00z",
            "2016-12-31T23:59:60Z",
            "2026-02-30T12:00:00Z",
            "2026-12-05T24:00:00Z",
            "2026-12-05T12:00:00.Z",
            "2026-12-05T12:00Z",
            "2026-12-05",
            "not a time",
            "",
        ];
        for text in texts {
            let json = serde_json::to_string(text).unwrap();
            let ours = serde_json::from_str::<Fast>(&json).map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<Chrono>(&json)
                .map(|c| Fast(c.0))
                .map_err(|e| e.to_string());
            assert_eq!(ours.is_ok(), theirs.is_ok(), "{text}: {ours:?} {theirs:?}");
            if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                assert_eq!(a, b, "{text}");
            }
        }
        assert_eq!(serde_json::from_str::<Fast>("null").unwrap(), Fast(None));
    }
}
