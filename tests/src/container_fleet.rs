//! The fleet as it is deployed: every role in its own container on a
//! private network — RabbitMQ, the simulator, coordinators, workers — with
//! the warehouse on MongoDB. Tests disconnect, kill, pause and restart the
//! containers and then hold the fleet to the simulator's ground truth.
//!
//! What runs where:
//! - the roles run the `dorafleet` binary this test build made, mounted into
//!   a container of the runtime image (`dorafleet-runtime:bookworm`: the
//!   Dockerfile's runtime stage without the binary, built by
//!   `scripts/build-images.sh`), so a test always exercises the code under
//!   test; the image the Dockerfile builds is exercised by `docker compose up`
//!   (`scripts/compose-test.sh`);
//! - RabbitMQ is the image docker-compose.yml names (or its stand-in);
//! - MongoDB is the server `MONGODB_URI` names (the emulator on the host in
//!   `scripts/test.sh`), which the containers reach through a forwarder this
//!   process runs on the network's gateway: a partitioned worker loses the
//!   warehouse with everything else;
//! - the OTLP receiver (standing in for Jaeger) runs in this process, on the
//!   gateway too.

use crate::containers::{Container, Network, Spec, docker};
use crate::fleet_support::{eventually, http_get};
use crate::otlp_receiver::OtlpReceiver;
use chrono::NaiveDate;
use dorafleet_sim::{RequestLogEntry, SimOptions, TruthRecord};
use dorafleet_warehouse::mongo::MongoWarehouse;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The image every dorafleet role runs in (the binary is mounted).
pub const RUNTIME_IMAGE: &str = "dorafleet-runtime:bookworm";
/// The RabbitMQ image docker-compose.yml names.
pub const RABBITMQ_IMAGE: &str = "rabbitmq:4.1-management";
/// The simulator's port inside its container.
const SIM_PORT: u16 = 8181;

/// The simulated organisation's days of history and their end.
pub const DAYS: u32 = 21;
pub fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

/// A fleet in containers; every container and the network go with it.
#[derive(Debug)]
pub struct ContainerFleet {
    pub id: String,
    pub dir: tempfile::TempDir,
    // Containers before the network: dropped first.
    pub rabbitmq: Container,
    pub sim: Container,
    pub roles: BTreeMap<String, Container>,
    pub network: Network,
    pub receiver: OtlpReceiver,
    /// The warehouse as this process reaches it (on the host).
    pub warehouse: MongoWarehouse,
    /// The simulator's port on the host (127.0.0.1), for its admin API.
    sim_port: u16,
    /// What every role's container gets in its environment.
    env: Vec<(String, String)>,
}

impl ContainerFleet {
    /// Start RabbitMQ and the simulator (`teams` teams, `faults` on) on a
    /// fresh network, with GitHub's budget at `github_rps` per second; no
    /// worker or coordinator yet.
    pub async fn start(mongodb_uri: &str, teams: usize, faults: &[&str], github_rps: u32) -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
        let network = Network::create(&format!("dorafleet-{id}"));
        let dir = tempfile::tempdir().unwrap();
        let bin = crate::dorafleet_bin();

        let rabbitmq = Container::run(&Spec {
            image: RABBITMQ_IMAGE.into(),
            name: format!("rabbitmq-{id}"),
            network: network.name.clone(),
            env: vec![
                ("RABBITMQ_DEFAULT_USER".into(), "dorafleet".into()),
                ("RABBITMQ_DEFAULT_PASS".into(), "dorafleet".into()),
            ],
            ..Spec::default()
        });

