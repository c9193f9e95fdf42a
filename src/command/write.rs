//! The commands that change streams: XADD, XTRIM, XDEL and XSETID.

use crate::command::args::{c_string, integer, is_keyword};
use crate::command::{Command, CommandError};
use crate::error::Error;
use crate::id::{AddId, StreamId};
use crate::model::{Field, TrimSpec, TrimStrategy};
use crate::reply;

/// XADD's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XAdd {
    /// The stream.
    pub key: Vec<u8>,
    /// NOMKSTREAM: do not create a missing stream.
    pub nomkstream: bool,
    /// MAXLEN / MINID, applied after the add. `limit` is the LIMIT given (0 when absent).
    pub trim: Option<TrimSpec>,
    /// The ID argument.
    pub id: AddId,
    /// The field/value pairs (at least one).
    pub fields: Vec<Field>,
}

/// XSETID's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XSetId {
    /// The stream.
    pub key: Vec<u8>,
    /// The new last-generated ID.
    pub last_id: StreamId,
    /// ENTRIESADDED.
    pub entries_added: Option<u64>,
    /// MAXDELETEDID (`0-0` leaves it unchanged, as in Redis).
    pub max_deleted: Option<StreamId>,
}

/// What `streamParseAddOrTrimArgsOrReply` found.
struct AddTrimArguments {
    trim: Option<TrimSpec>,
    nomkstream: bool,
    /// XADD's ID, and the position of the argument after it.
    id: Option<(AddId, usize)>,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`, for XADD (`xadd`) and XTRIM: the options from
/// the third argument on, in Redis's order of checks.
fn parse_add_or_trim(arguments: &[Vec<u8>], xadd: bool) -> Result<AddTrimArguments, CommandError> {
    let argument_count = arguments.len();
    let mut strategy: Option<TrimStrategy> = None;
    let mut approximate = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut nomkstream = false;
    let mut id = None;
    let mut at = 2;
    while at < argument_count {
        let more = argument_count - 1 - at;
        let option = &arguments[at];
        if xadd && c_string(option) == b"*" {
            id = Some((AddId::Auto, at + 1));
            break;
        } else if (is_keyword(option, "maxlen") || is_keyword(option, "minid")) && more > 0 {
            if strategy.is_some() {
                return Err(CommandError::MaxLenAndMinId);
            }
            approximate = false;
            let next = c_string(&arguments[at + 1]);
            if more >= 2 && next == b"~" {
                approximate = true;
                at += 1;
            } else if more >= 2 && next == b"=" {
                at += 1;
            }
            let threshold = &arguments[at + 1];
            strategy = Some(if is_keyword(option, "maxlen") {
                let maxlen = integer(threshold)?;
                let maxlen = u64::try_from(maxlen).map_err(|_| CommandError::NegativeMaxLen)?;
                TrimStrategy::MaxLen(maxlen)
            } else {
                TrimStrategy::MinId(StreamId::parse_strict(threshold)?)
            });
            at += 1;
        } else if is_keyword(option, "limit") && more > 0 {
            limit = integer(&arguments[at + 1])?;
            if limit < 0 {
                return Err(CommandError::NegativeLimit);
            }
            limit_given = true;
            at += 1;
        } else if xadd && is_keyword(option, "nomkstream") {
            nomkstream = true;
        } else if xadd {
            // Not an option, so it must be the ID.
            id = Some((AddId::parse(option)?, at + 1));
            break;
        } else {
            return Err(CommandError::Syntax);
        }
        at += 1;
    }
    Ok(AddTrimArguments {
        trim: trim_spec(
            strategy,
            approximate,
            limit_given.then_some(limit.unsigned_abs()),
            !xadd,
        )?,
        nomkstream,
        id,
    })
}

pub(super) fn parse_xadd(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let parsed = parse_add_or_trim(arguments, true)?;
    let arity_error = || CommandError::WrongArity("xadd");
    // Running out of arguments before the ID leaves no room for fields: an arity error.
    let (id, fields_at) = parsed.id.ok_or_else(arity_error)?;
    let field_arguments = &arguments[fields_at..];
    if field_arguments.len() < 2 || field_arguments.len() % 2 == 1 {
        return Err(arity_error());
    }
    if id == AddId::Explicit(StreamId::MIN) {
        return Err(Error::AddIdZero.into());
    }
    Ok(Command::XAdd(XAdd {
        key: arguments[1].clone(),
        nomkstream: parsed.nomkstream,
        trim: parsed.trim,
        id,
        fields: field_arguments
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect(),
    }))
}

pub(super) fn parse_xtrim(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let parsed = parse_add_or_trim(arguments, false)?;
    let trim = parsed.trim.ok_or(CommandError::Syntax)?;
    Ok(Command::XTrim {
        key: arguments[1].clone(),
        trim,
    })
}

/// XDEL looks the key up before parsing the IDs: a missing key replies 0 whatever they are.
pub(super) fn parse_xdel(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let key = arguments[1].clone();
    let mut ids = Vec::with_capacity(arguments.len() - 2);
    for argument in &arguments[2..] {
        match StreamId::parse_strict(argument) {
            Ok(id) => ids.push(id),
            Err(error) => {
                return Ok(Command::ErrorUnlessMissing {
                    key,
                    missing: reply::integer(0),
                    error: error.into(),
                })
            }
        }
    }
    Ok(Command::XDel { key, ids })
}

/// `xsetidCommand`: every argument is checked before the key is looked up.
pub(super) fn parse_xsetid(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let last_id = StreamId::parse_strict(&arguments[2])?;
    let mut entries_added = None;
    let mut max_deleted = None;
    let mut at = 3;
    while at < arguments.len() {
        let more = arguments.len() - 1 - at;
        let option = &arguments[at];
        if is_keyword(option, "entriesadded") && more > 0 {
            let value = integer(&arguments[at + 1])?;
            let value = u64::try_from(value).map_err(|_| CommandError::NegativeEntriesAdded)?;
            entries_added = Some(value);
        } else if is_keyword(option, "maxdeletedid") && more > 0 {
            let id = StreamId::parse_strict(&arguments[at + 1])?;
            if last_id < id {
                return Err(Error::SetIdBelowMaxDeleted.into());
            }
            max_deleted = Some(id);
        } else {
            return Err(CommandError::Syntax);
        }
        at += 2;
    }
    Ok(Command::XSetId(XSetId {
        key: arguments[1].clone(),
        last_id,
        entries_added,
        max_deleted,
    }))
}

/// Redis's checks on gathered trimming options, in Redis's order: LIMIT (given when `Some`)
/// needs a strategy and `~`; XTRIM (`xtrim`) needs a strategy. `None` for no trimming.
pub fn trim_spec(
    strategy: Option<TrimStrategy>,
    approximate: bool,
    limit: Option<u64>,
    xtrim: bool,
) -> Result<Option<TrimSpec>, CommandError> {
    if limit.is_some_and(|limit| limit != 0) && strategy.is_none() {
        return Err(CommandError::LimitWithoutStrategy);
    }
    if xtrim && strategy.is_none() {
        return Err(CommandError::TrimWithoutStrategy);
    }
    if limit.is_some() && !approximate {
        return Err(CommandError::LimitWithoutApprox);
    }
    // Redis caps an approximate trim without LIMIT at 100 radix-tree nodes of work; Sluice's
    // `~` removes whole segments, so no LIMIT means no limit (0) here.
    Ok(strategy.map(|strategy| TrimSpec {
        strategy,
        approx: approximate,
        limit: limit.unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use crate::command::test_support::*;
    use crate::command::{XAdd, XSetId};
    use crate::reply::Reply;

    #[test]
    fn xadd_forms() {
        assert_eq!(
            command("XADD s * a 1 b 2"),
            Command::XAdd(XAdd {
                key: b"s".to_vec(),
                nomkstream: false,
                trim: None,
                id: AddId::Auto,
                fields: fields(&[("a", "1"), ("b", "2")]),
            })
        );
        assert_eq!(
            command("xadd s nomkstream MAXLEN ~ 5 LIMIT 10 5-* a 1"),
            Command::XAdd(XAdd {
                key: b"s".to_vec(),
                nomkstream: true,
                trim: Some(TrimSpec {
                    strategy: TrimStrategy::MaxLen(5),
                    approx: true,
                    limit: 10
                }),
                id: AddId::AutoSeq(5),
                fields: fields(&[("a", "1")]),
            })
        );
        let XAddParts { trim, id, .. } = xadd_parts("XADD s MINID = 7 12-3 a 1");
        assert_eq!(
            trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MinId(id_of(7, 0)),
                approx: false,
                limit: 0
            })
        );
        assert_eq!(id, AddId::Explicit(id_of(12, 3)));
        assert_eq!(
            xadd_parts("XADD s maxlen 0 12 a 1").id,
            AddId::Explicit(id_of(12, 0))
        );
        assert_eq!(
            xadd_parts("XADD s MAXLEN 3 * a 1").trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MaxLen(3),
                approx: false,
                limit: 0
            })
        );
        // LIMIT 0 is "no limit", allowed with ~.
        assert_eq!(
            xadd_parts("XADD s MINID ~ 3 LIMIT 0 * a 1").trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MinId(id_of(3, 0)),
                approx: true,
                limit: 0
            })
        );
        // A field may look like an option once the ID is past.
        assert_eq!(
            xadd_parts("XADD s * maxlen 1").fields,
            fields(&[("maxlen", "1")])
        );
        // "0-*" is not 0-0: the sequence is picked by the server.
        assert_eq!(xadd_parts("XADD s 0-* a 1").id, AddId::AutoSeq(0));
    }

    struct XAddParts {
        trim: Option<TrimSpec>,
        id: AddId,
        fields: Vec<Field>,
    }

    fn xadd_parts(line: &str) -> XAddParts {
        match command(line) {
            Command::XAdd(add) => XAddParts {
                trim: add.trim,
                id: add.id,
                fields: add.fields,
            },
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    fn id_of(ms: u64, seq: u64) -> StreamId {
        id(ms, seq)
    }

    #[test]
    fn xadd_errors() {
        let arity = "ERR wrong number of arguments for 'xadd' command";
        for (line, expected) in [
            ("XADD s 1-1 a b c", arity),
            ("XADD s maxlen 1 1-1 a", arity),
            ("XADD s 12-1 a b maxlen", arity),
            ("XADD s nomkstream nomkstream nomkstream", arity),
            ("XADD s bad a b", INVALID_ID),
            ("XADD s maxlen", arity),
            ("XADD s - a b", INVALID_ID),
            (
                "XADD s 0-0 a b",
                "ERR The ID specified in XADD must be greater than 0-0",
            ),
            (
                "XADD s 0 a b",
                "ERR The ID specified in XADD must be greater than 0-0",
            ),
            (
                "XADD s MAXLEN -1 * a b",
                "ERR The MAXLEN argument must be >= 0.",
            ),
            ("XADD s MAXLEN x * a b", NOT_AN_INTEGER),
            ("XADD s MAXLEN 01 * a b", NOT_AN_INTEGER),
            ("XADD s maxlen ~ 1-1 a b", NOT_AN_INTEGER),
            (
                "XADD s MAXLEN 5 LIMIT 10 * a b",
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            (
                "XADD s LIMIT 0 * a b",
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            (
                "XADD s MAXLEN ~ 5 LIMIT -1 * a b",
                "ERR The LIMIT argument must be >= 0.",
            ),
            ("XADD s MAXLEN ~ 5 LIMIT x * a b", NOT_AN_INTEGER),
            (
                "XADD s MAXLEN 5 MINID 3 * a b",
                "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
            ),
            (
                "XADD s LIMIT 5 * a b",
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ),
            ("XADD s MINID bad * a b", INVALID_ID),
            ("XADD s MINID + * a b", INVALID_ID),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn xtrim_forms_and_errors() {
        assert_eq!(
            command("XTRIM s MAXLEN 2"),
            Command::XTrim {
                key: b"s".to_vec(),
                trim: TrimSpec {
                    strategy: TrimStrategy::MaxLen(2),
                    approx: false,
                    limit: 0
                }
            }
        );
        assert_eq!(
            command("xtrim s minid ~ 5-1 limit 7"),
            Command::XTrim {
                key: b"s".to_vec(),
                trim: TrimSpec {
                    strategy: TrimStrategy::MinId(id(5, 1)),
                    approx: true,
                    limit: 7
                }
            }
        );
        for (line, expected) in [
            ("XTRIM s MAXLEN 1 extra", "ERR syntax error"),
            ("XTRIM s FOO 1", "ERR syntax error"),
            ("XTRIM s * 1", "ERR syntax error"),
            ("XTRIM s NOMKSTREAM MAXLEN 1", "ERR syntax error"),
            (
                "XTRIM s LIMIT 1",
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ),
            (
                "XTRIM s LIMIT 0 LIMIT 0",
                "ERR syntax error, XTRIM must be called with a trimming strategy",
            ),
            (
                "XTRIM s MAXLEN = 1 LIMIT 1",
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            ("XTRIM s MAXLEN -3", "ERR The MAXLEN argument must be >= 0."),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn xdel_id_errors_wait_for_the_key() {
        assert_eq!(
            command("XDEL s 1-1 2"),
            Command::XDel {
                key: b"s".to_vec(),
                ids: vec![id(1, 1), id(2, 0)]
            }
        );
        assert_eq!(
            deferred("XDEL s 1-1 bad"),
            (Reply::Integer(0), INVALID_ID.to_owned())
        );
    }

    #[test]
    fn xsetid_forms_and_errors() {
        assert_eq!(
            command("XSETID s 5-1 ENTRIESADDED 9 MAXDELETEDID 3"),
            Command::XSetId(XSetId {
                key: b"s".to_vec(),
                last_id: id(5, 1),
                entries_added: Some(9),
                max_deleted: Some(id(3, 0))
            })
        );
        for (line, expected) in [
            ("XSETID s bad", INVALID_ID),
            ("XSETID s 99-1 ENTRIESADDED", "ERR syntax error"),
            ("XSETID s 99-1 ENTRIESADDED x", NOT_AN_INTEGER),
            (
                "XSETID s 99-1 ENTRIESADDED -1",
                "ERR entries_added must be positive",
            ),
            (
                "XSETID s 99-1 MAXDELETEDID 100-1",
                "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
            ),
            ("XSETID s 99-1 MAXDELETEDID bad", INVALID_ID),
            ("XSETID s 99-1 FOO 1", "ERR syntax error"),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn keywords_are_c_strings() {
        // Redis compares options with strcasecmp, which stops at a NUL byte.
        assert_eq!(
            xadd_parts("XADD s \"MAXLEN\\x00junk\" 1 * a b").trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MaxLen(1),
                approx: false,
                limit: 0
            })
        );
    }
}
