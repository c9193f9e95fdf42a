//! Measuring a workload: a fixed window after a warm-up, closed-loop clients, exact latency
//! percentiles and the CPU time each side used.
//!
//! Every client runs one call at a time, as fast as the server answers (a closed loop), from
//! the moment it is spawned until the window ends. A call counts only if it both started and
//! finished inside the window, so the warm-up and the stragglers after the end are excluded
//! and operations per second is simply the calls counted over the window's length.
//!
//! Latencies are kept whole (one `u64` of nanoseconds per call, in a vector reserved up front)
//! and sorted once at the end: exact percentiles, no histogram buckets, and no allocation in
//! the loop until a client has made more calls than reserved for.
//!
//! A closed loop measures throughput, but its latencies hide what a slow server does to the
//! calls that would have been made meanwhile (coordinated omission). The open loop
//! ([`open_loop`]) offers a fixed rate instead: every client has a schedule of intended start
//! times, and a call that starts late because the previous one was still waiting on the server
//! counts its latency from when it should have started. (A start late only by the timer's
//! granularity counts from the actual start: that delay is the load generator's, not the
//! server's.) Its latencies go into an HdrHistogram (three significant digits).

use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::servers::{cpu_seconds, machine_busy_seconds};

/// Latencies reserved per client before a run, so the loop rarely reallocates.
const LATENCIES_RESERVED: usize = 1 << 16;
/// Pause after a failed call, so a dead server is not hammered in a tight loop.
pub const PAUSE_AFTER_ERROR: Duration = Duration::from_millis(1);

/// The measured interval of a run.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// End of the warm-up.
    pub start: Instant,
    /// End of the measurement; clients stop here.
    pub end: Instant,
}

impl Window {
    /// A window that opens after `warmup` from now and lasts `measure`.
    pub fn after(warmup: Duration, measure: Duration) -> Window {
        let start = Instant::now() + warmup;
        Window {
            start,
            end: start + measure,
        }
    }

    /// Whether an event from `started` to `finished` lies wholly inside.
    pub fn contains(&self, started: Instant, finished: Instant) -> bool {
        started >= self.start && finished <= self.end
    }

    /// The measured length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// What one client (or subscriber) saw inside the window.
#[derive(Debug, Default)]
pub struct Tally {
    /// Calls that succeeded.
    pub operations: u64,
    /// Entries those calls added, returned or delivered.
    pub entries: u64,
    /// Calls that failed, or deliveries that went wrong.
    pub errors: u64,
    /// The first failure's description.
    pub first_error: Option<String>,
    /// One latency per call (per delivered entry, for subscribers), in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// The open loop's latencies, in nanoseconds.
    pub histogram: Option<Histogram<u64>>,
}

impl Tally {
    /// An empty tally with room reserved for latencies.
    pub fn new() -> Tally {
        Tally {
            latencies_ns: Vec::with_capacity(LATENCIES_RESERVED),
            ..Tally::default()
        }
    }

    /// Records a latency.
    pub fn latency(&mut self, latency: Duration) {
        self.latencies_ns
            .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records a failure.
    pub fn error(&mut self, description: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(description);
        }
    }

