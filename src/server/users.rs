//! Users and their permissions: the `--users` file, checking credentials, and reloading the
//! file on SIGHUP.
//!
//! The file is TOML, one table per user:
//!
//! ```toml
//! [users.alice]
//! password = "$argon2id$v=19$m=19456,t=2,p=1$…"   # `sluice passwd` prints this
//! tokens = ["$argon2id$…"]                         # bearer tokens (`sluice passwd --token alice`)
//! read = ["*"]                                     # stream-name patterns (Redis glob)
//! write = ["orders:*"]
//! consume = ["orders:*"]
//! admin = []
//! ```
//!
//! Secrets are stored only as argon2 hashes (PHC strings), never in clear. A bearer token is
//! `USER.SECRET`; the user part says whose hashes to check. Verifying a hash is deliberately
//! slow (tens of milliseconds), so a credential that verified is remembered under a keyed
//! digest (HMAC-SHA-256 with a key drawn at startup) for later calls; the cache is dropped
//! whenever the file is reloaded. Hash comparison is argon2's own, in constant time; an
//! unknown user is checked against a dummy hash so that timing does not reveal which names
//! exist.
//!
//! Guarantees: a file that does not parse, names a permission that does not exist, or holds
//! a secret that is not an argon2 hash is refused as a whole (at startup: the server does not
//! start; on reload: the previous users stay in force and the error is logged).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::glob::glob_match;

/// What a user may do to the streams whose names match a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Range, Read, Tail, Len, Info; listing names.
    Read,
    /// Add, Delete, Trim, SetId.
    Write,
    /// Group reads, acknowledgements, claims, pending lists.
    Consume,
    /// Create and destroy groups and consumers, drop and rename streams, change policies.
    Admin,
}

impl Permission {
    /// Every permission, in the file's order.
    pub const ALL: [Permission; 4] = [
        Permission::Read,
        Permission::Write,
        Permission::Consume,
        Permission::Admin,
    ];

    /// Its name in the file and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Consume => "consume",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One user: secrets (hashed) and, per permission, the stream-name patterns it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name it authenticates with.
    pub name: String,
    password: Option<String>,
    tokens: Vec<String>,
    grants: HashMap<Permission, Vec<Vec<u8>>>,
}

impl User {
    /// Whether the user holds `permission` on the stream called `stream`.
    pub fn may(&self, permission: Permission, stream: &[u8]) -> bool {
        self.grants
            .get(&permission)
            .is_some_and(|patterns| patterns.iter().any(|p| glob_match(p, stream)))
    }

    /// Whether the user holds `permission` on every stream (a pattern `*`).
    pub fn may_all(&self, permission: Permission) -> bool {
        self.grants
            .get(&permission)
            .is_some_and(|patterns| patterns.iter().any(|p| p == b"*"))
    }
}

/// Credentials a client presents.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (gRPC basic credentials, RESP AUTH).
    Password {
        /// The user.
        user: String,
        /// The password, as sent.
        password: Vec<u8>,
    },
    /// A bearer token, `USER.SECRET`.
    Token(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(formatter, "Password({user}, …)"),
            Credentials::Token(_) => formatter.write_str("Token(…)"),
        }
    }
}

impl Credentials {
    /// The user these credentials name (for logs).
    pub fn user(&self) -> &str {
        match self {
            Credentials::Password { user, .. } => user,
            Credentials::Token(token) => token.split_once('.').map_or("", |(user, _)| user),
        }
    }

    /// Bytes that identify the credentials, for the verified cache's digest.
    fn identity(&self) -> Vec<u8> {
        match self {
            Credentials::Password { user, password } => {
                let mut bytes = b"p".to_vec();
                bytes.extend_from_slice(&(user.len() as u64).to_le_bytes());
                bytes.extend_from_slice(user.as_bytes());
                bytes.extend_from_slice(password);
                bytes
            }
            Credentials::Token(token) => [b"t".as_slice(), token.as_bytes()].concat(),
        }
    }
}

/// The users of one version of the file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UserTable {
    users: HashMap<String, Arc<User>>,
}

