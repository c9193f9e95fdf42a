//! Between the wire types of `sluice.v1` and the engine's types.
//!
//! Requests may carry a name or value as text or as bytes; both become bytes here. Replies use
//! the text form whenever the bytes are valid UTF-8, and the bytes form otherwise, so JSON tools
//! show text and nothing binary is ever mangled. IDs are parsed only by the functions of
//! [`crate::id`], so every malformed ID is refused with Redis's own text.

use crate::command::{trim_spec as redis_trim_spec, CommandError};
use crate::id::{AddId, StreamId};
use crate::model::{NewEntry, TrimSpec, TrimStrategy};
use crate::proto::v1;
use crate::server::status::RequestError;

/// The stream a request names. An empty name is a name (Redis allows it); a missing one is an
/// error, as is one longer than any stream can have.
pub fn stream_name(
    key: Option<impl StreamKey>,
    name_bytes_max: usize,
) -> Result<Vec<u8>, RequestError> {
    let name = key.ok_or(RequestError::MissingName("stream"))?.into_name();
    if name.len() > name_bytes_max {
        return Err(crate::error::Error::NameTooLong {
            len: name.len(),
            max: name_bytes_max,
        }
        .into());
    }
    Ok(name)
}

pub use crate::proto::convert::{
    entries_to_proto, entry_to_proto, field_from_proto, text_or_bytes, StreamKey,
};

/// An entry to add: its XADD ID (`*` when empty) and at least one field. An entry without
/// fields is refused first, as Redis's arity check comes before it looks at the ID.
pub fn new_entry(id: &str, fields: Vec<v1::Field>) -> Result<NewEntry, RequestError> {
    if fields.is_empty() {
        return Err(crate::error::Error::EmptyEntry.into());
    }
    let id = if id.is_empty() {
        AddId::Auto
    } else {
        AddId::parse(id.as_bytes())?
    };
    Ok(NewEntry {
        id,
        fields: fields.into_iter().map(field_from_proto).collect(),
    })
}

/// Which command a trim belongs to: they differ in what a missing strategy means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimCommand {
    /// XADD's optional trim.
    Add,
    /// XTRIM, where the trim is the command.
    Trim,
}

/// XADD's / XTRIM's trimming options, with Redis's checks in Redis's order. `None` for an Add
/// without trim.
pub fn trim_spec(
    trim: Option<v1::Trim>,
    command: TrimCommand,
) -> Result<Option<TrimSpec>, RequestError> {
    let Some(trim) = trim else {
        return match command {
            TrimCommand::Add => Ok(None),
            TrimCommand::Trim => Err(CommandError::TrimWithoutStrategy.into()),
        };
    };
    let strategy = match trim.threshold {
        Some(v1::trim::Threshold::Maxlen(count)) => Some(TrimStrategy::MaxLen(count)),
        Some(v1::trim::Threshold::Minid(id)) => {
            Some(TrimStrategy::MinId(StreamId::parse_strict(id.as_bytes())?))
        }
        None => None,
    };
    // The proto cannot tell "LIMIT 0" from no LIMIT; 0 means no limit, as it does in Redis.
    let limit = (trim.limit != 0).then_some(trim.limit);
    let spec = redis_trim_spec(
        strategy,
        trim.approximate,
        limit,
        command == TrimCommand::Trim,
    )?;
    // A trim message that names no strategy is this API's own mistake (XADD has no such
    // form): said so, rather than trimming nothing.
    spec.map(Some).ok_or(RequestError::AddTrimWithoutStrategy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let key = Some(v1::len_request::Key::StreamBytes(vec![1, 2]));
        assert_eq!(stream_name(key, 2).ok(), Some(vec![1, 2]));
        let long = Some(v1::len_request::Key::Stream("abc".into()));
        assert!(matches!(
            stream_name(long, 2),
            Err(RequestError::Engine(crate::error::Error::NameTooLong {
                len: 3,
                max: 2
            }))
        ));
        assert!(matches!(
            stream_name(None::<v1::len_request::Key>, 2),
            Err(RequestError::MissingName("stream"))
        ));
    }

    #[test]
    fn trims() {
        let trim = |threshold, approximate, limit| v1::Trim {
            threshold,
            approximate,
            limit,
        };
        let maxlen = Some(v1::trim::Threshold::Maxlen(5));
        assert!(matches!(trim_spec(None, TrimCommand::Add), Ok(None)));
        assert!(matches!(
            trim_spec(None, TrimCommand::Trim),
            Err(RequestError::Command(CommandError::TrimWithoutStrategy))
        ));
        assert!(matches!(
            trim_spec(Some(trim(None, true, 3)), TrimCommand::Add),
            Err(RequestError::Command(CommandError::LimitWithoutStrategy))
        ));
        assert!(matches!(
            trim_spec(Some(trim(None, false, 0)), TrimCommand::Add),
            Err(RequestError::AddTrimWithoutStrategy)
        ));
        assert!(matches!(
            trim_spec(Some(trim(maxlen.clone(), false, 3)), TrimCommand::Trim),
            Err(RequestError::Command(CommandError::LimitWithoutApprox))
        ));
        assert_eq!(
            trim_spec(Some(trim(maxlen, true, 3)), TrimCommand::Trim).ok(),
            Some(Some(TrimSpec {
                strategy: TrimStrategy::MaxLen(5),
                approx: true,
                limit: 3
            }))
        );
        let bad_minid = Some(v1::trim::Threshold::Minid("-".into()));
        assert!(matches!(
            trim_spec(Some(trim(bad_minid, false, 0)), TrimCommand::Trim),
            Err(RequestError::Engine(crate::error::Error::Id(_)))
        ));
    }

    #[test]
    fn new_entries() {
        assert!(matches!(
            new_entry("bad", Vec::new()),
            Err(RequestError::Engine(crate::error::Error::EmptyEntry))
        ));
        let field = v1::Field::default();
        assert_eq!(
            new_entry("", vec![field.clone()])
                .ok()
                .map(|entry| entry.id),
            Some(AddId::Auto)
        );
        assert_eq!(
            new_entry("5-*", vec![field.clone()])
                .ok()
                .map(|entry| entry.id),
            Some(AddId::AutoSeq(5))
        );
        assert!(new_entry("x", vec![field]).is_err());
    }
}