    /// Adds another tally into this one.
    pub fn merge(&mut self, other: Tally) {
        self.operations += other.operations;
        self.entries += other.entries;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies_ns.extend(other.latencies_ns);
        match (&mut self.histogram, other.histogram) {
            (Some(mine), Some(theirs)) => {
                // Same bounds on both sides: adding cannot fail.
                let _ = mine.add(theirs);
            }
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }
}

/// An empty latency histogram: 1 ns to a minute, three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// CPU time used during the window, as a percentage of one core (so up to 100 × cores): by
/// the server, by the load generator, and by everything else on the machine (other processes,
/// the other server's background work, the kernel's interrupt handling), which shows when a
/// measurement was disturbed.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    /// The server process.
    pub server_percent: Option<f64>,
    /// This process: every client and the runtime driving them.
    pub client_percent: Option<f64>,
    /// The whole machine less the two above.
    pub other_percent: Option<f64>,
}

/// Reads the server's, this process's and the machine's CPU time at the window's start and
/// end.
pub async fn cpu_during(window: Window, server_pid: u32) -> CpuUse {
    let read = || {
        (
            cpu_seconds(Some(server_pid)),
            cpu_seconds(None),
            machine_busy_seconds(),
        )
    };
    tokio::time::sleep_until(window.start.into()).await;
    let (server_before, client_before, machine_before) = read();
    tokio::time::sleep_until(window.end.into()).await;
    let (server_after, client_after, machine_after) = read();
    let percent = |before: Option<f64>, after: Option<f64>| {
        Some((after? - before?) / window.seconds() * 100.0)
    };
    let server_percent = percent(server_before, server_after);
    let client_percent = percent(client_before, client_after);
    let other_percent = percent(machine_before, machine_after)
        .zip(server_percent)
        .zip(client_percent)
        .map(|((machine, server), client)| (machine - server - client).max(0.0));
    CpuUse {
        server_percent,
        client_percent,
        other_percent,
    }
}

/// The result of one workload against one server.
#[derive(Debug)]
pub struct Measurement {
    /// Everything the clients counted.
    pub tally: Tally,
    /// The window's length.
    pub seconds: f64,
    /// CPU use during the window.
    pub cpu: CpuUse,
}

impl Measurement {
    /// Calls per second.
    pub fn operations_per_second(&self) -> f64 {
        self.tally.operations as f64 / self.seconds
    }

    /// Entries per second.
    pub fn entries_per_second(&self) -> f64 {
        self.tally.entries as f64 / self.seconds
    }

    /// The server's CPU time per call counted, in microseconds.
    pub fn server_micros_per_call(&self) -> Option<f64> {
        let calls = self.operations_per_second();
        Some(self.cpu.server_percent? * 1e4 / calls).filter(|_| calls > 0.0)
    }

    /// The server's CPU time per entry counted, in microseconds.
    pub fn server_micros_per_entry(&self) -> Option<f64> {
        let entries = self.entries_per_second();
        Some(self.cpu.server_percent? * 1e4 / entries).filter(|_| entries > 0.0)
    }

    /// The latency at quantile `quantile` (0..=1) in milliseconds, by nearest rank; the
    /// latencies must be sorted.
    pub fn latency_ms(&self, quantile: f64) -> Option<f64> {
        if let Some(histogram) = &self.tally.histogram {
            return (!histogram.is_empty())
                .then(|| histogram.value_at_quantile(quantile) as f64 / 1e6);
        }
        let sorted = &self.tally.latencies_ns;
        if sorted.is_empty() {
            return None;
        }
        let rank = (quantile * sorted.len() as f64).ceil() as usize;
        let index = rank.clamp(1, sorted.len()) - 1;
        Some(sorted[index] as f64 / 1e6)
    }

    /// Merges the clients' tallies and sorts the latencies.
    pub fn new(tallies: Vec<Tally>, window: Window, cpu: CpuUse) -> Measurement {
        let mut tally = Tally::new();
        for one in tallies {
            tally.merge(one);
        }
        tally.latencies_ns.sort_unstable();
        Measurement {
            tally,
            seconds: window.seconds(),
            cpu,
        }
    }
}

/// One request-response call of a workload, made by one client over its own connection.
pub trait Operation: Send + 'static {
    /// Makes the call; `Ok` carries how many entries it added or returned.
    fn call(&mut self) -> impl Future<Output = Result<u64, String>> + Send;
}

