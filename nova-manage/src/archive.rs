//! `nova-manage db archive_deleted_rows` and `nova-manage db purge`, as
//! Nova's: soft-deleted rows move to the shadow tables in batches of
//! `--max_rows`, and the shadow tables are emptied (all, or what is older
//! than `--before`). The exit codes are Nova's, for cron jobs that loop
//! "while the result is 1": archive 0 nothing archived, 1 rows archived,
//! 2 bad `--max_rows`, 4 bad `--before`; purge 0 rows purged, 1 neither
//! `--all` nor `--before`, 2 bad `--before`, 3 nothing to purge.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::Args;
use nova_db::Db;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

#[derive(Args)]
pub struct ArchiveArgs {
    /// Rows to archive per batch (per run without --until-complete).
    #[arg(
        long = "max_rows",
        alias = "max-rows",
        default_value_t = 1000,
        allow_negative_numbers = true
    )]
    pub max_rows: i64,
    /// Print how many rows each table gave.
    #[arg(long)]
    pub verbose: bool,
    /// Archive batch after batch until nothing is left.
    #[arg(long = "until-complete", alias = "until_complete")]
    pub until_complete: bool,
    /// Purge the shadow tables after archiving anything.
    #[arg(long)]
    pub purge: bool,
    /// Only rows deleted before this date (`YYYY-MM-DD [HH:MM:SS]`, RFC 3339, or what `date` prints; UTC).
    #[arg(long)]
    pub before: Option<String>,
    /// Every cell's database (this deployment has one).
    #[arg(long = "all-cells", alias = "all_cells")]
    pub all_cells: bool,
    /// Archive the task_log rows of instance usage audits too.
    #[arg(long = "task-log", alias = "task_log")]
    pub task_log: bool,
    /// Seconds to sleep between batches with --until-complete.
    #[arg(long, default_value_t = 0)]
    pub sleep: u64,
}

#[derive(Args)]
pub struct PurgeArgs {
    /// Purge shadow rows older than this date.
    #[arg(long)]
    pub before: Option<String>,
    /// Purge every shadow row.
    #[arg(long = "all")]
    pub purge_all: bool,
    /// Print what was purged.
    #[arg(long)]
    pub verbose: bool,
    /// Every cell's database (this deployment has one).
    #[arg(long = "all-cells", alias = "all_cells")]
    pub all_cells: bool,
}

/// The largest `--max_rows` (a database integer).
const MAX_INT: i64 = 2_147_483_647;

/// A date as Nova's `dateutil` reads the usual forms; without a zone, UTC.
pub fn parse_before(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(Default::default()).and_utc());
    }
    // `date`: "Sun Dec  6 21:30:00 UTC 2026".
    let words: Vec<&str> = s.split_whitespace().collect();
    if let [_, month, day, time, zone, year] = words.as_slice() {
        if ["UTC", "GMT", "Z"].contains(zone) {
            let text = format!("{month} {day} {time} {year}");
            if let Ok(t) = NaiveDateTime::parse_from_str(&text, "%b %d %H:%M:%S %Y") {
                return Ok(t.and_utc());
            }
        }
    }
    Err(format!("Unknown string format: {s}"))
}

/// Nova's `format_dict`: a two-column table, left aligned.
fn table(rows: &BTreeMap<String, i64>, key: &str, value: &str) -> String {
    let w0 = rows
        .keys()
        .map(|k| k.len())
        .chain([key.len()])
        .max()
        .unwrap_or(0);
    let w1 = rows
        .values()
        .map(|v| v.to_string().len())
        .chain([value.len()])
        .max()
        .unwrap_or(0);
    let rule = format!("+-{}-+-{}-+", "-".repeat(w0), "-".repeat(w1));
    let mut out = vec![
        rule.clone(),
        format!("| {key:<w0$} | {value:<w1$} |"),
        rule.clone(),
    ];
    for (k, v) in rows {
        out.push(format!("| {k:<w0$} | {:<w1$} |", v.to_string()));
    }
    out.push(rule);
    out.join("\n")
}