        let options = SimOptions {
            seed: 5,
            days: DAYS,
            teams,
            end_date: end(),
            faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
            ..SimOptions::default()
        };
        let sim_name = format!("sim-{id}");
        let mut command: Vec<String> = [
            "sim",
            "--bind",
            "0.0.0.0",
            "--port",
            "8181",
            "--seed",
            "5",
            "--days",
            &DAYS.to_string(),
            "--teams",
            &teams.to_string(),
            "--end-date",
            &end().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for fault in faults {
            command.extend(["--fault".into(), fault.to_string()]);
        }
        let sim = Container::run(&Spec {
            image: RUNTIME_IMAGE.into(),
            name: sim_name.clone(),
            network: network.name.clone(),
            volumes: vec![format!("{}:/usr/local/bin/dorafleet:ro", bin.display())],
            publish: vec![SIM_PORT],
            command: std::iter::once("dorafleet".to_owned())
                .chain(command)
                .collect(),
            ..Spec::default()
        });
        let config = dorafleet_sim::generate(&options)
            .config_toml_for(&format!("http://{sim_name}:{SIM_PORT}"), &options);
        std::fs::write(dir.path().join("dorafleet.toml"), config).unwrap();

        let database = format!("dorafleet_hosts_{id}");
        let forwarded = forward(&network.gateway, first_host(mongodb_uri)).await;
        let warehouse = MongoWarehouse::open_database(mongodb_uri, &database, None)
            .await
            .expect("open the MongoDB warehouse");
        let receiver = OtlpReceiver::start_on(&format!("{}:0", network.gateway)).await;
        let env = [
            (
                "DORAFLEET_CONFIG",
                "/etc/dorafleet/dorafleet.toml".to_owned(),
            ),
            (
                "DORAFLEET_WAREHOUSE__URL",
                format!("mongodb://{forwarded}/{database}?directConnection=true"),
            ),
            // A short heartbeat: RabbitMQ notices a partitioned or frozen
            // peer within seconds, and so does the peer.
            (
                "DORAFLEET_BROKER__URL",
                format!("amqp://dorafleet:dorafleet@rabbitmq-{id}:5672/%2f?heartbeat=5"),
            ),
            ("DORAFLEET_BROKER__PREFIX", format!("hosts-{id}")),
            ("DORAFLEET_BROKER__WAIT_TIERS_MS", "[100,400,1500]".into()),
            ("DORAFLEET_RETRY__BASE_MS", "100".into()),
            ("DORAFLEET_RETRY__CAP_MS", "1000".into()),
            ("DORAFLEET_RETRY__MAX_ATTEMPTS", "8".into()),
            (
                "DORAFLEET_SOURCES__GITHUB__REQUESTS_PER_SECOND",
                github_rps.to_string(),
            ),
            ("DORAFLEET_SOURCES__JIRA__REQUESTS_PER_SECOND", "50".into()),
            (
                "DORAFLEET_SOURCES__JENKINS__REQUESTS_PER_SECOND",
                "50".into(),
            ),
            ("DORAFLEET_SOURCES__GITHUB__PAGE_SIZE", "30".into()),
            (
                "DORAFLEET_OBSERVABILITY__OTLP_ENDPOINT",
                receiver.endpoint(),
            ),
            ("RUST_LOG", "info".into()),
            ("NO_COLOR", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();

        let sim_port = sim.host_port(SIM_PORT);
        let fleet = ContainerFleet {
            id,
            dir,
            rabbitmq,
            sim,
            roles: BTreeMap::new(),
            network,
            receiver,
            warehouse,
            sim_port,
            env,
        };
        fleet.wait_for_rabbitmq().await;
        eventually(Duration::from_secs(30), "the simulator answers", || async {
            http_get(fleet.sim_port, "/_admin/stats").await.is_some()
        })
        .await;
        fleet
    }

    /// Poll until RabbitMQ's node accepts connections (after a start or restart).
    pub async fn wait_for_rabbitmq(&self) {
        let container = &self.rabbitmq;
        eventually(Duration::from_secs(90), "RabbitMQ is up", || async {
            container.exec_ok(&["rabbitmq-diagnostics", "-q", "check_port_connectivity"])
        })
        .await;
    }

    /// Start a dorafleet role named `name` (also its container's host name
    /// suffix) with `args`, e.g. `["worker", "--name", "w1"]`.
    pub fn start_role(&mut self, name: &str, args: &[&str]) -> &Container {
        let mut command = vec!["dorafleet".to_owned()];
        command.extend(args.iter().map(|a| a.to_string()));
        let container = Container::run(&Spec {
            image: RUNTIME_IMAGE.into(),
            name: format!("{name}-{}", self.id),
            network: self.network.name.clone(),
            env: self.env.clone(),
            volumes: vec![
                format!(
                    "{}:/usr/local/bin/dorafleet:ro",
                    crate::dorafleet_bin().display()
                ),
                format!("{}:/etc/dorafleet:ro", self.dir.path().display()),
            ],
            command,
            ..Spec::default()
        });
        self.roles.insert(name.to_owned(), container);
        &self.roles[name]
    }

    /// A worker process in its own container, four tasks at a time.
    pub fn start_worker(&mut self, name: &str) -> &Container {
        self.start_role(
            name,
            &[
                "worker",
                "--name",
                name,
                "--concurrency",
                "4",
                "--drain-timeout-secs",
                "5",
            ],
        )
    }

    /// A coordinator extracting the whole history once, then exiting.
    pub fn start_range_coordinator(&mut self, name: &str, lease_ttl_secs: u32) -> &Container {
        let from = end() - chrono::Duration::days(i64::from(DAYS));
        self.start_role(
            name,
            &[
                "coordinator",
                "--name",
                name,
                "--lease-ttl-secs",
                &lease_ttl_secs.to_string(),
                "--from",
                &from.to_string(),
                "--to",
                &end().to_string(),
            ],
        )
    }

    pub fn role(&self, name: &str) -> &Container {
        &self.roles[name]
    }

    /// The simulator's ground truth.
    pub async fn truth(&self) -> Vec<TruthRecord> {
        self.admin("truth").await
    }

    /// Every data request the simulator answered.
    pub async fn request_log(&self) -> Vec<RequestLogEntry> {
        self.admin("requests").await
    }

    async fn admin<T: serde::de::DeserializeOwned>(&self, what: &str) -> T {
        let path = format!("/_admin/{what}");
        match http_get(self.sim_port, &path).await {
            Some((200, body)) => {
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}"))
            }
            other => panic!("GET {path} from the simulator: {other:?}"),
        }
    }

    /// Every container's log, for a failed assertion.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for c in self.roles.values().chain([&self.sim, &self.rabbitmq]) {
            all.push_str(&format!("--- {}\n{}\n", c.name, tail(&c.logs(), 150)));
        }
        all
    }

    /// Remove the containers, the network and the test's database.
    pub async fn remove(self) {
        let _ = self.warehouse.database().drop().await;
        drop(self);
    }
}