/// Runs `operation` in a closed loop until the window ends.
pub async fn drive<O: Operation>(mut operation: O, window: Window) -> Tally {
    let mut tally = Tally::new();
    loop {
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let outcome = operation.call().await;
        let finished = Instant::now();
        let counted = window.contains(started, finished);
        match outcome {
            Ok(entries) => {
                if counted {
                    tally.operations += 1;
                    tally.entries += entries;
                    tally.latency(finished - started);
                }
            }
            Err(description) => {
                if counted {
                    tally.error(description);
                }
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
            }
        }
    }
    tally
}

/// Runs `operation` on its open-loop schedule: a call every `interval` from `first`, each
/// intended inside the window counted (also when it finishes after the window's end).
pub async fn drive_open<O: Operation>(
    mut operation: O,
    window: Window,
    first: Instant,
    interval: Duration,
) -> Tally {
    let mut tally = Tally {
        histogram: Some(histogram()),
        ..Tally::default()
    };
    let mut intended = first;
    let mut free_since = Instant::now();
    while intended < window.end {
        tokio::time::sleep_until(intended.into()).await;
        let sent = Instant::now();
        // Late because the previous call was still out: the server's delay, counted from the
        // intended start. Late only by the timer: counted from the actual start.
        let from = if free_since > intended {
            intended
        } else {
            sent
        };
        let outcome = operation.call().await;
        let finished = Instant::now();
        free_since = finished;
        let counted = intended >= window.start;
        match outcome {
            Ok(entries) if counted => {
                tally.operations += 1;
                tally.entries += entries;
                let nanos = u64::try_from((finished - from).as_nanos()).unwrap_or(u64::MAX);
                if let Some(histogram) = &mut tally.histogram {
                    histogram.saturating_record(nanos.max(1));
                }
            }
            Ok(_) => {}
            Err(description) => {
                if counted {
                    tally.error(description);
                }
            }
        }
        intended += interval;
    }
    tally
}

/// Runs every operation as its own task, all sharing one window that opens after the
/// warm-up, and measures the server's and the clients' CPU use meanwhile.
pub async fn closed_loop<O: Operation>(
    operations: Vec<O>,
    warmup: Duration,
    measure: Duration,
    server_pid: u32,
) -> Measurement {
    let window = Window::after(warmup, measure);
    let tasks: Vec<_> = operations
        .into_iter()
        .map(|operation| tokio::spawn(drive(operation, window)))
        .collect();
    gather(tasks, window, server_pid).await
}

/// Runs every operation as its own task at `rate` calls per second in all (each client a
/// share, their schedules staggered), sharing one window that opens after the warm-up.
pub async fn open_loop<O: Operation>(
    operations: Vec<O>,
    rate: f64,
    warmup: Duration,
    measure: Duration,
    server_pid: u32,
) -> Measurement {
    let window = Window::after(warmup, measure);
    let clients = operations.len().max(1) as f64;
    let interval = Duration::from_secs_f64(clients / rate);
    let begin = Instant::now();
    let tasks: Vec<_> = operations
        .into_iter()
        .enumerate()
        .map(|(index, operation)| {
            let first = begin + Duration::from_secs_f64(index as f64 / rate);
            tokio::spawn(drive_open(operation, window, first, interval))
        })
        .collect();
    gather(tasks, window, server_pid).await
}

/// Measures CPU use over the window and collects the clients' tallies.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
    window: Window,
    server_pid: u32,
) -> Measurement {
    let cpu = cpu_during(window, server_pid).await;
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(tally) => tallies.push(tally),
            Err(error) => {
                let mut failed = Tally::new();
                failed.error(format!("client task failed: {error}"));
                tallies.push(failed);
            }
        }
    }
    Measurement::new(tallies, window, cpu)
}

/// A small, fast pseudo-random generator (xorshift64*), one per client, so picking a random
/// position costs a few instructions and no shared state.
pub struct Random {
    state: u64,
}

impl Random {
    /// A generator seeded from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Random {
        Random {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// A value in `0..bound` (`bound` ≥ 1).
    pub fn below(&mut self, bound: usize) -> usize {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let value = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value % bound as u64) as usize
    }
}