pub async fn archive_deleted_rows(db: &Db, a: ArchiveArgs) -> Result<u8, String> {
    if a.max_rows < 0 {
        println!("Must supply a positive value for max_rows");
        return Ok(2);
    }
    if a.max_rows > MAX_INT {
        println!("max rows must be <= {MAX_INT}");
        return Ok(2);
    }
    let before = match a.before.as_deref().map(parse_before) {
        Some(Err(e)) => {
            println!("Invalid value for --before: {e}");
            return Ok(4);
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let mut archived: BTreeMap<String, i64> = BTreeMap::new();
    if a.until_complete && a.verbose {
        print!("Archiving..");
        let _ = std::io::stdout().flush();
    }
    loop {
        let pass = db
            .archive_deleted_rows(a.max_rows, before, a.task_log)
            .await
            .map_err(|e| e.to_string())?;
        for (t, n) in &pass.tables {
            *archived.entry(t.clone()).or_default() += n;
        }
        if !a.until_complete || pass.total == 0 {
            break;
        }
        if a.verbose {
            print!(".");
            let _ = std::io::stdout().flush();
        }
        tokio::time::sleep(Duration::from_secs(a.sleep)).await;
    }
    if a.until_complete && a.verbose {
        println!(".complete");
    }
    if a.verbose {
        if archived.is_empty() {
            println!("Nothing was archived.");
        } else {
            println!("{}", table(&archived, "Table", "Number of Rows Archived"));
        }
    }
    if !archived.is_empty() && a.purge {
        if a.verbose {
            println!("Rows were archived, running purge...");
        }
        purge(
            db,
            PurgeArgs {
                before: None,
                purge_all: true,
                verbose: a.verbose,
                all_cells: a.all_cells,
            },
        )
        .await?;
    }
    Ok(u8::from(!archived.is_empty()))
}

pub async fn purge(db: &Db, p: PurgeArgs) -> Result<u8, String> {
    if p.before.is_none() && !p.purge_all {
        println!("Either --before or --all is required");
        return Ok(1);
    }
    let before = match p.before.as_deref().map(parse_before) {
        Some(Err(e)) => {
            println!("Invalid value for --before: {e}");
            return Ok(2);
        }
        Some(Ok(t)) => Some(t),
        None => None,
    };
    let purged = db
        .purge_shadow_tables(before)
        .await
        .map_err(|e| e.to_string())?;
    if p.verbose {
        for (table, col, n) in &purged {
            println!("DB: Deleted {n} rows from {table} based on timestamp column {col}");
        }
    }
    Ok(if purged.is_empty() { 3 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_forms_operators_type() {
        let want = NaiveDate::from_ymd_opt(2026, 12, 6)
            .unwrap()
            .and_hms_opt(21, 30, 0)
            .unwrap()
            .and_utc();
        for s in [
            "2026-12-06 21:30:00",
            "2026-12-06T21:30:00",
            "2026-12-06T21:30:00Z",
            "2026-12-06T22:30:00+01:00",
            "Sun Dec  6 21:30:00 UTC 2026",
        ] {
            assert_eq!(parse_before(s), Ok(want), "{s}");
        }
        assert_eq!(
            parse_before("2026-12-06").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 6)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
        );
        assert!(parse_before("yesterday").is_err());
        assert!(parse_before("Sun Dec  6 21:30:00 CET 2026").is_err());
    }

    #[test]
    fn the_table_is_novas() {
        let rows: BTreeMap<String, i64> =
            [("instances".to_string(), 2), ("instance_extra".into(), 12)].into();
        assert_eq!(
            table(&rows, "Table", "Number of Rows Archived"),
            "+----------------+-------------------------+\n\
             | Table          | Number of Rows Archived |\n\
             +----------------+-------------------------+\n\
             | instance_extra | 12                      |\n\
             | instances      | 2                       |\n\
             +----------------+-------------------------+"
        );
    }
}
