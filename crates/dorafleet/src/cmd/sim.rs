//! `dorafleet sim`: serve the source simulator until interrupted.

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use dorafleet_core::Source;
use dorafleet_sim::{FaultRule, SimOptions};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8181)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Seed of the synthetic organisation: same seed, same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Days of history served.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Number of teams.
    #[arg(long, default_value_t = 5)]
    pub teams: usize,
    /// GitHub repositories per team (at least 2): `<team>-api`, `<team>-web`
    /// and services `<team>-svc<N>`; `--teams 200 --repos-per-team 5` is a
    /// 1,000-repository organisation.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..))]
    pub repos_per_team: u16,
    /// Last day (exclusive) of the history, YYYY-MM-DD; default today (UTC).
    #[arg(long)]
    pub end_date: Option<NaiveDate>,
    /// Inject a fault, e.g. `github/pulls:429=2@0.05`, `jira:503#3`,
    /// `jenkins:latency=200@0.1`, `github/pulls:truncate#1`,
    /// `jira:drift=created->createdDate@1`. Repeatable. Grammar:
    /// SOURCE[/ENDPOINT]:KIND[=PARAM][@RATE|#COUNT].
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<FaultRule>,
    /// Where the simulator's clock starts, RFC 3339 (e.g.
    /// `2026-03-10T09:00:00Z`): the APIs serve the world as it was then, and
    /// the clock moves only through `PUT /_admin/clock` and
    /// `POST /_admin/clock/advance`. Default: the end of the history.
    #[arg(long, value_name = "INSTANT")]
    pub clock: Option<chrono::DateTime<chrono::Utc>>,
    /// GitHub's hourly request budget the simulator enforces.
    #[arg(long, default_value_t = 5000)]
    pub github_hourly_limit: u32,
    /// Which GitHub to play: `cloud` (github.com, under /github) or
    /// `enterprise` (GitHub Enterprise Server: under /api/v3, rate limiting
    /// disabled, no x-ratelimit-* headers).
    #[arg(long, default_value = "cloud", value_name = "FLAVOUR")]
    pub github_flavour: dorafleet_sim::GithubFlavour,
    /// With `--github-flavour enterprise`: report the disabled rate limit as
    /// `x-ratelimit-limit: 0` / `x-ratelimit-remaining: 0` instead of no header.
    #[arg(long)]
    pub github_zero_rate_limits: bool,
    /// How Jenkins lays out its jobs: `flat` (every job at the top) or
    /// `folders` (a folder per team, the deploy job a multibranch pipeline
    /// with a `main` and a feature branch).
    #[arg(long, default_value = "flat", value_name = "FLAVOUR")]
    pub jenkins_flavour: dorafleet_sim::JenkinsFlavour,
    /// Make Jenkins answer 401 unless requests carry this API token.
    #[arg(long, value_name = "TOKEN")]
    pub jenkins_token: Option<String>,
    /// Print the dorafleet config file that reads this organisation, then exit.
    #[arg(long)]
    pub print_config: bool,
}

pub async fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let mut options = SimOptions {
        seed: args.seed,
        days: args.days,
        teams: args.teams,
        repos_per_team: usize::from(args.repos_per_team),
        faults: args.faults,
        github_hourly_limit: args.github_hourly_limit,
        clock: args.clock,
        github_flavour: args.github_flavour,
        github_zero_rate_limits: args.github_zero_rate_limits,
        jenkins_flavour: args.jenkins_flavour,
        jenkins_token: args.jenkins_token,
        ..SimOptions::default()
    };
    if let Some(end) = args.end_date {
        options.end_date = end;
    }
    if args.print_config {
        let org = dorafleet_sim::generate(&options);
        print!(
            "{}",
            org.config_toml_for(&format!("http://{}:{}", args.bind, args.port), &options)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port))
        .await
        .with_context(|| format!("binding {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    let org = dorafleet_sim::generate(&options);
    println!("simulator listening on http://{addr}");
    for source in Source::ALL {
        println!(
            "  {source:<8} base URL http://{addr}{}",
            options.base_path(source)
        );
    }
    println!(
        "  admin: /_admin/requests /_admin/truth /_admin/org /_admin/stats /_admin/faults /_admin/clock"
    );
    println!(
        "  teams: {}",
        org.team_configs()
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let shutdown = super::shutdown::on_signal();
    dorafleet_sim::serve(options, listener, async move { shutdown.cancelled().await }).await?;
    Ok(ExitCode::SUCCESS)
}
