//! The results: an aligned table on stdout, the comparison with the issue's targets, and the
//! same figures as JSON (`target/load-report.json`) for the README.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::measure::Measurement;
use crate::settings::{Fsync, ServerKind, Settings, Workload};

/// One workload against one server.
pub struct Row {
    /// What ran.
    pub workload: Workload,
    /// Against which server.
    pub server: ServerKind,
    /// The clients, as shown (`50`, or `1+10` for one writer and ten subscribers).
    pub clients: String,
    /// The measurement, or why there is none.
    pub outcome: Result<Measurement, String>,
}

/// What the table's header says about the run.
pub struct Context {
    /// The settings.
    pub settings: Settings,
    /// `sluice serve`'s process ID and data directory, if it ran.
    pub sluice: Option<(u32, PathBuf)>,
    /// The `sluice serve` of `sluice-resp`: process ID, data directory and RESP address.
    pub sluice_resp: Option<(u32, PathBuf, SocketAddr)>,
    /// `redis-server`'s process ID and data directory, if it ran.
    pub redis: Option<(u32, PathBuf)>,
    /// Logical CPUs of the machine.
    pub processors: usize,
    /// /proc/loadavg before the servers started.
    pub load_before: String,
    /// /proc/loadavg after the last workload.
    pub load_after: String,
}

/// The header printed before the first workload runs.
pub fn header(context: &Context) -> String {
    let settings = &context.settings;
    let mut text = String::new();
    let _ = writeln!(text, "Sluice load generator (cargo bench --bench load)");
    let _ = writeln!(
        text,
        "CPU: {} logical CPUs SHARED by the servers and this load generator \
         ({} client runtime threads); figures are for that shared machine, not for a \
         dedicated server",
        context.processors, settings.client_threads
    );
    if let Some((pid, data)) = &context.sluice {
        let _ = writeln!(
            text,
            "sluice: {} serve --fsync {} (pid {pid}, data in {})",
            settings.sluice_binary.display(),
            settings.fsync.name(),
            data.display()
        );
    }
    if let Some((pid, data, address)) = &context.sluice_resp {
        let _ = writeln!(
            text,
            "sluice-resp: {} serve --fsync {} (pid {pid}, data in {}), through its RESP \
             listener {address} with the same client code as redis",
            settings.sluice_binary.display(),
            settings.fsync.name(),
            data.display()
        );
    }
    if let Some((pid, data)) = &context.redis {
        let _ = writeln!(
            text,
            "redis:  {} --save '' {} (pid {pid}, data in {})",
            settings.redis_binary.display(),
            settings.fsync.redis_arguments().join(" "),
            data.display()
        );
    }
    let connections = if settings.connections == settings.clients {
        "each on its own connection".to_owned()
    } else {
        format!("sharing {} connections", settings.connections)
    };
    let _ = writeln!(
        text,
        "load: {} clients per workload, {connections}, one call in flight each (closed loop); \
         tail: 1 writer + {} subscribers; pipeline: {} producers + {} consumers of one group, \
         COUNT {} per read and one XACK per batch",
        settings.clients,
        settings.subscribers,
        settings.producers,
        settings.consumers,
        settings.group_count
    );
    let _ = writeln!(
        text,
        "      entries of one field \"data\" with a 96-byte value; batch = {} entries per Add \
         (redis: {} XADDs per pipeline); range = COUNT {} from a random ID of {} entries",
        settings.batch_entries,
        settings.batch_entries,
        settings.range_count,
        settings.range_stream_entries
    );
    let _ = writeln!(
        text,
        "time: {:.1} s warm-up, then {:.1} s measured, per workload and server",
        settings.warmup.as_secs_f64(),
        settings.measure.as_secs_f64()
    );
    let _ = writeln!(text, "load average before: {}", context.load_before);
    text
}

fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".into(), |value| format!("{value:.decimals$}"))
}

