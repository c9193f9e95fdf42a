//! The job-pipeline workload, the same on both servers: `producers` clients add stamped entries
//! to one stream, `consumers` clients of one consumer group read new entries with the group
//! (COUNT `group_count`, blocking) and acknowledge each batch with one XACK of its IDs.
//!
//! Producers run closed loops as the add workload's clients do; their successful calls are the
//! row's operations. A consumer counts an entry when the entry was both added and delivered
//! inside the window and its batch was then acknowledged: the row's entries per second are
//! end-to-end (added, delivered, acknowledged), and its latencies run from the producer's call
//! to the consumer's receipt of the entry. Consumers block for at most [`READ_BLOCK`] at a
//! time, so they see the window end; what is still unread then is left behind uncounted.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::measure::{cpu_during, Measurement, Tally, Window, PAUSE_AFTER_ERROR};
use crate::payload::{self, Stamp};

/// The consumer group's name.
pub const GROUP: &str = "load";
/// How long one group read blocks when nothing is new, in milliseconds.
pub const READ_BLOCK: Duration = Duration::from_millis(100);

/// An entry as a consumer receives it: its ID and the value of its one field.
pub type Received = (String, Vec<u8>);

/// One producer: adds entries whose values it is given.
pub trait Producer: Send + 'static {
    /// Adds one entry with `value`.
    fn add(&mut self, value: Vec<u8>) -> impl Future<Output = Result<(), String>> + Send;
}

/// One consumer of the group.
pub trait Consumer: Send + 'static {
    /// Reads up to COUNT new entries with the group, blocking up to [`READ_BLOCK`] (empty when
    /// nothing came).
    fn read(&mut self) -> impl Future<Output = Result<Vec<Received>, String>> + Send;

    /// Acknowledges `ids`; the reply is how many were pending.
    fn ack(&mut self, ids: Vec<String>) -> impl Future<Output = Result<u64, String>> + Send;
}

/// Runs the producers and consumers over one window that opens after `warmup`.
pub async fn run<P: Producer, C: Consumer>(
    producers: Vec<P>,
    consumers: Vec<C>,
    warmup: Duration,
    measure: Duration,
    server_pid: u32,
) -> Measurement {
    let origin = Instant::now();
    let window = Window::after(warmup, measure);
    let mut tasks: Vec<tokio::task::JoinHandle<Tally>> = Vec::new();
    for producer in producers {
        tasks.push(tokio::spawn(produce(producer, origin, window)));
    }
    for consumer in consumers {
        tasks.push(tokio::spawn(consume(consumer, origin, window)));
    }
    let cpu = cpu_during(window, server_pid).await;
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await.unwrap_or_else(|error| {
            let mut failed = Tally::new();
            failed.error(format!("pipeline task failed: {error}"));
            failed
        }));
    }
    Measurement::new(tallies, window, cpu)
}

/// A producer's closed loop: one stamped entry per call until the window ends.
async fn produce<P: Producer>(mut producer: P, origin: Instant, window: Window) -> Tally {
    let mut tally = Tally::new();
    loop {
        let started = Instant::now();
        if started >= window.end {
            return tally;
        }
        let outcome = producer.add(payload::stamped_value(origin, started)).await;
        let counted = window.contains(started, Instant::now());
        match outcome {
            Ok(()) if counted => tally.operations += 1,
            Ok(()) => {}
            Err(description) => {
                if counted {
                    tally.error(description);
                }
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
            }
        }
    }
}

/// A consumer's loop: read a batch, note when each entry was sent, acknowledge the batch, and
/// count the batch's in-window entries once the acknowledgement is answered.
async fn consume<C: Consumer>(mut consumer: C, origin: Instant, window: Window) -> Tally {
    let mut tally = Tally::new();
    while Instant::now() < window.end {
        let batch = match consumer.read().await {
            Ok(batch) => batch,
            Err(description) => {
                tally.error(description);
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let received = Instant::now();
        let mut latencies = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        for (id, value) in batch {
            match payload::read_stamp(origin, &value) {
                Stamp::Sent(sent) if window.contains(sent, received) => {
                    latencies.push(received - sent)
                }
                Stamp::Sent(_) => {}
                Stamp::Stop | Stamp::Unreadable => {
                    tally.error(format!("entry {id} is not stamped"))
                }
            }
            ids.push(id);
        }
        let expected = ids.len() as u64;
        match consumer.ack(ids).await {
            Ok(acknowledged) if acknowledged == expected => {
                tally.entries += latencies.len() as u64;
                for latency in latencies {
                    tally.latency(latency);
                }
            }
            Ok(acknowledged) => tally.error(format!(
                "{acknowledged} of {expected} delivered entries were pending at XACK"
            )),
            Err(description) => tally.error(description),
        }
    }
    tally
}
