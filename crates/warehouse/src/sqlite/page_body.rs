//! How SQLite keeps a bronze page's body: a short one as the text received,
//! a longer one compressed (LZ4 block, its length first) as a BLOB.
//!
//! Why: the bodies are most of the bytes an append writes, and every 4 KiB
//! of them is one more WAL frame to write and later checkpoint. API pages
//! are JSON, which compresses several times over, so a compressed body
//! costs an append a fraction of the frames and bronze a fraction of the
//! disk, for less CPU than the frames it saves.
//!
//! The column stays `TEXT` in the schema: SQLite keeps a BLOB as a BLOB in
//! it, so a value's own type says how it is stored. Rows written before
//! bodies were compressed stay text and read back as they are; nothing is
//! rewritten. The body read back is exactly the body stored.

use crate::{Result, WarehouseError};
use rusqlite::ToSql;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};

/// Bodies shorter than this are kept as text: they fit in their row, and
/// compressing them would save no page.
const COMPRESS_FROM_BYTES: usize = 512;

/// A body as it goes into, or comes out of, the `body` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoredBody {
    /// The text received.
    Text(String),
    /// LZ4 block of the text, with its length first (little-endian `u32`).
    Compressed(Vec<u8>),
}

impl StoredBody {
    /// How `body` is stored: compressed when long enough and smaller so.
    pub(super) fn of(body: &str) -> StoredBody {
        if body.len() >= COMPRESS_FROM_BYTES && u32::try_from(body.len()).is_ok() {
            let compressed = lz4_flex::compress_prepend_size(body.as_bytes());
            if compressed.len() < body.len() {
                return StoredBody::Compressed(compressed);
            }
        }
        StoredBody::Text(body.to_owned())
    }

    /// The body as it was received.
    pub(super) fn into_text(self) -> Result<String> {
        match self {
            StoredBody::Text(text) => Ok(text),
            StoredBody::Compressed(bytes) => {
                let raw = lz4_flex::decompress_size_prepended(&bytes).map_err(|e| {
                    WarehouseError::corrupt_from("a compressed bronze page body", e)
                })?;
                String::from_utf8(raw).map_err(|e| {
                    WarehouseError::corrupt_from("a compressed bronze page body (not UTF-8)", e)
                })
            }
        }
    }
}

impl ToSql for StoredBody {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            StoredBody::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            StoredBody::Compressed(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
        })
    }
}

impl FromSql for StoredBody {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Text(_) => String::column_result(value).map(StoredBody::Text),
            ValueRef::Blob(bytes) => Ok(StoredBody::Compressed(bytes.to_vec())),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(records: usize) -> String {
        let record = r#"{"number":7,"state":"closed","user":{"login":"alice","type":"User"}}"#;
        format!("[{}]", vec![record; records].join(","))
    }

    #[test]
    fn a_long_body_is_stored_compressed_and_reads_back_exactly() {
        let body = page_of(100);
        let stored = StoredBody::of(&body);
        let StoredBody::Compressed(bytes) = &stored else {
            panic!("a {}-byte page stored as text", body.len());
        };
        assert!(
            bytes.len() * 4 < body.len(),
            "{} of {}",
            bytes.len(),
            body.len()
        );
        assert_eq!(stored.into_text().unwrap(), body);
    }

    #[test]
    fn a_short_body_is_kept_as_the_text_received() {
        assert_eq!(StoredBody::of("[]"), StoredBody::Text("[]".into()));
        let body = page_of(1);
        assert_eq!(StoredBody::of(&body).into_text().unwrap(), body);
    }

    #[test]
    fn a_damaged_compressed_body_is_reported_corrupt_not_read_as_text() {
        let StoredBody::Compressed(mut bytes) = StoredBody::of(&page_of(50)) else {
            panic!("not compressed");
        };
        bytes.truncate(bytes.len() / 2);
        let err = StoredBody::Compressed(bytes).into_text().unwrap_err();
        assert!(matches!(err, WarehouseError::Corrupt { .. }), "{err}");
    }
}