/// The results table, with a legend and the first error of every row that had errors.
pub fn table(rows: &[Row]) -> String {
    let columns = [
        "workload",
        "server",
        "clients",
        "ops/s",
        "entries/s",
        "x redis",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
        "srv µs/call",
        "srv µs/entry",
        "server cpu%",
        "client cpu%",
        "other cpu%",
    ];
    let mut lines: Vec<Vec<String>> = vec![columns.iter().map(|name| name.to_string()).collect()];
    let mut notes = Vec::new();
    for row in rows {
        let mut line = vec![
            row.workload.name().to_owned(),
            row.server.name().to_owned(),
            row.clients.clone(),
        ];
        match &row.outcome {
            Ok(measurement) => {
                line.extend([
                    format!("{:.0}", measurement.operations_per_second()),
                    format!("{:.0}", measurement.entries_per_second()),
                    optional(versus_redis(rows, row), 2),
                    optional(measurement.latency_ms(0.50), 3),
                    optional(measurement.latency_ms(0.99), 3),
                    optional(measurement.latency_ms(0.999), 3),
                    measurement.tally.errors.to_string(),
                    optional(measurement.server_micros_per_call(), 1),
                    optional(measurement.server_micros_per_entry(), 2),
                    optional(measurement.cpu.server_percent, 0),
                    optional(measurement.cpu.client_percent, 0),
                    optional(measurement.cpu.other_percent, 0),
                ]);
                if let Some(error) = &measurement.tally.first_error {
                    notes.push(format!(
                        "{} {}: {} errors, the first: {error}",
                        row.workload.name(),
                        row.server.name(),
                        measurement.tally.errors
                    ));
                }
            }
            Err(error) => {
                line.push("failed".into());
                notes.push(format!(
                    "{} {}: failed: {error}",
                    row.workload.name(),
                    row.server.name()
                ));
            }
        }
        lines.push(line);
    }
    let mut widths = vec![0; columns.len()];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(index, (cell, width))| {
                // Text left, numbers right.
                if index < 3 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        let _ = writeln!(text, "{}", cells.join("  ").trim_end());
    }
    let _ = writeln!(
        text,
        "\nops/s: calls per second (tail: the writer's adds). entries/s: entries added or \
         returned (tail: delivered, summed over subscribers; pipelines: added, delivered and \
         acknowledged). x redis: entries/s over redis's in the same workload (ops/s for \
         workloads without entries).\np50/p99: per call as the client sees it (tail, \
         pipeline: from the producer's call to a subscriber's or consumer's receipt; add-open: \
         from the call's intended start, see load/measure.rs).\nsrv µs/call, µs/entry: the server's CPU time \
         (user and system) in the window over the calls or entries counted in it.\ncpu%: of \
         one core, during the measured window; other: the rest of the machine (other processes, \
         kernel), high when the measurement was disturbed."
    );
    for note in notes {
        let _ = writeln!(text, "{note}");
    }
    text
}

fn entries_per_second(rows: &[Row], workload: Workload, server: ServerKind) -> Option<f64> {
    rows.iter()
        .find(|row| row.workload == workload && row.server == server)
        .and_then(|row| row.outcome.as_ref().ok())
        .map(Measurement::entries_per_second)
}

/// A row's throughput over Redis's in the same workload: entries per second, or calls per
/// second for the workloads without entries (ping, len). None for Redis's own rows and when
/// either is missing.
fn versus_redis(rows: &[Row], row: &Row) -> Option<f64> {
    if row.server == ServerKind::Redis {
        return None;
    }
    let measurement = row.outcome.as_ref().ok()?;
    let redis = rows
        .iter()
        .find(|other| other.workload == row.workload && other.server == ServerKind::Redis)?
        .outcome
        .as_ref()
        .ok()?;
    let (mine, theirs) = if redis.tally.entries > 0 {
        (measurement.entries_per_second(), redis.entries_per_second())
    } else {
        (
            measurement.operations_per_second(),
            redis.operations_per_second(),
        )
    };
    (theirs > 0.0).then(|| mine / theirs)
}

/// The issues' targets: with fsync `always`, unary Add beats Redis XADD without pipelining,
/// batched Add beats Redis with pipelining, and the job pipeline moves at least as many
/// entries as Redis's, in entries per second. Sluice's RESP front end (`sluice-resp`), when it
/// ran, is held to the same, on the same commands as Redis.
pub fn targets(rows: &[Row], fsync: Fsync) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "targets (entries/s, Sluice against Redis):");
    if fsync != Fsync::Always {
        let _ = writeln!(
            text,
            "  (the targets are set for fsync always; this run used {})",
            fsync.name()
        );
    }
    // Lines for the Sluice servers that ran and the workloads that ran.
    let ran = |server| rows.iter().any(|row| row.server == server);
    let workload_ran = |workload| rows.iter().any(|row| row.workload == workload);
    for server in [ServerKind::Sluice, ServerKind::SluiceResp] {
        if !ran(server) {
            continue;
        }
        for (workload, redis_way) in [
            (Workload::Add, "XADD, no pipelining"),
            (Workload::Batch, "pipelined XADD"),
            (Workload::Pipeline, "XADD, XREADGROUP, XACK"),
            (Workload::PipelineStream, "XADD, XREADGROUP, XACK"),
        ] {
            if !workload_ran(workload) {
                continue;
            }
            let sluice = entries_per_second(rows, workload, server);
            let redis = entries_per_second(rows, workload, ServerKind::Redis);
            let line = match (sluice, redis) {
                (Some(sluice), Some(redis)) if redis > 0.0 => {
                    let ratio = sluice / redis;
                    let verdict = if ratio >= 1.0 { "met" } else { "MISSED" };
                    format!(
                        "  {:<15} {} {sluice:.0} vs redis ({redis_way}) {redis:.0}: \
                         {ratio:.2}x  {verdict}",
                        workload.name(),
                        server.name(),
                    )
                }
                _ => format!(
                    "  {:<15} not measured on both {} and redis",
                    workload.name(),
                    server.name()
                ),
            };
            let _ = writeln!(text, "{line}");
        }
    }
    text
}

