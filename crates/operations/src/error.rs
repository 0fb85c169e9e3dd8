//! Why an operator action could not be done, and what to do instead.

use dorafleet_broker::BrokerError;
use dorafleet_coordinator::HoldActionError;
use dorafleet_coordinator::replay::ReplayError;
use dorafleet_sources::SourceError;
use dorafleet_standalone::RunError;
use dorafleet_warehouse::WarehouseError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// Ids that name no letter: nothing was changed.
    #[error("unknown dead-letter id(s): {} — nothing was changed", join(.0))]
    UnknownLetters(Vec<Uuid>),
    #[error("no dead letter with id {0} (see `dorafleet dlq list`)")]
    NoSuchLetter(Uuid),
    #[error("no run with id {0} (see `dorafleet runs list`)")]
    NoSuchRun(Uuid),
    /// An audited action without a reason is refused.
    #[error("a reason is required: say why ({0})")]
    NoReason(&'static str),
    #[error(transparent)]
    Hold(#[from] HoldActionError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// RabbitMQ did not answer where the configuration points.
    #[error("connecting to RabbitMQ at {url} (is it running? see broker.url)")]
    BrokerConnect {
        url: String,
        #[source]
        source: BrokerError,
    },
    #[error("running the published tasks in this process failed")]
    InProcess(#[from] RunError),
    #[error("configuring the source clients failed")]
    Sources(#[from] SourceError),
}

fn join(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
