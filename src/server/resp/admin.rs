//! The connection and server commands around the streams, as clients and Redis's test
//! suites use them: ECHO, QUIT, RESET, HELLO, AUTH, SELECT, CLIENT, FUNCTION, and (through
//! `introspect`) COMMAND, INFO, CONFIG. Their replies and error texts are Redis 7.0.15's.
//!
//! Without `--users`, AUTH and HELLO's AUTH answer as Redis answers when the default user
//! has no password; with it, they check the user's password (see `server::users`). There is
//! one database, 0.

use crate::command::args::{integer, is_keyword, subcommand_syntax_error, unknown_subcommand};
use crate::command::CommandError;
use crate::reply::{self, Reply};
use crate::server::resp::clients::Unblock;
use crate::server::resp::connection::{Connection, End};
use crate::server::resp::encode::Protocol;
use crate::server::resp::introspect::{self, REDIS_VERSION};
use crate::server::users::{AuthError, Credentials};

/// Runs `arguments` if it is a command of this module (`name` is its lowercase name).
pub(super) async fn run(
    connection: &mut Connection,
    name: &str,
    arguments: &[Vec<u8>],
) -> Option<Reply> {
    if let Err(error) = introspect::check(arguments)? {
        return Some(error.into_reply());
    }
    Some(
        match name {
            "echo" => Ok(Reply::Bulk(arguments[1].clone())),
            "quit" => {
                connection.end = Some(End::AfterReplies);
                Ok(reply::ok())
            }
            "reset" => {
                connection.reset();
                Ok(Reply::Status("RESET".to_owned()))
            }
            "hello" => hello(connection, arguments).await,
            "auth" => auth(connection, arguments).await,
            "select" => select(arguments),
            "client" => client(connection, arguments),
            "command" => introspect::command(arguments),
            "info" => Ok(introspect::info(connection, arguments)),
            "config" => introspect::config(connection, arguments),
            "function" => function(arguments),
            // MULTI, EXEC and DISCARD reach here only with a wrong arity.
            _ => Err(CommandError::WrongArity("multi")),
        }
        .unwrap_or_else(CommandError::into_reply),
    )
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]].
async fn hello(connection: &mut Connection, arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let mut protocol = connection.protocol;
    if let Some(version) = arguments.get(1) {
        protocol = match integer(version) {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            Ok(_) => return Err(introspect::refuse("NOPROTO unsupported protocol version")),
            Err(_) => {
                return Err(introspect::refuse(
                    "ERR Protocol version is not an integer or out of range",
                ))
            }
        };
    }
    let mut name = None;
    let mut login = None;
    let mut at = 2;
    while at < arguments.len() {
        let more = arguments.len() - 1 - at;
        if is_keyword(&arguments[at], "auth") && more >= 2 {
            login = Some((&arguments[at + 1], &arguments[at + 2]));
            at += 3;
        } else if is_keyword(&arguments[at], "setname") && more >= 1 {
            name = Some(valid_name(&arguments[at + 1])?);
            at += 2;
        } else {
            return Err(introspect::refuse(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&arguments[at])
            )));
        }
    }
    match login {
        Some((user, password)) => log_in(connection, user, password).await?,
        None if connection.principal().is_none() => {
            return Err(introspect::refuse(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO AUTH <user> <pass> option can be used to authenticate the client and \
                 select the RESP protocol version at the same time",
            ))
        }
        None => {}
    }
    if let Some(name) = name {
        connection.client.set_name(name);
    }
    connection.protocol = protocol;
    connection
        .client
        .set_state(connection.protocol_number(), false);
    Ok(Reply::Map(vec![
        Reply::bulk("server"),
        Reply::bulk("redis"),
        Reply::bulk("version"),
        Reply::bulk(REDIS_VERSION),
        Reply::bulk("proto"),
        Reply::Integer(i64::from(connection.protocol_number())),
        Reply::bulk("id"),
        reply::integer(connection.client.id),
        Reply::bulk("mode"),
        Reply::bulk("standalone"),
        Reply::bulk("role"),
        Reply::bulk("master"),
        Reply::bulk("modules"),
        Reply::Array(Vec::new()),
    ]))
}

/// Redis's refusal of a user name and password.
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Authenticates the connection as `user`. Without `--users` there are no passwords: the
/// default user takes any password and no other user exists, as in Redis without one. With
/// it, the password is checked against the user's hash (off the async workers), and a
/// failure is logged with the client's address.
async fn log_in(
    connection: &mut Connection,
    user: &[u8],
    password: &[u8],
) -> Result<(), CommandError> {
    let Some(users) = connection.shared.users.get().cloned() else {
        return match user {
            b"default" => Ok(()),
            _ => Err(introspect::refuse(WRONGPASS)),
        };
    };
    let credentials = Credentials::Password {
        user: String::from_utf8_lossy(user).into_owned(),
        password: password.to_vec(),
    };
    let claimed = credentials.user().to_owned();
    let verified = users.authenticate(credentials).await;
    match verified {
        Ok(user) => {
            connection.user = Some(user.name.clone());
            Ok(())
        }
        Err(error) => {
            tracing::warn!(
                peer = %connection.client.peer,
                user = ?claimed,
                "RESP authentication failed: {error}"
            );
            Err(introspect::refuse(match error {
                AuthError::Invalid => WRONGPASS,
                AuthError::Busy => "ERR too many authentications in progress; retry later",
            }))
        }
    }
}

