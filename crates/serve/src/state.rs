//! What every handler shares: the warehouse, the configuration (teams,
//! definitions, levels, source base URLs for links back) and the operator
//! token, when one is configured.

use crate::auth::OperatorToken;
use dorafleet_core::Config;
use dorafleet_warehouse::Warehouse;
use std::sync::Arc;

/// The shared state of the API and the dashboard.
#[derive(Clone)]
pub struct AppState {
    /// Where gold, silver, runs, holds and dead letters are read.
    pub warehouse: Arc<dyn Warehouse>,
    /// Teams, definitions, levels and the sources' base URLs.
    pub config: Arc<Config>,
    /// The bearer token operator actions need; `None`: actions are refused.
    pub operator_token: Option<Arc<OperatorToken>>,
}

impl AppState {
    /// The state over `warehouse` and `config`, with operator actions
    /// enabled when `operator_token` is given.
    pub fn new(
        warehouse: Arc<dyn Warehouse>,
        config: Arc<Config>,
        operator_token: Option<OperatorToken>,
    ) -> Self {
        AppState {
            warehouse,
            config,
            operator_token: operator_token.map(Arc::new),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("teams", &self.config.teams.len())
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}