impl UserTable {
    /// Parses the file's text; the error says where it is wrong.
    pub fn parse(text: &str) -> Result<UserTable, String> {
        let root: toml::Table = text.parse().map_err(|error| format!("{error}"))?;
        let mut users = HashMap::new();
        for (key, value) in &root {
            if key != "users" {
                return Err(format!(
                    "unknown top-level key {key:?} (expected [users.NAME])"
                ));
            }
            let table = value.as_table().ok_or("`users` must be a table of users")?;
            for (name, user) in table {
                let user = user
                    .as_table()
                    .ok_or_else(|| format!("users.{name} must be a table"))?;
                users.insert(name.clone(), Arc::new(parse_user(name, user)?));
            }
        }
        Ok(UserTable { users })
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<UserTable, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("--users {}: {error}", path.display()))?;
        UserTable::parse(&text).map_err(|error| format!("--users {}: {error}", path.display()))
    }

    /// The user called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<User>> {
        self.users.get(name)
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none (every call is then refused).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn parse_user(name: &str, table: &toml::Table) -> Result<User, String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-@".contains(&b))
    {
        return Err(format!(
            "user name {name:?}: use letters, digits, '_', '-' and '@' only"
        ));
    }
    let mut user = User {
        name: name.to_owned(),
        password: None,
        tokens: Vec::new(),
        grants: HashMap::new(),
    };
    for (key, value) in table {
        let at = || format!("users.{name}.{key}");
        match key.as_str() {
            "password" => {
                let hash = value
                    .as_str()
                    .ok_or_else(|| format!("{} must be a string", at()))?;
                user.password = Some(checked_hash(hash).map_err(|e| format!("{}: {e}", at()))?);
            }
            "tokens" => {
                for hash in strings(value).ok_or_else(|| format!("{} must be strings", at()))? {
                    user.tokens
                        .push(checked_hash(hash).map_err(|e| format!("{}: {e}", at()))?);
                }
            }
            other => {
                let permission = Permission::ALL
                    .into_iter()
                    .find(|permission| permission.name() == other)
                    .ok_or_else(|| {
                        format!(
                            "{}: unknown key (expected password, tokens, read, write, consume, \
                             admin)",
                            at()
                        )
                    })?;
                let patterns = strings(value)
                    .ok_or_else(|| format!("{} must be a list of stream patterns", at()))?;
                user.grants.insert(
                    permission,
                    patterns
                        .into_iter()
                        .map(|p| p.as_bytes().to_vec())
                        .collect(),
                );
            }
        }
    }
    Ok(user)
}

fn strings(value: &toml::Value) -> Option<Vec<&str>> {
    value.as_array()?.iter().map(toml::Value::as_str).collect()
}

/// `hash` if it is an argon2 PHC string.
fn checked_hash(hash: &str) -> Result<String, String> {
    let parsed =
        PasswordHash::new(hash).map_err(|error| format!("not a password hash: {error}"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!(
            "{} hashes are not accepted; use argon2 (`sluice passwd`)",
            parsed.algorithm
        ));
    }
    Ok(hash.to_owned())
}

/// The argon2id PHC string of `secret`, with a fresh random salt (what `sluice passwd`
/// prints).
pub fn hash_secret(secret: &[u8]) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|error| format!("no randomness: {error}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|error| error.to_string())?;
    Argon2::default()
        .hash_password(secret, &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| error.to_string())
}

/// A fresh bearer token for `user`: `USER.` and 32 random hex digits.
pub fn new_token(user: &str) -> Result<String, String> {
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|error| format!("no randomness: {error}"))?;
    let hex: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("{user}.{hex}"))
}

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No such user, or the secret does not match.
    #[error("invalid username-password pair or token")]
    Invalid,
    /// Too many credentials are waiting to be checked (a flood of guesses, most likely).
    #[error("too many authentications in progress; retry later")]
    Busy,
}

/// Most verified credentials remembered at once (the cache is emptied when full).
const VERIFIED_MAX: usize = 4096;

/// Most hashes checked at once: each takes argon2's 19 MiB and tens of milliseconds of a
/// core, so a flood of wrong passwords queues here instead of taking the memory and every
/// blocking thread.
const VERIFYING_MAX: usize = 2;

/// Most credentials waiting for a check at once; more are refused at once ([`AuthError::Busy`])
/// rather than queued behind a flood.
const WAITING_MAX: usize = 64;