/// AUTH [username] password (a lone password is the default user's).
async fn auth(connection: &mut Connection, arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    match arguments {
        [_, _password] if connection.shared.users.get().is_none() => Err(introspect::refuse(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        )),
        [_, password] => log_in(connection, b"default", password)
            .await
            .map(|()| reply::ok()),
        [_, user, password] => log_in(connection, user, password)
            .await
            .map(|()| reply::ok()),
        _ => Err(CommandError::Syntax),
    }
}

/// SELECT index: there is one database.
fn select(arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let index = integer(&arguments[1])?;
    if i32::try_from(index).is_err() {
        return Err(CommandError::NotAnInteger);
    }
    if index != 0 {
        return Err(introspect::refuse("ERR DB index is out of range"));
    }
    Ok(reply::ok())
}

/// A CLIENT SETNAME name: printable ASCII without spaces (empty clears the name).
fn valid_name(name: &[u8]) -> Result<Vec<u8>, CommandError> {
    if name.iter().all(|&byte| (b'!'..=b'~').contains(&byte)) {
        Ok(name.to_vec())
    } else {
        Err(introspect::refuse(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

/// CLIENT's subcommands, with their arities.
const CLIENT_SUBCOMMANDS: &[(&str, i32)] = &[
    ("id", 2),
    ("setname", 3),
    ("getname", 2),
    ("info", 2),
    ("list", -2),
    ("unblock", -3),
    ("help", 2),
];

fn client(connection: &mut Connection, arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let subcommand = &arguments[1];
    let Some((name, arity)) = CLIENT_SUBCOMMANDS
        .iter()
        .find(|(name, _)| subcommand.eq_ignore_ascii_case(name.as_bytes()))
    else {
        return Err(unknown_subcommand(&arguments[0], subcommand));
    };
    let count = arguments.len();
    let fits = match usize::try_from(*arity) {
        Ok(exact) => count == exact,
        Err(_) => count >= arity.unsigned_abs() as usize,
    };
    if !fits {
        return Err(subcommand_syntax_error(arguments));
    }
    let shared = &connection.shared;
    let local = shared.address;
    Ok(match *name {
        "id" => reply::integer(connection.client.id),
        "setname" => {
            connection.client.set_name(valid_name(&arguments[2])?);
            reply::ok()
        }
        "getname" => {
            let name = connection.client.name();
            if name.is_empty() {
                Reply::Nil
            } else {
                Reply::Bulk(name)
            }
        }
        "info" => Reply::Bulk(format!("{}\n", connection.client.describe(local)).into_bytes()),
        "list" => {
            connection.require_admin("client|list")?;
            client_list(connection, &arguments[2..])?
        }
        "unblock" => {
            connection.require_admin("client|unblock")?;
            let id = integer(&arguments[2])?;
            let how = match arguments.get(3) {
                None => Unblock::Timeout,
                Some(word) if is_keyword(word, "timeout") => Unblock::Timeout,
                Some(word) if is_keyword(word, "error") => Unblock::Error,
                Some(_) => {
                    return Err(introspect::refuse(
                        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                    ))
                }
            };
            let unblocked = u64::try_from(id)
                .is_ok_and(|id| id != connection.client.id && shared.clients.unblock(id, how));
            reply::integer(u64::from(unblocked))
        }
        _ => introspect::help_reply(
            "CLIENT",
            &[
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID id [id ...]]",
                "    Return information about client connections.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
            ],
        ),
    })
}

/// CLIENT LIST [TYPE type] [ID id ...].
fn client_list(connection: &Connection, options: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let mut ids: Option<Vec<u64>> = None;
    let mut normal = true;
    match options {
        [] => {}
        [word, kind] if is_keyword(word, "type") => {
            if is_keyword(kind, "normal") {
            } else if ["master", "replica", "slave", "pubsub"]
                .iter()
                .any(|known| is_keyword(kind, known))
            {
                normal = false;
            } else {
                return Err(introspect::refuse(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(kind)
                )));
            }
        }
        [word, rest @ ..] if is_keyword(word, "id") && !rest.is_empty() => {
            let mut wanted = Vec::new();
            for id in rest {
                let id = u64::try_from(integer(id)?)
                    .ok()
                    .filter(|&id| id > 0)
                    .ok_or_else(|| introspect::refuse("ERR Invalid client ID"))?;
                wanted.push(id);
            }
            ids = Some(wanted);
        }
        _ => return Err(CommandError::Syntax),
    }
    let local = connection.shared.address;
    let mut text = String::new();
    for client in connection.shared.clients.all() {
        if normal && ids.as_ref().is_none_or(|ids| ids.contains(&client.id)) {
            text.push_str(&client.describe(local));
            text.push('\n');
        }
    }
    Ok(Reply::Bulk(text.into_bytes()))
}

/// FUNCTION: there are no functions; FLUSH and LIST answer as on a server without any (test
/// suites and tools call them to start clean).
fn function(arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let subcommand = &arguments[1];
    if is_keyword(subcommand, "flush") && arguments.len() <= 3 {
        Ok(reply::ok())
    } else if is_keyword(subcommand, "list") {
        Ok(Reply::Array(Vec::new()))
    } else {
        Err(unknown_subcommand(&arguments[0], subcommand))
    }
}

//END
