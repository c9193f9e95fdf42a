//! The servers under load: a real `sluice serve` (listening for gRPC and for the Redis
//! protocol) and a `redis-server`, each on loopback ports with its data in a temporary
//! directory, and the CPU time each process has used.
//!
//! Both are owned by guards that kill the process (and then remove its data directory) when
//! dropped, so a run that fails or panics leaves nothing behind. As a second line of defence
//! each child asks the kernel (`PR_SET_PDEATHSIG`) to be killed when the thread that started
//! it exits, which covers the load generator itself being killed; the servers are started
//! from the main thread, which lives for the whole run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::settings::Fsync;

/// How long a server may take to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process killed on drop.
struct Process {
    child: Child,
}

impl Process {
    fn spawn(command: &mut Command) -> Result<Process, String> {
        // SAFETY: the closure runs in the forked child before exec and only calls prctl, which
        // is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let program = command.get_program().to_string_lossy().into_owned();
        command
            .spawn()
            .map(|child| Process { child })
            .map_err(|error| format!("cannot start {program}: {error}"))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited, and how.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(error) => Some(format!("unknown ({error})")),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temporary_directory(parent: Option<&Path>, prefix: &str) -> Result<tempfile::TempDir, String> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    let made = match parent {
        Some(parent) => builder.tempdir_in(parent),
        None => builder.tempdir(),
    };
    made.map_err(|error| format!("cannot create a temporary data directory: {error}"))
}

/// A running `sluice serve`.
pub struct SluiceServer {
    // Fields drop in order: the process dies before its data directory is removed.
    process: Process,
    data: tempfile::TempDir,
    /// Where it listens for gRPC.
    pub address: SocketAddr,
    /// Where it listens for the Redis protocol, if its log says (`resp=` of the listening
    /// line; a binary without a RESP front end has none).
    pub resp_address: Option<SocketAddr>,
}

impl SluiceServer {
    /// Starts `binary serve` on ports the kernel picks (gRPC and RESP) and waits until it
    /// listens. Warnings
    /// and errors the server logs later are echoed to stderr, prefixed `[sluice]`.
    pub fn start(binary: &Path, data_parent: Option<&Path>, fsync: Fsync) -> Result<Self, String> {
        let data = temporary_directory(data_parent, "sluice-load-")?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--resp-listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data.path())
            .arg("--fsync")
            .arg(fsync.name());
        // The flags above are the whole configuration: no SLUICE_* variable of the caller's
        // may change it behind the table's back.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SLUICE_") {
                command.env_remove(name);
            }
        }
        command
            .env("RUST_LOG", "info")
            // The metrics endpoint on a free port (by variable: older binaries ignore it).
            .env("SLUICE_METRICS_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut process = Process::spawn(&mut command)?;
        let stderr = process
            .child
            .stderr
            .take()
            .ok_or("the server's stderr is not piped")?;
        let (sender, lines) = mpsc::channel();
        // Drains stderr for the server's whole life (a full pipe would stall its logging).
        std::thread::spawn(move || {
            let mut listening = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if listening {
                    if line.contains("WARN") || line.contains("ERROR") {
                        eprintln!("[sluice] {line}");
                    }
                } else {
                    listening = listening_address(&line).is_some();
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = listening_address(&line) {
                        return Ok(SluiceServer {
                            process,
                            data,
                            address,
                            resp_address: resp_address(&line),
                        });
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "sluice did not log its address within {START_TIMEOUT:?}:\n{}",
                        seen.join("\n")
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = process.exited().unwrap_or_else(|| "running".into());
                    return Err(format!(
                        "sluice exited ({status}) before listening:\n{}",
                        seen.join("\n")
                    ));
                }
            }
        }
    }

    /// The process ID, for CPU accounting and profiling.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The data directory.
    pub fn data_directory(&self) -> &Path {
        self.data.path()
    }
}

/// `... INFO sluice::server: listening address=127.0.0.1:PORT ...` → the address.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest = line.split(" listening address=").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// `... listening address=127.0.0.1:PORT resp=127.0.0.1:PORT2 ...` → the RESP address.
fn resp_address(line: &str) -> Option<SocketAddr> {
    let rest = line.split(" listening address=").nth(1)?;
    let rest = rest.split(" resp=").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// A running `redis-server`.
pub struct RedisServer {
    process: Process,
    data: tempfile::TempDir,
    /// Where it listens.
    pub address: SocketAddr,
}

impl RedisServer {
    /// Starts `binary` on a free loopback port with persistence matching `fsync` and waits
    /// until it answers PING. Its log goes to `redis.log` in the data directory.
    ///
    /// Redis cannot report a port the kernel picked, so the port is found by binding port 0
    /// and releasing it just before Redis binds it; another process could take it in between,
    /// in which case Redis fails to start and the error says so.
    pub fn start(binary: &Path, data_parent: Option<&Path>, fsync: Fsync) -> Result<Self, String> {
        let data = temporary_directory(data_parent, "redis-load-")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("cannot find a free port: {error}"))?
            .port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let log = data.path().join("redis.log");
        let mut command = Command::new(binary);
        command
            .arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(data.path())
            .arg("--logfile")
            .arg(&log)
            .arg("--daemonize")
            .arg("no")
            .arg("--save")
            .arg("")
            .args(fsync.redis_arguments())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut process = Process::spawn(&mut command)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = process.exited() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "redis-server exited ({status}) before answering:\n{text}"
                ));
            }
            if answers_ping(address) {
                return Ok(RedisServer {
                    process,
                    data,
                    address,
                });
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server did not answer PING on {address} within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process ID, for CPU accounting and profiling.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The data directory.
    pub fn data_directory(&self) -> &Path {
        self.data.path()
    }
}

fn answers_ping(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// CPU time (user + system, all threads) a process has used, in seconds; `None` if it cannot
/// be read (the process is gone, or there is no /proc).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces; the fields after
    // it start with the state (field 3), so utime (14) and stime (15) are the 12th and 13th.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user_ticks: u64 = fields.next()?.parse().ok()?;
    let system_ticks: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return None;
    }
    Some((user_ticks + system_ticks) as f64 / ticks_per_second as f64)
}

/// CPU time (not idle, not waiting for I/O) the whole machine has spent, over all CPUs, in
/// seconds: from the first line of /proc/stat.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&index| ticks.get(index))
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return None;
    }
    Some(busy as f64 / ticks_per_second as f64)
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg shows them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}
