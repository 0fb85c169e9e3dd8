//! Containers through the `docker` command line: a private network, and
//! containers on it that are removed when dropped, whatever the test did.
//!
//! The command line rather than a Docker API crate: the tests need a dozen
//! verbs (run, network connect/disconnect, kill, restart, pause), the CLI is
//! what an operator would type to do the same, and it keeps the dependency
//! tree as it is. Every call fails the test with the command and its output.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Why the container tests cannot run here, or `None` when they can: a
/// `docker` client whose daemon answers, and the images they need.
pub fn unavailable(images: &[&str]) -> Option<String> {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match info {
        Err(e) => return Some(format!("no docker client ({e})")),
        Ok(out) if !out.status.success() => {
            return Some(format!(
                "the Docker daemon does not answer: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(_) => {}
    }
    let missing: Vec<&str> = images
        .iter()
        .copied()
        .filter(|image| !docker_ok(&["image", "inspect", image]))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "images missing: {} (scripts/build-images.sh --no-dorafleet builds them)",
            missing.join(", ")
        )
    })
}

/// Run `docker ARGS`; its output, or a failed test naming the command.
pub fn docker(args: &[&str]) -> Output {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("docker {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "docker {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `docker ARGS` that may fail: whether it succeeded.
pub fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A user-defined bridge network, removed (with its containers gone) on drop.
#[derive(Debug)]
pub struct Network {
    pub name: String,
    /// The host's address on the network: what containers reach the host at.
    pub gateway: String,
}

impl Network {
    pub fn create(name: &str) -> Network {
        docker(&["network", "create", "--driver", "bridge", name]);
        let gateway = stdout(&docker(&[
            "network",
            "inspect",
            name,
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
        ]));
        assert!(!gateway.is_empty(), "network {name} has no gateway address");
        Network {
            name: name.to_owned(),
            gateway,
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// How to start a container: `docker run -d` with these settings.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub image: String,
    /// The container's name, also its host name on the network.
    pub name: String,
    pub network: String,
    pub env: Vec<(String, String)>,
    /// `host:container[:ro]` bind mounts.
    pub volumes: Vec<String>,
    /// Container ports published on 127.0.0.1 at a port the host picks.
    pub publish: Vec<u16>,
    pub command: Vec<String>,
}

/// A running (or stopped) container, removed with `docker rm -f` on drop.
#[derive(Debug)]
pub struct Container {
    pub name: String,
}

impl Container {
    pub fn run(spec: &Spec) -> Container {
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            spec.name.clone(),
            "--hostname".into(),
            spec.name.clone(),
            "--network".into(),
            spec.network.clone(),
        ];
        for (k, v) in &spec.env {
            args.extend(["-e".into(), format!("{k}={v}")]);
        }
        for volume in &spec.volumes {
            args.extend(["-v".into(), volume.clone()]);
        }
        for port in &spec.publish {
            args.extend(["-p".into(), format!("127.0.0.1::{port}")]);
        }
        args.push(spec.image.clone());
        args.extend(spec.command.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&refs);
        Container {
            name: spec.name.clone(),
        }
    }

    /// The host port (on 127.0.0.1) published for container port `port`.
    pub fn host_port(&self, port: u16) -> u16 {
        let text = stdout(&docker(&["port", &self.name, &port.to_string()]));
        let line = text.lines().next().unwrap_or_default();
        line.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: port {port} is not published ({text})", self.name))
    }

    /// Everything the container wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        match Command::new("docker").args(["logs", &self.name]).output() {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("(no logs: {e})"),
        }
    }

    /// Whether the container's main process still runs.
    pub fn is_running(&self) -> bool {
        let out = Command::new("docker")
            .args(["inspect", "--format", "{{.State.Running}}", &self.name])
            .output();
        out.is_ok_and(|o| stdout(&o) == "true")
    }

    /// Wait for the container to exit, within `limit`; its exit code.
    pub async fn exit_code(&self, limit: Duration) -> Option<i64> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if !self.is_running() {
                let code = stdout(&docker(&[
                    "inspect",
                    "--format",
                    "{{.State.ExitCode}}",
                    &self.name,
                ]));
                return code.parse().ok();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }

    /// `docker exec NAME ARGS` succeeded.
    pub fn exec_ok(&self, args: &[&str]) -> bool {
        let mut all = vec!["exec", self.name.as_str()];
        all.extend_from_slice(args);
        docker_ok(&all)
    }

    pub fn disconnect(&self, network: &str) {
        docker(&["network", "disconnect", network, &self.name]);
    }

    pub fn connect(&self, network: &str) {
        docker(&["network", "connect", network, &self.name]);
    }

    /// SIGKILL: the process gets no chance to settle anything.
    pub fn kill(&self) {
        docker(&["kill", &self.name]);
    }

    /// SIGTERM, then SIGKILL after `grace` (what `docker stop` does).
    pub fn stop(&self, grace: Duration) {
        docker(&["stop", "-t", &grace.as_secs().to_string(), &self.name]);
    }

    pub fn start(&self) {
        docker(&["start", &self.name]);
    }

    pub fn restart(&self) {
        docker(&["restart", "-t", "10", &self.name]);
    }

    /// Freeze every process of the container (cgroup freezer): no signal,
    /// no chance to notice; time passes for everyone else.
    pub fn pause(&self) {
        docker(&["pause", &self.name]);
    }

    pub fn unpause(&self) {
        docker(&["unpause", &self.name]);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.name])
            .output();
    }
}
