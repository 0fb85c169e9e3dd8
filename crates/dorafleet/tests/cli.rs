//! The binary as an operator uses it.

use std::process::Command;

fn dorafleet() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dorafleet"));
    cmd.env_remove("DORAFLEET_CONFIG").env("NO_COLOR", "1");
    cmd
}

#[test]
fn the_demo_extracts_every_source_and_bronze_matches_what_the_simulator_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let out = dorafleet()
        .args(["demo", "--days", "14", "--teams", "2", "--warehouse"])
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for source in ["github", "jira", "jenkins"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(source))
            .unwrap_or_else(|| panic!("no summary line for {source}:\n{stdout}"));
        assert!(line.ends_with("= bronze"), "{line}");
    }
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    assert!(stdout.contains("dead 0, unfinished 0"), "{stdout}");
    assert!(
        stdout.contains("schema: 0 records rejected; no unknown fields"),
        "the simulator sends only fields the real APIs send:\n{stdout}"
    );
    assert!(db.exists());
}

#[test]
fn an_invalid_config_is_rejected_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[sources.github]\nrequests_per_second = 0\n").unwrap();
    let out = dorafleet()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sources.github.requests_per_second"),
        "{stderr}"
    );
}

#[test]
fn environment_settings_need_a_section_and_a_misspelled_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dorafleet.toml");
    let printed = dorafleet()
        .args(["sim", "--print-config", "--teams", "1"])
        .output()
        .unwrap();
    std::fs::write(&file, &printed.stdout).unwrap();
    let check = |name: &str| {
        dorafleet()
            .args(["config", "check", "--config"])
            .arg(&file)
            .env(name, "1")
            .output()
            .unwrap()
    };
    let unrelated = check("DORAFLEET_BENCH_TASKS");
    assert!(
        unrelated.status.success(),
        "a variable without a section is not a setting: {}",
        String::from_utf8_lossy(&unrelated.stderr)
    );
    let misspelled = check("DORAFLEET_WORKER__CONCURRENCYY");
    assert!(!misspelled.status.success());
    let stderr = String::from_utf8_lossy(&misspelled.stderr);
    assert!(stderr.contains("concurrencyy"), "{stderr}");
}

#[test]
fn a_malformed_fault_spec_is_rejected_with_a_clear_message() {
    let out = dorafleet()
        .args(["demo", "--fault", "gitlab:429"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gitlab"), "{stderr}");
}

#[test]
fn a_token_in_the_environment_never_shows_in_config_check() {
    let out = dorafleet()
        .args(["config", "check"])
        .env("DORAFLEET_SOURCES__GITHUB__TOKEN", "ghp_do_not_print_me")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("token set"), "{all}");
    assert!(!all.contains("do_not_print_me"), "{all}");
}

#[test]
fn the_example_config_is_what_the_simulator_prints_for_its_default_organisation() {
    let out = dorafleet()
        .args(["sim", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/dorafleet.example.toml"
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        committed,
        "regenerate with: dorafleet sim --print-config > config/dorafleet.example.toml"
    );
}

#[test]
fn metrics_after_a_demo_show_days_outside_the_extracted_window_as_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let demo = dorafleet()
        .args([
            "demo",
            "--days",
            "7",
            "--teams",
            "1",
            "--no-faults",
            "--warehouse",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let config = dir.path().join("dorafleet.toml");
    let printed = dorafleet()
        .args(["sim", "--print-config", "--teams", "1"])
        .output()
        .unwrap();
    std::fs::write(&config, &printed.stdout).unwrap();
    let url = format!("sqlite:{}", db.display());
    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Duration::days(9)).to_string();
    let to = today.to_string();

    let csv = dorafleet()
        .args([
            "metrics", "--format", "csv", "--from", &from, "--to", &to, "--config",
        ])
        .arg(&config)
        .env("DORAFLEET_WAREHOUSE__URL", &url)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&csv.stdout);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    let metrics = dorafleet_core::Metric::ALL;
    assert_eq!(rows.len(), 9 * metrics.len(), "{csv}");
    for metric in metrics {
        assert!(
            rows.iter().any(|r| r.contains(&format!(",{metric},"))),
            "{metric}: {csv}"
        );
    }
    let unknown = rows.iter().filter(|r| r.contains(",unknown,")).count();
    assert_eq!(
        unknown,
        2 * metrics.len(),
        "two days before the demo's window are unknown:\n{csv}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains(",deployment_frequency,known,"))
    );

    let json = dorafleet()
        .args([
            "metrics", "--format", "json", "--from", &from, "--to", &to, "--config",
        ])
        .arg(&config)
        .env("DORAFLEET_WAREHOUSE__URL", &url)
        .output()
        .unwrap();
    let reports: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(reports[0]["known_days"], 7);
    assert_eq!(reports[0]["unknown_days"], 2);
    assert!(reports[0]["overall"].is_string());
    let summary = reports[0]["summary"].as_array().unwrap();
    assert_eq!(summary.len(), metrics.len());
    for (s, metric) in summary.iter().zip(metrics) {
        assert_eq!(s["metric"], metric.as_str());
        assert_eq!(s["unknown_days"], 2, "{s}");
        assert!(s["unknown_reason"].is_string(), "{s}");
    }
    let frequency = &summary[0]["deploy_days"];
    assert!(frequency["per_week"].is_number(), "{frequency}");
    assert!(frequency["per_month"].is_number(), "{frequency}");
    let rework = &summary[4];
    assert!(rework["level"].is_null(), "{rework}");
    assert!(rework["no_level_reason"].is_string(), "{rework}");
    assert_eq!(reports[0]["levels"]["year"], 2024, "the default year");

    // The year: the environment (like the file) sets it, the flag wins.
    let levels_year = |flag: &[&str]| {
        let out = dorafleet()
            .args(["metrics", "--format", "json", "--from", &from, "--to", &to])
            .args(flag)
            .arg("--config")
            .arg(&config)
            .env("DORAFLEET_WAREHOUSE__URL", &url)
            .env("DORAFLEET_LEVELS__YEAR", "2021")
            .output()
            .unwrap();
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        reports[0]["levels"]["year"].clone()
    };
    assert_eq!(levels_year(&[]), 2021);
    assert_eq!(levels_year(&["--levels-year", "2023"]), 2023);

    let summary_csv = dorafleet()
        .args([
            "metrics",
            "--format",
            "csv",
            "--summary-only",
            "--from",
            &from,
            "--to",
            &to,
            "--config",
        ])
        .arg(&config)
        .env("DORAFLEET_WAREHOUSE__URL", &url)
        .output()
        .unwrap();
    let summary_csv = String::from_utf8_lossy(&summary_csv.stdout);
    let header = summary_csv.lines().next().unwrap();
    assert!(
        header.contains("deploy_days_per_week,deploy_days_per_month,level,levels_year"),
        "{header}"
    );
    assert_eq!(
        summary_csv.lines().count(),
        1 + metrics.len(),
        "{summary_csv}"
    );

    let backfill = dorafleet()
        .args([
            "backfill",
            "--from-layer",
            "bronze",
            "--from",
            &from,
            "--to",
            &to,
            "--config",
        ])
        .arg(&config)
        .env("DORAFLEET_WAREHOUSE__URL", &url)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&backfill.stdout);
    assert!(
        backfill.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&backfill.stderr)
    );
    let records = 7 * metrics.len();
    assert!(
        out.contains(&format!("{records} gold records")),
        "7 complete days x {} metrics: {out}",
        metrics.len()
    );
}