/// The users in force, reloadable, with the cache of verified credentials.
pub struct Users {
    path: PathBuf,
    table: RwLock<Arc<UserTable>>,
    verified: Mutex<HashMap<[u8; 32], String>>,
    key: [u8; 32],
    /// Verified against for an unknown user, so its refusal takes as long as a known one's.
    dummy: String,
    /// Permits to check a hash ([`VERIFYING_MAX`]).
    verifying: tokio::sync::Semaphore,
    /// Places in the queue for those permits ([`WAITING_MAX`]).
    waiting: Arc<tokio::sync::Semaphore>,
    /// Bumped by each reload (under the cache's lock): a check that began before a reload
    /// is not remembered after it.
    generation: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Users {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Users({})", self.path.display())
    }
}

impl Users {
    /// Loads the file at `path`.
    pub fn load(path: &Path) -> Result<Users, String> {
        let table = UserTable::load(path)?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|error| format!("no randomness: {error}"))?;
        Ok(Users {
            path: path.to_owned(),
            table: RwLock::new(Arc::new(table)),
            verified: Mutex::new(HashMap::new()),
            key,
            dummy: hash_secret(b"not a real secret")?,
            verifying: tokio::sync::Semaphore::new(VERIFYING_MAX),
            waiting: Arc::new(tokio::sync::Semaphore::new(WAITING_MAX)),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users in force now.
    pub fn table(&self) -> Arc<UserTable> {
        Arc::clone(
            &self
                .table
                .read()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }

    /// The user called `name` in the table in force now.
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.table().get(name).cloned()
    }

    /// Reads the file again; on success it replaces the users and forgets every verified
    /// credential, on failure nothing changes. Returns how many users there are now.
    pub fn reload(&self) -> Result<usize, String> {
        let table = UserTable::load(&self.path)?;
        let count = table.len();
        *self
            .table
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = Arc::new(table);
        self.verified
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
        Ok(count)
    }

    /// The user `credentials` name if they were verified before (and the file has not been
    /// reloaded since): cheap, no hashing.
    pub fn remembered(&self, credentials: &Credentials) -> Option<Arc<User>> {
        let digest = self.digest(credentials);
        let name = self
            .verified
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&digest)
            .cloned()?;
        self.user(&name)
    }

    /// Verifies `credentials` from async code: at once if remembered, else on the blocking
    /// pool, at most [`VERIFYING_MAX`] at a time.
    pub async fn authenticate(
        self: &Arc<Self>,
        credentials: Credentials,
    ) -> Result<Arc<User>, AuthError> {
        if let Some(user) = self.remembered(&credentials) {
            return Ok(user);
        }
        let Ok(_place) = Arc::clone(&self.waiting).try_acquire_owned() else {
            return Err(AuthError::Busy);
        };
        let Ok(_permit) = self.verifying.acquire().await else {
            return Err(AuthError::Invalid);
        };
        let users = Arc::clone(self);
        tokio::task::spawn_blocking(move || users.verify(&credentials))
            .await
            .unwrap_or(Err(AuthError::Invalid))
    }

    /// Verifies `credentials` against their hash (slow: run it off the async workers; callers
    /// look in [`Users::remembered`] first) and remembers them if they hold.
    pub fn verify(&self, credentials: &Credentials) -> Result<Arc<User>, AuthError> {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let table = self.table();
        let user = table.get(credentials.user());
        let (secret, hashes): (&[u8], Vec<&str>) = match (credentials, user) {
            (Credentials::Password { password, .. }, Some(user)) => {
                (password, user.password.iter().map(String::as_str).collect())
            }
            (Credentials::Token(token), Some(user)) => (
                token.as_bytes(),
                user.tokens.iter().map(String::as_str).collect(),
            ),
            (Credentials::Password { password, .. }, None) => (password, Vec::new()),
            (Credentials::Token(token), None) => (token.as_bytes(), Vec::new()),
        };
        let matched = if hashes.is_empty() {
            let _ = matches(&self.dummy, secret);
            false
        } else {
            hashes.iter().any(|hash| matches(hash, secret))
        };
        match (matched, user) {
            (true, Some(user)) => {
                let mut verified = self
                    .verified
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                if verified.len() >= VERIFIED_MAX {
                    verified.clear();
                }
                // Not remembered if the file was reloaded meanwhile (the secret may be gone).
                if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
                    verified.insert(self.digest(credentials), user.name.clone());
                }
                Ok(Arc::clone(user))
            }
            _ => Err(AuthError::Invalid),
        }
    }