/// Pages (GETs answered 200) the simulator served more than once; Jira's
/// per-task questions (`/myself`, `serverInfo`) are not pages.
pub fn pages_served_twice(log: &[RequestLogEntry]) -> Vec<String> {
    let mut seen = BTreeMap::<String, usize>::new();
    for e in log.iter().filter(|e| {
        e.status == 200
            && e.method == "GET"
            && !e.path.ends_with("/myself")
            && !e.path.ends_with("/serverInfo")
    }) {
        *seen
            .entry(format!("{}?{}", e.path, e.query.as_deref().unwrap_or("")))
            .or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(url, n)| format!("{url} ×{n}"))
        .collect()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The first `host:port` of a `mongodb://` URL.
fn first_host(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let hosts = rest.split(['/', '?']).next().unwrap_or_default();
    let first = hosts.split(',').next().unwrap_or_default();
    if first.contains(':') {
        first.to_owned()
    } else {
        format!("{first}:27017")
    }
}

/// Listen on `bind_ip` and forward every connection to `target`; the
/// listening address. Runs as long as the test's runtime.
async fn forward(bind_ip: &str, target: String) -> String {
    let listener = tokio::net::TcpListener::bind((bind_ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

/// Whether a binary can run in the runtime image: mounted from this host,
/// it needs the same C library, which a Debian bookworm host has.
pub fn binary_runs_in_runtime_image(bin: &Path) -> bool {
    let mount = format!("{}:/usr/local/bin/dorafleet:ro", bin.display());
    let out = docker(&[
        "run",
        "--rm",
        "-v",
        &mount,
        RUNTIME_IMAGE,
        "dorafleet",
        "--version",
    ]);
    String::from_utf8_lossy(&out.stdout).contains("dorafleet")
}
