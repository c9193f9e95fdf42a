//! What recovery changed on disk, reported to the operator and to tests.

use std::path::PathBuf;

/// Something recovery changed on disk: the file, and what was done to it and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The file or directory repaired.
    pub path: PathBuf,
    /// What was done, and why.
    pub action: String,
}

impl Repair {
    /// A repair of `path`.
    pub fn new(path: impl Into<PathBuf>, action: impl Into<String>) -> Repair {
        Repair {
            path: path.into(),
            action: action.into(),
        }
    }
}
