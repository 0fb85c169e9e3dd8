//! Where the tasks an operator action publishes (a replay, a rerun) run:
//! on the fleet — published to RabbitMQ, where a running coordinator
//! follows them — or in this process, on the in-process broker, finished
//! before the action returns (the embedded mode).

use crate::OperationError;
use dorafleet_broker::{Broker, InProcessBroker};
use dorafleet_core::{Config, Source};
use dorafleet_sources::SourceClient;
use dorafleet_standalone::{RunSummary, StandaloneOptions, finish_in_process};
use dorafleet_warehouse::Warehouse;
use std::sync::Arc;
use std::time::Duration;

/// Where an action's tasks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution {
    /// Published to RabbitMQ for the fleet.
    Fleet,
    /// Run here, by an in-process worker of this name.
    InProcess {
        /// Recorded as the worker in the tasks' attempts and events.
        worker_name: String,
    },
}

/// The broker an action publishes to, for as long as the action runs.
pub(crate) struct Dispatch {
    pub(crate) broker: Arc<dyn Broker>,
    in_process: Option<(InProcessBroker, String)>,
}

impl Dispatch {
    pub(crate) async fn open(
        config: &Config,
        execution: &Execution,
    ) -> Result<Self, OperationError> {
        Ok(match execution {
            Execution::Fleet => Dispatch {
                broker: Arc::new(
                    crate::connect::broker(config, None)
                        .await
                        .map_err(|(source, url)| OperationError::BrokerConnect { url, source })?,
                ),
                in_process: None,
            },
            Execution::InProcess { worker_name } => {
                let broker = InProcessBroker::new();
                Dispatch {
                    broker: Arc::new(broker.clone()),
                    in_process: Some((broker, worker_name.clone())),
                }
            }
        })
    }

    /// Fleet: close the connection (the coordinator takes it from here).
    /// In process: run every published task to its end and summarise the
    /// runs they belong to.
    pub(crate) async fn finish(
        self,
        config: &Config,
        warehouse: Arc<dyn Warehouse>,
        published: bool,
    ) -> Result<Vec<RunSummary>, OperationError> {
        let Some((broker, worker_name)) = self.in_process.filter(|_| published) else {
            self.broker.close().await?;
            return Ok(Vec::new());
        };
        Ok(finish_in_process(
            &broker,
            warehouse,
            source_clients(config)?,
            Arc::new(config.clone()),
            StandaloneOptions {
                sources: Source::ALL.to_vec(),
                concurrency: config.worker.concurrency,
                worker_name,
                deadline: Duration::from_secs(3600),
            },
            |_| {},
        )
        .await?)
    }
}

/// One client per source, as configured, with its page size.
pub fn source_clients(config: &Config) -> Result<Vec<(SourceClient, u32)>, OperationError> {
    Source::ALL
        .into_iter()
        .map(|source| {
            let c = config.sources.get(source);
            Ok((SourceClient::new(source, c)?, c.page_size))
        })
        .collect()
}
