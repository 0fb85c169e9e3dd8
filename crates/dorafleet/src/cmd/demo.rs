//! `dorafleet demo`: the whole pipeline on the embedded defaults against the
//! in-process simulator, with a small, realistic fault rate, so a newcomer
//! sees in one command what dorafleet does and how it copes with flaky APIs.

use anyhow::Context;
use chrono::{Duration as Days, NaiveTime};
use clap::Args;
use dorafleet_core::{Config, RetryPolicy, Source, Window};
use dorafleet_operations::metrics::team_reports;
use dorafleet_sim::{FaultRule, RunningSim, SimOptions};
use dorafleet_standalone::{StandaloneOptions, run_standalone};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Faults the demo injects unless told otherwise: occasional 5xx on every
/// source, two rate-limit answers from GitHub and one from Jira, and some
/// latency on Jenkins.
const DEMO_FAULTS: &[&str] = &[
    "github:503@0.02",
    "github/pulls:429=1#1",
    "github/deployments:429=1#1",
    "jira:502@0.03",
    "jira:429=1#1",
    "jenkins:500@0.03",
    "jenkins:latency=100@0.05",
];

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the simulated organisation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days of history to extract.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Number of simulated teams.
    #[arg(long, default_value_t = 5)]
    pub teams: usize,
    /// Run without the injected faults.
    #[arg(long)]
    pub no_faults: bool,
    /// Extra faults on top of the demo's (same grammar as `dorafleet sim --fault`).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<FaultRule>,
    /// Tasks run at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Request budget per source, requests/second.
    #[arg(long, default_value = "200")]
    pub requests_per_second: std::num::NonZeroU32,
    /// SQLite file for the demo's warehouse (recreated on every demo run).
    #[arg(long, default_value = ".dorafleet/demo.db")]
    pub warehouse: PathBuf,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut faults: Vec<FaultRule> = if args.no_faults {
        Vec::new()
    } else {
        DEMO_FAULTS
            .iter()
            .map(|s| s.parse().context("built-in demo fault"))
            .collect::<anyhow::Result<_>>()?
    };
    faults.extend(args.faults);
    let options = SimOptions {
        seed: args.seed,
        days: args.days,
        teams: args.teams,
        faults,
        ..SimOptions::default()
    };
    let end = options.end_date;
    let sim = RunningSim::start(options, "127.0.0.1:0")
        .await
        .context("starting the simulator")?;
    let config = demo_config(&sim, args.requests_per_second)?;
    println!(
        "dorafleet demo: simulated organisation of {} teams, {} days (seed {}), simulator at http://{}",
        config.teams.len(),
        args.days,
        args.seed,
        sim.addr()
    );

    for suffix in ["", "-wal", "-shm"] {
        let mut p = args.warehouse.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    let mut config = config;
    config.warehouse.url = format!("sqlite:{}", args.warehouse.display());
    let warehouse = super::connect::open_warehouse(&config).await?;
    let clients = super::source_clients(&config)?;
    let to = end.and_time(NaiveTime::MIN).and_utc();
    let window = Window {
        from: to - Days::days(i64::from(args.days)),
        to,
    };
    let scopes: usize = config.extract_scopes();
    println!("extracting {scopes} scopes over {window} ...");
    let bar = super::summary::progress_bar("pipeline");
    let tick = bar.clone();
    let config = Arc::new(config);
    let summary = run_standalone(
        Some(window),
        Arc::clone(&warehouse),
        clients,
        Arc::clone(&config),
        StandaloneOptions {
            sources: Source::ALL.to_vec(),
            concurrency: args.concurrency,
            worker_name: "demo".into(),
            deadline: Duration::from_secs(600),
        },
        move |p| super::summary::update(&tick, p),
    )
    .await?
    .context("the demo planned no run")?;
    bar.finish_and_clear();
    // Bronze also keeps the changelogs of issues done without a resolution
    // date, which the simulator reports apart from the issues.
    let mut served = sim.state().served_records();
    *served.entry(dorafleet_core::Source::Jira).or_default() += sim
        .state()
        .served_records_of(dorafleet_sim::Endpoint::JiraChangelog);
    super::summary::print(&summary, Some(&served));
    let reports = team_reports(
        warehouse.as_ref(),
        &config,
        &[],
        window.from.date_naive(),
        window.to.date_naive(),
    )
    .await?;
    println!(
        "\nDORA metrics, {} .. {} (levels from the DORA report):",
        window.from.date_naive(),
        window.to.date_naive()
    );
    print!("{}", super::dora_table::summaries(&reports));
    println!(
        "\nwarehouse: {w}\nday by day: DORAFLEET_WAREHOUSE__URL=sqlite:{w} dorafleet metrics --config config/dorafleet.example.toml --team {t}",
        w = args.warehouse.display(),
        t = config.teams.first().map_or("payments", |t| t.id.as_str())
    );
    sim.shutdown().await;
    Ok(if summary.dead > 0 || summary.unfinished > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The example config, written for the simulator's default organisation
/// (`dorafleet sim --print-config`); a test keeps it in step with the simulator.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../../config/dorafleet.example.toml");

/// The configuration a demo run uses: the example file when the organisation
/// is the default one (otherwise the same, generated), pointed at the
/// in-process simulator, with a generous request budget and a retry policy
/// scaled to seconds.
fn demo_config(sim: &RunningSim, rps: std::num::NonZeroU32) -> anyhow::Result<Config> {
    let org = sim.state().organisation();
    let defaults = SimOptions::default();
    let text = if org.seed == defaults.seed && org.teams.len() == defaults.teams {
        EXAMPLE_CONFIG.to_owned()
    } else {
        org.config_toml("http://127.0.0.1:8181")
    };
    let mut config = Config::from_toml(&text).context("the demo's config")?;
    config.retry = RetryPolicy {
        base_ms: 100,
        factor: 2.0,
        cap_ms: 2_000,
        max_attempts: 8,
    };
    for source in Source::ALL {
        let s = config.sources.get_mut(source);
        s.base_url = sim
            .base_url(source)
            .parse()
            .expect("the simulator's URL parses");
        s.requests_per_second = rps;
        s.timeout = std::time::Duration::from_millis(5_000);
    }
    Ok(config)
}
