//! `dorafleet`: one binary, one subcommand per role. This file only parses
//! the command line and dispatches; each role lives in its own module.

mod cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "dorafleet",
    version,
    about = "Trustworthy DORA metrics from GitHub, Jira and Jenkins",
    long_about = "dorafleet computes DORA metrics (deployment frequency, lead time for changes, \
change failure rate, failed-deployment recovery time) from GitHub, Jira and Jenkins. It keeps \
every raw API page (bronze) so numbers can be recomputed without touching rate-limited APIs, and \
never publishes a number it cannot vouch for.\n\nStart with `dorafleet demo`: it runs the whole \
pipeline against a built-in simulator of the three APIs, faults included.",
    after_help = "Configuration: --config FILE (or DORAFLEET_CONFIG), overridden by DORAFLEET_SECTION__KEY \
environment variables; `dorafleet config env` lists them all."
)]
struct Cli {
    /// TOML config file (teams, sources, retry policy, warehouse).
    #[arg(long, global = true, env = "DORAFLEET_CONFIG")]
    config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Human)]
    log_format: LogFormatArg,

    /// Who operator actions (replay, discard, release, rerun) are recorded
    /// as in the audit trail; default: DORAFLEET_ACTOR, else the OS user@host.
    #[arg(long, global = true, value_name = "NAME")]
    actor: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline on the embedded defaults against the built-in simulator.
    Demo(cmd::demo::DemoArgs),
    /// Serve the GitHub-, Jira- and Jenkins-compatible simulator.
    Sim(cmd::sim::SimArgs),
    /// Run a stateless worker of the fleet (tasks from RabbitMQ).
    Worker(cmd::worker::WorkerArgs),
    /// Plan runs, publish tasks, follow the fleet's events, archive dead letters.
    Coordinator(cmd::coordinator::CoordinatorArgs),
    /// Follow gold changes and send alerts (webhook / Slack, stdout), each exactly once.
    #[command(long_about = cmd::monitor::LONG_ABOUT, after_help = cmd::monitor::AFTER_HELP)]
    Monitor(cmd::monitor::MonitorArgs),
    /// Run one pipeline run in this process (in-process broker, configured warehouse).
    /// Exits 2 when tasks were dead-lettered or left unfinished, 3 when a sensor
    /// held some team's days out of gold (see `runs show`).
    Standalone(cmd::standalone::StandaloneArgs),
    /// Runs: list them, show one (stages, gates, holds, records per layer), release or rerun a held one.
    Runs(cmd::runs::RunsArgs),
    /// Dead letters: list, show, stats, replay, discard.
    Dlq(cmd::dlq::DlqArgs),
    /// Show gold by day and summarised with DORA performance levels.
    Metrics(cmd::metrics::MetricsArgs),
    /// Recompute silver from bronze and/or gold from silver, with zero API calls.
    Backfill(cmd::backfill::BackfillArgs),
    /// Serve the JSON API and the web dashboard (metrics, the records behind them, the fleet).
    #[command(long_about = cmd::serve::LONG_ABOUT, after_help = cmd::serve::AFTER_HELP)]
    Serve(cmd::serve::ServeArgs),
    /// Check the configuration or list the environment variables it reads.
    Config(cmd::config::ConfigArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    cmd::quiet_on_broken_pipe();
    let cli = Cli::parse();
    cmd::set_actor(cli.actor.as_deref());
    let format = match cli.log_format {
        LogFormatArg::Human => dorafleet_telemetry::LogFormat::Human,
        LogFormatArg::Json => dorafleet_telemetry::LogFormat::Json,
    };
    let config = cli.config.as_deref();
    let (default_filter, role) = match &cli.command {
        Command::Sim(_) => ("info", "sim"),
        Command::Worker(_) => ("info", "worker"),
        Command::Coordinator(_) => ("info", "coordinator"),
        Command::Monitor(_) => ("info", "monitor"),
        Command::Serve(_) => ("info", "serve"),
        Command::Demo(_) => ("warn", "demo"),
        Command::Standalone(_) => ("warn", "standalone"),
        _ => ("warn", "cli"),
    };
    let mut telemetry = match cmd::telemetry(config, default_filter, format, role) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args).await,
        Command::Sim(args) => cmd::sim::run(args).await,
        Command::Standalone(args) => cmd::standalone::run(config, args).await,
        Command::Worker(args) => cmd::worker::run(config, args).await,
        Command::Coordinator(args) => cmd::coordinator::run(config, args).await,
        Command::Monitor(args) => cmd::monitor::run(config, args).await,
        Command::Metrics(args) => cmd::metrics::run(config, args).await,
        Command::Dlq(args) => cmd::dlq::run(config, args).await,
        Command::Runs(args) => cmd::runs::run(config, args).await,
        Command::Backfill(args) => cmd::backfill::run(config, args).await,
        Command::Serve(args) => cmd::serve::run(config, args).await,
        Command::Config(args) => cmd::config::run(config, args),
    };
    // Export the spans still buffered before the process exits.
    telemetry.shutdown();
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