    fn digest(&self, credentials: &Credentials) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            unreachable!("HMAC takes a key of any length")
        };
        mac.update(&credentials.identity());
        mac.finalize().into_bytes().into()
    }
}

/// Whether `secret` matches the PHC string `hash` (constant-time comparison, by argon2).
fn matches(hash: &str, secret: &[u8]) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(secret, &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn alice(password: &str, write: &str) -> String {
        format!(
            "[users.alice]\npassword = \"{}\"\nread = [\"*\"]\nwrite = [\"{write}\"]\n",
            hash_secret(password.as_bytes()).unwrap()
        )
    }

    fn password(user: &str, password: &str) -> Credentials {
        Credentials::Password {
            user: user.to_owned(),
            password: password.as_bytes().to_vec(),
        }
    }

    #[test]
    fn permissions_follow_the_patterns() {
        let table = UserTable::parse(&alice("pw", "orders:*")).unwrap();
        let alice = table.get("alice").unwrap();
        assert!(alice.may(Permission::Read, b"anything"));
        assert!(alice.may(Permission::Write, b"orders:eu"));
        assert!(!alice.may(Permission::Write, b"payments"));
        assert!(!alice.may(Permission::Admin, b"orders:eu"));
        assert!(alice.may_all(Permission::Read) && !alice.may_all(Permission::Write));
    }

    #[test]
    fn bad_files_are_refused_with_the_place() {
        for (text, expected) in [
            ("[users.bob]\nread = \"*\"\n", "users.bob.read"),
            ("[users.bob]\ndelete = [\"*\"]\n", "unknown key"),
            (
                "[users.bob]\npassword = \"hunter2\"\n",
                "not a password hash",
            ),
            ("[users.\"b b\"]\nread = [\"*\"]\n", "user name"),
            ("[people.bob]\n", "unknown top-level key"),
            ("[users.bob\n", ""),
        ] {
            let error = UserTable::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn passwords_and_tokens_verify_and_wrong_ones_do_not() {
        let token = new_token("alice").unwrap();
        let text = format!(
            "{}tokens = [\"{}\"]\n",
            alice("pw", "*"),
            hash_secret(token.as_bytes()).unwrap()
        );
        let (_dir, path) = file(&text);
        let users = Users::load(&path).unwrap();
        assert_eq!(
            users.verify(&password("alice", "pw")).unwrap().name,
            "alice"
        );
        assert!(users.remembered(&password("alice", "pw")).is_some());
        assert_eq!(
            users.verify(&password("alice", "wrong")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            users.verify(&password("mallory", "pw")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            users
                .verify(&Credentials::Token(token.clone()))
                .unwrap()
                .name,
            "alice"
        );
        let forged = format!("{token}0");
        assert_eq!(
            users.verify(&Credentials::Token(forged)),
            Err(AuthError::Invalid)
        );
        assert!(users.remembered(&password("alice", "wrong")).is_none());
    }

    #[test]
    fn a_reload_replaces_users_and_forgets_verified_credentials() {
        let (_dir, path) = file(&alice("old", "*"));
        let users = Users::load(&path).unwrap();
        users.verify(&password("alice", "old")).unwrap();

        std::fs::write(&path, "[users.bob\n").unwrap();
        assert!(users.reload().is_err());
        assert!(
            users.remembered(&password("alice", "old")).is_some(),
            "kept on a bad file"
        );

        std::fs::write(&path, alice("new", "orders")).unwrap();
        assert_eq!(users.reload(), Ok(1));
        assert!(users.remembered(&password("alice", "old")).is_none());
        assert_eq!(
            users.verify(&password("alice", "old")),
            Err(AuthError::Invalid)
        );
        let alice = users.verify(&password("alice", "new")).unwrap();
        assert!(!alice.may(Permission::Write, b"other"));
    }
}
