//! The connected RESP clients: what CLIENT LIST / INFO show, how CLIENT UNBLOCK reaches a
//! blocked one, and INFO's client counts.
//!
//! Each connection registers a [`Client`] on arrival and removes it when it closes. A client
//! blocked in XREAD or XREADGROUP marks itself blocked; CLIENT UNBLOCK records how to end the
//! wait (as a timeout, or with Redis's `UNBLOCKED` error) and wakes it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::lock::lock;

/// How CLIENT UNBLOCK ends a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// As if the timeout had passed (the default).
    Timeout,
    /// With `UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

/// One connected client.
pub struct Client {
    /// Its CLIENT ID, unique for the server's life.
    pub id: u64,
    /// The peer's address.
    pub peer: SocketAddr,
    /// When it connected.
    pub connected: Instant,
    name: Mutex<Vec<u8>>,
    /// The last command's name and when it ran, for `cmd=` and `idle=`.
    last: Mutex<(&'static str, Instant)>,
    /// 2 or 3.
    protocol: AtomicU8,
    /// Whether it is in MULTI.
    multi: AtomicBool,
    blocked: AtomicBool,
    /// 0: none, 1: timeout, 2: error.
    unblock: AtomicU8,
    woken: Notify,
}

impl Client {
    /// The name CLIENT SETNAME gave (empty: none).
    pub fn name(&self) -> Vec<u8> {
        lock(&self.name).clone()
    }

    /// Sets the name (empty clears it).
    pub fn set_name(&self, name: Vec<u8>) {
        *lock(&self.name) = name;
    }

    /// Records the command about to run (`""`: one Sluice does not know), which arrived `at`.
    pub fn ran(&self, command: &'static str, at: Instant) {
        *lock(&self.last) = (command, at);
    }

    /// Records the protocol version and MULTI state.
    pub fn set_state(&self, protocol: u8, multi: bool) {
        self.protocol.store(protocol, Ordering::Relaxed);
        self.multi.store(multi, Ordering::Relaxed);
    }

    /// Marks the client blocked (or not); leaving clears any unblock request.
    pub fn set_blocked(&self, blocked: bool) {
        if !blocked {
            self.unblock.store(0, Ordering::Release);
        }
        self.blocked.store(blocked, Ordering::Release);
    }

    /// Whether it is blocked now.
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    /// Waits until CLIENT UNBLOCK asks this client to stop waiting; returns how.
    pub async fn unblocked(&self) -> Unblock {
        loop {
            let woken = self.woken.notified();
            match self.unblock.load(Ordering::Acquire) {
                1 => return Unblock::Timeout,
                2 => return Unblock::Error,
                _ => woken.await,
            }
        }
    }

    /// CLIENT LIST's line for this client (without the newline), Redis's fields where they
    /// mean something here.
    pub fn describe(&self, local: SocketAddr) -> String {
        let (command, at) = *lock(&self.last);
        let flags = if self.is_blocked() {
            "b"
        } else if self.multi.load(Ordering::Relaxed) {
            "x"
        } else {
            "N"
        };
        format!(
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={flags} db=0 sub=0 psub=0 \
             ssub=0 multi={} cmd={} user=default redir=-1 resp={}",
            self.id,
            self.peer,
            local,
            String::from_utf8_lossy(&self.name()),
            self.connected.elapsed().as_secs(),
            at.elapsed().as_secs(),
            if self.multi.load(Ordering::Relaxed) {
                0
            } else {
                -1
            },
            if command.is_empty() { "NULL" } else { &command },
            self.protocol.load(Ordering::Relaxed),
        )
    }
}

/// Every connected client, by ID.
#[derive(Default)]
pub struct Clients {
    next_id: AtomicU64,
    table: Mutex<BTreeMap<u64, Arc<Client>>>,
}

impl Clients {
    /// Registers a new connection.
    pub fn register(&self, peer: SocketAddr) -> Arc<Client> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let client = Arc::new(Client {
            id,
            peer,
            connected: Instant::now(),
            name: Mutex::new(Vec::new()),
            last: Mutex::new(("", Instant::now())),
            protocol: AtomicU8::new(2),
            multi: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
            woken: Notify::new(),
        });
        lock(&self.table).insert(id, Arc::clone(&client));
        client
    }

    /// Removes a closed connection.
    pub fn remove(&self, id: u64) {
        lock(&self.table).remove(&id);
    }

    /// How many are connected.
    pub fn count(&self) -> usize {
        lock(&self.table).len()
    }

    /// Every client, by ID.
    pub fn all(&self) -> Vec<Arc<Client>> {
        lock(&self.table).values().cloned().collect()
    }

    /// How many are connected, and how many of them are blocked.
    pub fn counts(&self) -> (usize, usize) {
        let table = lock(&self.table);
        let blocked = table.values().filter(|client| client.is_blocked()).count();
        (table.len(), blocked)
    }

    /// CLIENT UNBLOCK: ends client `id`'s wait; whether it was blocked.
    pub fn unblock(&self, id: u64, how: Unblock) -> bool {
        let Some(client) = lock(&self.table).get(&id).cloned() else {
            return false;
        };
        if !client.is_blocked() {
            return false;
        }
        let code = match how {
            Unblock::Timeout => 1,
            Unblock::Error => 2,
        };
        client.unblock.store(code, Ordering::Release);
        client.woken.notify_waiters();
        true
    }
}
