//! Why an operator action could not be done, and what to do instead.

use dorafleet_broker::BrokerError;
use dorafleet_coordinator::HoldActionError;
use dorafleet_coordinator::replay::ReplayError;
use dorafleet_sources::SourceError;
use dorafleet_standalone::RunError;
use dorafleet_warehouse::WarehouseError;
use uuid::Uuid;

/// Why an operator action failed; the message says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// Ids that name no letter: nothing was changed.
    #[error("unknown dead-letter id(s): {} — nothing was changed", join(.0))]
    UnknownLetters(Vec<Uuid>),
    /// The one letter asked for does not exist.
    #[error("no dead letter with id {0} (see `dorafleet dlq list`)")]
    NoSuchLetter(Uuid),
    /// The run asked for does not exist.
    #[error("no run with id {0} (see `dorafleet runs list`)")]
    NoSuchRun(Uuid),
    /// An audited action without a reason is refused.
    #[error("a reason is required: say why ({0})")]
    NoReason(&'static str),
    /// Releasing or rerunning a held run was refused or failed.
    #[error(transparent)]
    Hold(#[from] HoldActionError),
    /// Replaying dead letters failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// Reading or writing the warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// Publishing to or closing the broker failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// RabbitMQ did not answer where the configuration points.
    #[error("connecting to RabbitMQ at {url} (is it running? see broker.url)")]
    BrokerConnect {
        /// The broker URL tried, without credentials.
        url: String,
        /// What the connection attempt reported.
        #[source]
        source: BrokerError,
    },
    /// Running the published tasks in this process (the in-process
    /// execution) failed.
    #[error("running the published tasks in this process failed")]
    InProcess(#[from] RunError),
    /// A source client could not be built from the configuration.
    #[error("configuring the source clients failed")]
    Sources(#[from] SourceError),
}

fn join(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
