//! Where a source's API token comes from: the config value, or a file that is
//! re-read whenever it changes, so a rotated token (a Kubernetes secret update,
//! a vault agent rewrite) is used by the next request without a restart.

use dorafleet_core::Secret;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The token of one source client.
#[derive(Debug)]
pub(crate) enum TokenSource {
    None,
    Fixed(Secret),
    File(TokenFile),
}

/// A token file and the last value read from it, keyed by what identifies a
/// change of the file without reading it (modification time and length).
#[derive(Debug)]
pub(crate) struct TokenFile {
    path: PathBuf,
    cached: Mutex<Option<(FileStamp, Secret)>>,
}

/// What tells a changed file from the one read, without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now.
    pub(crate) fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        Ok(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

impl TokenSource {
    /// The token to send now; `Ok(None)` when the source is unauthenticated.
    pub(crate) fn current(&self) -> std::io::Result<Option<Secret>> {
        match self {
            TokenSource::None => Ok(None),
            TokenSource::Fixed(secret) => Ok(Some(secret.clone())),
            TokenSource::File(file) => file.current().map(Some),
        }
    }
}

impl TokenFile {
    /// Reads the file once, so an unreadable token file fails at start.
    pub(crate) fn open(path: &Path) -> std::io::Result<TokenFile> {
        let file = TokenFile {
            path: path.to_owned(),
            cached: Mutex::new(None),
        };
        file.current()?;
        Ok(file)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn current(&self) -> std::io::Result<Secret> {
        let stamp = FileStamp::of(&self.path)?;
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, secret)) = cached.as_ref().filter(|(seen, _)| *seen == stamp) {
            return Ok(secret.clone());
        }
        let text = std::fs::read_to_string(&self.path)?;
        let secret = Secret::new(text.trim());
        if secret.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "token file is empty",
            ));
        }
        tracing::debug!(path = %self.path.display(), "token file (re)read");
        *cached = Some((stamp, secret.clone()));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_token_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let source = TokenSource::File(TokenFile::open(&path).unwrap());
        assert_eq!(source.current().unwrap().unwrap().expose(), "first");

        std::fs::write(&path, "second-token").unwrap();
        assert_eq!(source.current().unwrap().unwrap().expose(), "second-token");
    }

    #[test]
    fn a_missing_or_empty_token_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(TokenFile::open(&dir.path().join("absent")).is_err());
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        assert!(TokenFile::open(&empty).is_err());
    }
}