#[test]
fn a_levels_year_without_levels_is_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("w.db").display());
    let run = |flag: Option<&str>, env: Option<&str>| {
        let mut cmd = dorafleet();
        cmd.args(["metrics", "--team", "pay"])
            .env("DORAFLEET_WAREHOUSE__URL", &url);
        if let Some(year) = flag {
            cmd.args(["--levels-year", year]);
        }
        if let Some(year) = env {
            cmd.env("DORAFLEET_LEVELS__YEAR", year);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(Some("2025"), None);
    assert!(
        err.contains("--levels-year 2025") && err.contains("team profiles"),
        "{err}"
    );
    let err = run(Some("2022"), None);
    assert!(err.contains("2021, 2023 and 2024"), "{err}");
    let err = run(None, Some("2025"));
    assert!(
        err.contains("levels.year") && err.contains("team profiles"),
        "{err}"
    );
}

#[test]
fn a_reader_that_closes_the_pipe_early_ends_the_command_quietly_without_a_panic() {
    use std::io::{BufRead, BufReader};
    let mut child = dorafleet()
        // Far more than a pipe holds, so the writer meets the closed pipe.
        .args(["sim", "--print-config", "--teams", "400"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone, like `| head -1`: the next write meets a broken pipe.
    let out = child.wait_with_output().unwrap();
    assert!(!first.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.code(),
        Some(141),
        "the status of a SIGPIPE death"
    );
}

#[test]
fn the_actor_flag_names_who_an_operator_action_is_recorded_as() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("w.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let letter = dorafleet_core::DeadLetter::for_poison(b"not a task", "garbage".into(), "test");
    runtime.block_on(async {
        let warehouse =
            dorafleet_warehouse::sqlite::SqliteWarehouse::open(url.trim_start_matches("sqlite:"))
                .unwrap();
        use dorafleet_warehouse::LetterArchive;
        warehouse.store_dead_letter(&letter).await.unwrap();
    });
    let out = dorafleet()
        .env("DORAFLEET_WAREHOUSE__URL", &url)
        .env("DORAFLEET_ACTOR", "from-env@ops")
        .args([
            "dlq",
            "discard",
            &letter.id.to_string(),
            "--reason",
            "noise",
            "--yes",
        ])
        .args(["--actor", "olga@ops"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = dorafleet()
        .env("DORAFLEET_WAREHOUSE__URL", &url)
        .args(["dlq", "show", &letter.id.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("olga@ops discarded"), "{text}");
    assert!(
        !text.contains("from-env@ops"),
        "the flag wins over the variable: {text}"
    );
}
