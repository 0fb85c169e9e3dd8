//! `dorafleet serve`: the JSON API and the web dashboard in one process,
//! over the configured warehouse (see the dorafleet-serve crate). This
//! module only wires the configuration, the operator token and shutdown.

use anyhow::Context;
use clap::Args;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// `dorafleet serve --help`: what is served and how operator actions work.
pub const LONG_ABOUT: &str = "Serve the DORA metrics as a JSON API and a web dashboard, from this \
one process, over the configured warehouse (SQLite or MongoDB).\n\n\
Served:\n  \
/                     the dashboard: teams, a team's trends (unknown and held days drawn apart \
from zero), the records behind a day, the fleet\n  \
/api/v1/...           the JSON API; its OpenAPI 3.1 document is /api/v1/openapi.json\n  \
/healthz, /readyz     up; ready when the warehouse answers\n\n\
Reading needs no authentication: bind to loopback (the default, 127.0.0.1:8080) or put it behind \
your proxy. Operator actions — releasing a hold, replaying dead letters — need \
`Authorization: Bearer <token>` with the token in the file `[serve] token_file` \
(DORAFLEET_SERVE__TOKEN_FILE) names; without one they are refused (403). They are audited as \
`serve` with the reason given, like `dorafleet runs release`. Replays publish to the \
configured RabbitMQ (broker.url).\n\n\
Stops on SIGINT or SIGTERM after the requests under way.";

pub const AFTER_HELP: &str = "Examples:\n  \
dorafleet serve --config dorafleet.toml\n  \
openssl rand -hex 32 > /run/secrets/dorafleet-token && \\\n    \
DORAFLEET_SERVE__TOKEN_FILE=/run/secrets/dorafleet-token dorafleet serve --bind 0.0.0.0:8080\n  \
curl -s localhost:8080/api/v1/teams/payments/metrics?from=2026-03-01\n  \
curl -s -X POST -H \"Authorization: Bearer $(cat /run/secrets/dorafleet-token)\" \\\n    \
-d '{\"reason\": \"a release freeze: the quiet week is real\"}' localhost:8080/api/v1/holds/HOLD_ID/release";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, IP:PORT (overrides serve.bind; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
}

pub async fn run(config: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = super::load_config(config)?;
    if let Some(bind) = args.bind {
        config.serve.bind = bind;
    }
    // A bad --bind is named as serve.bind, like the file's key.
    config.validate()?;
    let token = match &config.serve.token_file {
        Some(path) => Some(
            dorafleet_serve::OperatorToken::from_file(path)
                .context("operator actions need a readable token file")?,
        ),
        None => {
            tracing::warn!(
                "no [serve] token_file: operator actions (release, replay) are refused; the read-only API and dashboard work"
            );
            None
        }
    };
    let warehouse = super::connect::open_warehouse(&config).await?;
    let bind = config.serve.bind.clone();
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind} (serve.bind / --bind; is the port taken?)"))?;
    let addr = listener.local_addr()?;
    let state = dorafleet_serve::AppState::new(warehouse, Arc::new(config), token);
    let shutdown = super::shutdown::on_signal();
    eprintln!("dorafleet serve: http://{addr}/ (API at http://{addr}/api/v1/openapi.json)");
    tracing::info!(%addr, "serving the API and the dashboard");
    dorafleet_serve::serve(listener, state, async move { shutdown.cancelled().await })
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
