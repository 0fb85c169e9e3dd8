//! What a driver error means for the caller: retry (`Unavailable`), fix the
//! configuration (`Config`) or stop (`Corrupt`); and the server error codes
//! the warehouse acts on.

use crate::WarehouseError;
use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};

/// A transaction body found the data in a state it cannot work with; carried
/// through the driver with [`DriverError::custom`], which aborts the transaction.
#[derive(Debug)]
struct CorruptData(String);

pub(crate) fn abort_corrupt(message: String) -> DriverError {
    DriverError::custom(CorruptData(message))
}

/// What the caller should do about a driver error.
pub(crate) fn classify(e: DriverError) -> WarehouseError {
    if let Some(CorruptData(message)) = e.get_custom::<CorruptData>() {
        return WarehouseError::corrupt(message.clone());
    }
    match e.kind.as_ref() {
        ErrorKind::InvalidArgument { .. }
        | ErrorKind::Authentication { .. }
        | ErrorKind::InvalidTlsConfig { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::IncompatibleServer { .. }
        | ErrorKind::SessionsNotSupported => WarehouseError::config_from("MongoDB", e),
        ErrorKind::BsonDeserialization(_) | ErrorKind::BsonSerialization(_) => {
            WarehouseError::corrupt_from("MongoDB", e)
        }
        _ => WarehouseError::unavailable_from("MongoDB", e),
    }
}

/// The server's error code, for errors the server answered.
pub(crate) fn server_code(e: &DriverError) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first())
            .map(|w| w.code),
        _ => None,
    }
}

/// E11000: a unique index refused the write.
pub(crate) fn is_duplicate_key(e: &DriverError) -> bool {
    server_code(e) == Some(11000)
}