/// A JSON string literal.
fn json_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            control if (control as u32) < 0x20 => {
                let _ = write!(quoted, "\\u{:04x}", control as u32);
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// A JSON number, or null when unknown (JSON has no NaN or infinity).
fn json_number(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value:.decimals$}"),
        _ => "null".into(),
    }
}

/// The whole report as JSON.
pub fn json(context: &Context, rows: &[Row]) -> String {
    let settings = &context.settings;
    let generated_unix_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut text = String::new();
    let _ = writeln!(text, "{{");
    let _ = writeln!(text, "  \"command\": \"cargo bench --bench load\",");
    let _ = writeln!(
        text,
        "  \"generated_unix_seconds\": {generated_unix_seconds},"
    );
    let _ = writeln!(
        text,
        "  \"machine\": {{\"logical_cpus\": {}, \"shared_by_servers_and_load_generator\": true, \
         \"load_average_before\": {}, \"load_average_after\": {}}},",
        context.processors,
        json_string(&context.load_before),
        json_string(&context.load_after)
    );
    let _ = writeln!(
        text,
        "  \"settings\": {{\"fsync\": {}, \"clients\": {}, \"connections\": {}, \
         \"subscribers\": {}, \"producers\": {}, \"consumers\": {}, \"group_count\": {}, \
         \"warmup_seconds\": {:.3}, \"measure_seconds\": {:.3}, \
         \"batch_entries\": {}, \"range_stream_entries\": {}, \"range_count\": {}, \
         \"client_threads\": {}, \"value_bytes\": {}, \"redis_arguments\": {}, \
         \"servers\": [{}]}},",
        json_string(settings.fsync.name()),
        settings.clients,
        settings.connections,
        settings.subscribers,
        settings.producers,
        settings.consumers,
        settings.group_count,
        settings.warmup.as_secs_f64(),
        settings.measure.as_secs_f64(),
        settings.batch_entries,
        settings.range_stream_entries,
        settings.range_count,
        settings.client_threads,
        crate::settings::VALUE_BYTES,
        json_string(&format!(
            "--save '' {}",
            settings.fsync.redis_arguments().join(" ")
        )),
        settings
            .servers
            .iter()
            .map(|server| json_string(server.name()))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let _ = writeln!(text, "  \"results\": [");
    for (index, row) in rows.iter().enumerate() {
        let mut fields = vec![
            format!("\"workload\": {}", json_string(row.workload.name())),
            format!("\"server\": {}", json_string(row.server.name())),
            format!("\"clients\": {}", json_string(&row.clients)),
        ];
        match &row.outcome {
            Ok(measurement) => fields.extend([
                format!("\"seconds\": {:.3}", measurement.seconds),
                format!("\"operations\": {}", measurement.tally.operations),
                format!(
                    "\"operations_per_second\": {}",
                    json_number(Some(measurement.operations_per_second()), 1)
                ),
                format!("\"entries\": {}", measurement.tally.entries),
                format!(
                    "\"entries_per_second\": {}",
                    json_number(Some(measurement.entries_per_second()), 1)
                ),
                format!(
                    "\"entries_per_second_vs_redis\": {}",
                    json_number(versus_redis(rows, row), 3)
                ),
                format!(
                    "\"latency_p50_ms\": {}",
                    json_number(measurement.latency_ms(0.50), 4)
                ),
                format!(
                    "\"latency_p99_ms\": {}",
                    json_number(measurement.latency_ms(0.99), 4)
                ),
                format!(
                    "\"latency_p999_ms\": {}",
                    json_number(measurement.latency_ms(0.999), 4)
                ),
                format!(
                    "\"latency_max_ms\": {}",
                    json_number(measurement.latency_ms(1.0), 4)
                ),
                format!(
                    "\"server_us_per_call\": {}",
                    json_number(measurement.server_micros_per_call(), 2)
                ),
                format!(
                    "\"server_us_per_entry\": {}",
                    json_number(measurement.server_micros_per_entry(), 3)
                ),
                format!("\"errors\": {}", measurement.tally.errors),
                format!(
                    "\"first_error\": {}",
                    measurement
                        .tally
                        .first_error
                        .as_deref()
                        .map_or_else(|| "null".into(), json_string)
                ),
                format!(
                    "\"server_cpu_percent\": {}",
                    json_number(measurement.cpu.server_percent, 1)
                ),
                format!(
                    "\"client_cpu_percent\": {}",
                    json_number(measurement.cpu.client_percent, 1)
                ),
                format!(
                    "\"other_cpu_percent\": {}",
                    json_number(measurement.cpu.other_percent, 1)
                ),
            ]),
            Err(error) => fields.push(format!("\"failed\": {}", json_string(error))),
        }
        let comma = if index + 1 < rows.len() { "," } else { "" };
        let _ = writeln!(text, "    {{{}}}{comma}", fields.join(", "));
    }
    let _ = writeln!(text, "  ]");
    let _ = writeln!(text, "}}");
    text
}

/// Where the JSON report goes: `target/load-report.json` under the target directory cargo
/// uses (`CARGO_TARGET_DIR` if set, else `target/` beside Cargo.toml).
pub fn json_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|value| !value.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        );
    target.join("load-report.json")
}
