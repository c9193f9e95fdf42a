//! Command and error statistics for INFO's `commandstats`, `errorstats` and `stats`
//! sections, counted as Redis counts them: per command its calls, the time they took and how
//! many failed; per error code (the reply's first word) how often it was sent.
//!
//! A command counts once its reply is settled (a write's once durable, a blocked read's once
//! it returns). CONFIG RESETSTAT clears everything.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::lock::lock;
use crate::reply::Reply;

#[derive(Default)]
struct CommandCounts {
    calls: u64,
    usec: u64,
    failed: u64,
}

#[derive(Default)]
struct Counts {
    commands: BTreeMap<&'static str, CommandCounts>,
    errors: BTreeMap<String, u64>,
    total_commands: u64,
    total_errors: u64,
    /// Each command's metric handles (kept by CONFIG RESETSTAT, which Prometheus's counters
    /// do not follow).
    metrics: BTreeMap<&'static str, CommandMetrics>,
}

/// A command's Prometheus series, looked up in the recorder once instead of by name on every
/// call (which builds a labelled key, allocating, and hashes it).
struct CommandMetrics {
    calls: Counter,
    seconds: Histogram,
    /// Registered at the command's first error, so a command that never failed shows no
    /// error series.
    errors: Option<Counter>,
}

impl CommandMetrics {
    fn new(name: &'static str) -> CommandMetrics {
        CommandMetrics {
            calls: metrics::counter!("sluice_resp_commands_total", "command" => name),
            seconds: metrics::histogram!("sluice_resp_command_seconds", "command" => name),
            errors: None,
        }
    }
}

/// The server's statistics.
#[derive(Default)]
pub struct Stats {
    counts: Mutex<Counts>,
}

impl Stats {
    /// Counts one reply to command `name` (`None`: not a command Sluice knows, counted only
    /// in the totals and the error codes), which took `took`.
    pub fn record(&self, name: Option<&'static str>, took: Duration, reply: &Reply) {
        let mut counts = lock(&self.counts);
        counts.total_commands += 1;
        let error_code = match reply {
            Reply::Error(text) => Some(text.split(' ').next().unwrap_or_default().to_owned()),
            _ => None,
        };
        if let Some(name) = name {
            let series = counts
                .metrics
                .entry(name)
                .or_insert_with(|| CommandMetrics::new(name));
            series.calls.increment(1);
            series.seconds.record(took.as_secs_f64());
            if error_code.is_some() {
                series
                    .errors
                    .get_or_insert_with(
                        || metrics::counter!("sluice_resp_errors_total", "command" => name),
                    )
                    .increment(1);
            }
            let command = counts.commands.entry(name).or_default();
            command.calls += 1;
            command.usec += u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            command.failed += u64::from(error_code.is_some());
        }
        if let Some(code) = error_code {
            counts.total_errors += 1;
            *counts.errors.entry(code).or_default() += 1;
        }
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        let mut counts = lock(&self.counts);
        let metrics = std::mem::take(&mut counts.metrics);
        *counts = Counts {
            metrics,
            ..Counts::default()
        };
    }

    /// INFO stats' lines.
    pub fn totals(&self) -> Vec<String> {
        let counts = lock(&self.counts);
        vec![
            format!("total_commands_processed:{}", counts.total_commands),
            format!("total_error_replies:{}", counts.total_errors),
        ]
    }

    /// INFO commandstats' lines.
    pub fn commands(&self) -> Vec<String> {
        let counts = lock(&self.counts);
        counts
            .commands
            .iter()
            .map(|(name, command)| {
                let per_call = command.usec as f64 / command.calls.max(1) as f64;
                format!(
                    "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls=0,failed_calls={}",
                    name,
                    command.calls,
                    command.usec,
                    command.failed
                )
            })
            .collect()
    }

    /// INFO errorstats' lines.
    pub fn errors(&self) -> Vec<String> {
        let counts = lock(&self.counts);
        counts
            .errors
            .iter()
            .map(|(code, count)| format!("errorstat_{code}:count={count}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_failures_and_error_codes() {
        let stats = Stats::default();
        stats.record(Some("xadd"), Duration::from_micros(10), &Reply::Integer(1));
        stats.record(
            Some("xadd"),
            Duration::from_micros(30),
            &Reply::error("ERR bad"),
        );
        stats.record(None, Duration::ZERO, &Reply::error("NOGROUP no group"));
        assert_eq!(
            stats.commands(),
            ["cmdstat_xadd:calls=2,usec=40,usec_per_call=20.00,rejected_calls=0,failed_calls=1"]
        );
        assert_eq!(
            stats.errors(),
            ["errorstat_ERR:count=1", "errorstat_NOGROUP:count=1"]
        );
        assert_eq!(
            stats.totals(),
            ["total_commands_processed:3", "total_error_replies:2"]
        );
        stats.reset();
        assert!(stats.commands().is_empty() && stats.errors().is_empty());
    }
}
