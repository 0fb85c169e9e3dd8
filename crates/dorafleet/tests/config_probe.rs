//! `dorafleet config check --probe` against the simulator: every source
//! answers, and a wrong Jenkins token is reported with the source, the
//! status, the server's message and the key to change (the simulator checks
//! Jenkins credentials when `jenkins_token` is set).

use dorafleet_sim::{JenkinsFlavour, RunningSim, SimOptions};
use std::path::Path;
use std::process::{Command, Output};

const TOKEN: &str = "jenkins-api-token-1166";

async fn sim(flavour: JenkinsFlavour) -> RunningSim {
    let options = SimOptions {
        teams: 2,
        days: 14,
        jenkins_flavour: flavour,
        jenkins_token: Some(TOKEN.into()),
        ..SimOptions::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

/// The simulator's config with Jenkins credentials; the token in a file.
fn write_config(sim: &RunningSim, dir: &Path, token: &str) -> std::path::PathBuf {
    let org = sim.state().organisation();
    let base = format!("http://{}", sim.addr());
    let mut toml = org.config_toml_for(&base, sim.state().options());
    let token_file = dir.join("jenkins-token");
    std::fs::write(&token_file, token).unwrap();
    toml = toml.replacen(
        "[sources.jenkins]\n",
        &format!(
            "[sources.jenkins]\nuser = \"metrics\"\ntoken_file = \"{}\"\n",
            token_file.display()
        ),
        1,
    );
    let file = dir.join("dorafleet.toml");
    std::fs::write(&file, toml).unwrap();
    file
}

async fn probe(file: std::path::PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_dorafleet"))
            .env_remove("DORAFLEET_CONFIG")
            .env("NO_COLOR", "1")
            .args(["config", "check", "--probe", "--config"])
            .arg(&file)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_source_answers_the_probe() {
    for flavour in [JenkinsFlavour::Flat, JenkinsFlavour::Folders] {
        let sim = sim(flavour).await;
        let dir = tempfile::tempdir().unwrap();
        let out = probe(write_config(&sim, dir.path(), TOKEN)).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for source in ["github", "jira", "jenkins"] {
            let line = stdout
                .lines()
                .find(|l| l.starts_with(&format!("probe {source} ")))
                .unwrap_or_else(|| panic!("no probe line for {source}:\n{stdout}"));
            assert!(line.contains(" OK "), "{line}");
        }
        assert!(
            stdout.contains("/whoAmI/api/json: user metrics"),
            "{stdout}"
        );
        assert!(stdout.contains("connection check OK"), "{stdout}");
        assert!(!stdout.contains(TOKEN), "the token is never printed");
        sim.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_jenkins_token_names_the_source_the_status_the_message_and_the_key() {
    let sim = sim(JenkinsFlavour::Folders).await;
    let dir = tempfile::tempdir().unwrap();
    let out = probe(write_config(&sim, dir.path(), "not-the-token-5521")).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a failing source fails the check");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("probe jenkins "))
        .unwrap_or_else(|| panic!("no Jenkins line:\n{stdout}"));
    assert!(line.contains("FAILED"), "{line}");
    assert!(line.contains("401 from Jenkins"), "{line}");
    assert!(
        line.contains("Invalid password/token for user: metrics"),
        "the server's message: {line}"
    );
    assert!(
        line.contains("sources.jenkins.token_file") && line.contains("sources.jenkins.user"),
        "what to change: {line}"
    );
    for other in ["github", "jira"] {
        let l = stdout
            .lines()
            .find(|l| l.starts_with(&format!("probe {other} ")))
            .unwrap();
        assert!(l.contains(" OK "), "{l}");
    }
    assert!(stdout.contains("connection check FAILED"), "{stdout}");
    assert!(!stdout.contains("not-the-token-5521"), "{stdout}");
    sim.shutdown().await;
}
