//! Graceful shutdown: one trigger, seen by everything that may wait for long.
//!
//! SIGINT or SIGTERM fires the trigger once. tonic then stops accepting connections and waits
//! for in-flight calls; blocked Reads return UNAVAILABLE and Tail streams end with it, so no
//! call waits for data that would keep the server alive forever. The handlers are installed
//! before the server reports that it listens, so a signal can never find the default action
//! (immediate death) in place.

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

/// Fires the shutdown.
pub struct Trigger {
    sender: watch::Sender<bool>,
}

/// Waits for the shutdown. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// A new, unfired shutdown.
pub fn channel() -> (Trigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (Trigger { sender }, Shutdown { receiver })
}

impl Trigger {
    /// Fires the shutdown (again is harmless).
    pub fn fire(&self) {
        self.sender.send_replace(true);
    }
}

impl Shutdown {
    /// Resolves once the shutdown has fired (at once if it already has, or if the trigger is
    /// gone, since nothing could fire it any more).
    pub async fn fired(&self) {
        let mut receiver = self.receiver.clone();
        let _ = receiver.wait_for(|fired| *fired).await;
    }

    /// Whether the shutdown has fired.
    pub fn is_fired(&self) -> bool {
        *self.receiver.borrow()
    }
}

/// The process's termination signals, installed.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Installs handlers for SIGINT and SIGTERM (replacing their default action).
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal; returns its name.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
