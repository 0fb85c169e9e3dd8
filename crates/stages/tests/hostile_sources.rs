//! Extract against a hostile server: a tiny HTTP/1.1 server of our own,
//! started inside each test on 127.0.0.1:0, that serves one misbehaviour per
//! base path — garbage, HTML with 200, wrong shapes, 401, slow bytes,
//! cross-origin links and redirects, repeating links and tokens, endless
//! pages, huge bodies, echoed credentials. Each test drives the real
//! `SourceClient` and `ExtractHandler` (in-memory SQLite) and asserts a
//! clear error, a bounded number of requests (counted by the server), no
//! page stored from a refused hop, no completed scope, and that the
//! configured token appears nowhere in the error.

use chrono::{DateTime, Utc};
use dorafleet_core::{
    ErrorClass, Scope, Secret, Source, SourceConfig, Stage, TaskEnvelope, TaskError, Window,
};
use dorafleet_sources::SourceClient;
use dorafleet_stages::ExtractHandler;
use dorafleet_warehouse::{BronzeFilter, BronzePage, Warehouse, sqlite::SqliteWarehouse};
use dorafleet_worker::StageHandler;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const TOKEN: &str = "ghp_h0stile_S3cret_token_value";
const USER: &str = "ops@acme.io";
/// `max_response_bytes` of every test client: 1 MiB.
const LIMIT: u64 = 1024 * 1024;
/// `max_pages_per_task` of every test client.
const MAX_PAGES: u32 = 25;

// ---------------------------------------------------------------- the server

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Req {
    path_and_query: String,
    authorization: Option<String>,
}

impl Req {
    /// The misbehaviour asked for: the first path segment.
    fn behaviour(&self) -> &str {
        self.path_and_query
            .trim_start_matches('/')
            .split(['/', '?'])
            .next()
            .unwrap_or("")
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.path_and_query.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// This path and query without parameter `name`.
    fn without_param(&self, name: &str) -> String {
        let Some((path, query)) = self.path_and_query.split_once('?') else {
            return self.path_and_query.clone();
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.starts_with(&format!("{name}=")))
            .collect();
        format!("{path}?{}", kept.join("&"))
    }
}

/// How the server answers one request.
enum Answer {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 with `Content-Length: len`, one byte every `every`.
    Slow { len: usize, every: Duration },
    /// 200 with `total` bytes, declared in `Content-Length` or chunked; the
    /// server reports how many it managed to write.
    Huge { total: u64, declare: bool },
}

impl Answer {
    fn json(status: u16, body: &str) -> Answer {
        Answer::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn with_header(self, name: &str, value: &str) -> Answer {
        match self {
            Answer::Full {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Answer::Full {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

/// What became of a huge body: bytes written, and whether all were.
#[derive(Debug, Clone, Copy)]
struct HugeReport {
    written: u64,
    completed: bool,
}

type Route = Arc<dyn Fn(&Req, &str) -> Answer + Send + Sync>;

struct Server {
    origin: String,
    seen: Arc<Mutex<Vec<Req>>>,
    huge: tokio::sync::Mutex<mpsc::UnboundedReceiver<HugeReport>>,
}

impl Server {
    /// Serves `route(request, own origin)` on a free port, one connection
    /// per request (`Connection: close`).
    async fn start(route: impl Fn(&Req, &str) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (huge_tx, huge_rx) = mpsc::unbounded_channel();
        let route: Route = Arc::new(route);
        let (own, log) = (origin.clone(), Arc::clone(&seen));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (route, own, log, huge_tx) = (
                    Arc::clone(&route),
                    own.clone(),
                    Arc::clone(&log),
                    huge_tx.clone(),
                );
                tokio::spawn(async move {
                    serve(stream, route, own, log, huge_tx).await;
                });
            }
        });
        Server {
            origin,
            seen,
            huge: tokio::sync::Mutex::new(huge_rx),
        }
    }

    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Requests of the pull-request list (the crawl also fetches the empty
    /// deployments list and the empty default-branch history, once each).
    fn pulls_hits(&self) -> usize {
        self.paths().iter().filter(|p| p.contains("/pulls")).count()
    }

    fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.path_and_query.clone())
            .collect()
    }

    /// Waits for the server's report on the huge body it served (the server
    /// sends it when its write finished or failed).
    async fn huge_report(&self) -> HugeReport {
        let mut rx = self.huge.lock().await;
        let recv = rx.recv();
        tokio::time::timeout(Duration::from_secs(60), recv)
            .await
            .expect("the server finished the huge body within 60 s")
            .expect("a report")
    }
}

async fn serve(
    mut stream: TcpStream,
    route: Route,
    own: String,
    log: Arc<Mutex<Vec<Req>>>,
    huge_tx: mpsc::UnboundedSender<HugeReport>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path_and_query = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let mut authorization = None;
    let mut content_length = 0usize;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "authorization" => authorization = Some(value.trim().to_owned()),
                "content-length" => content_length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + content_length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let req = Req {
        path_and_query,
        authorization,
    };
    log.lock().unwrap().push(req.clone());
    match route(&req, &own) {
        Answer::Full {
            status,
            headers,
            body,
        } => {
            let mut out = format!(
                "HTTP/1.1 {status} Hostile\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Answer::Slow { len, every } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..len {
                if stream.write_all(b" ").await.is_err() || stream.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }
        Answer::Huge { total, declare } => {
            let framing = if declare {
                format!("content-length: {total}")
            } else {
                "transfer-encoding: chunked".to_owned()
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n"
            );
            let mut written = 0u64;
            let block = vec![b'7'; 64 * 1024];
            let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
            while ok && written < total {
                let n = block.len().min((total - written) as usize);
                ok = if declare {
                    stream.write_all(&block[..n]).await.is_ok()
                } else {
                    let mut framed = format!("{n:x}\r\n").into_bytes();
                    framed.extend_from_slice(&block[..n]);
                    framed.extend_from_slice(b"\r\n");
                    stream.write_all(&framed).await.is_ok()
                };
                if ok {
                    written += n as u64;
                }
            }
            if ok && !declare {
                ok = stream.write_all(b"0\r\n\r\n").await.is_ok();
            }
            let _ = huge_tx.send(HugeReport {
                written,
                completed: ok && written == total,
            });
        }
    }
}

// ------------------------------------------------------------ the behaviours

/// A valid closed pull request updated inside the window and not merged:
/// the crawl follows the next link after it and asks for no children.
const PR_PAGE: &str = r#"[{"number": 7, "created_at": "2026-05-02T10:00:00Z", "updated_at": "2026-05-20T10:00:00Z", "merged_at": null}]"#;

fn next_link(url: &str) -> String {
    format!(r#"<{url}>; rel="next""#)
}

fn echo(req: &Req) -> String {
    format!(
        r#"{{"message": "Bad credentials", "you_sent": "{}"}}"#,
        req.authorization.as_deref().unwrap_or("nothing")
    )
}

/// The main server: `/<behaviour>/…`, GitHub and Jira paths below it.
async fn hostile(foreign: &Server) -> Server {
    let foreign = foreign.origin.clone();
    Server::start(move |req, own| {
        let path = req.path_and_query.as_str();
        // Every behaviour is served on the pull-request list; the other two
        // lists of a GitHub task, the deployments and the window's
        // default-branch history (`/repos/{o}/{r}/commits`), are empty.
        if path.contains("/deployments") || path.contains("/repos/acme/api/commits?") {
            return Answer::json(200, "[]");
        }
        match req.behaviour() {
            "garbage" => Answer::Full {
                status: 200,
                headers: vec![],
                body: vec![0xff, 0xfe, 0x00, b'{', b'"', 0x9f, 0x92, 0x96],
            },
            "html" => Answer::Full {
                status: 200,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<!DOCTYPE html><html><body><h1>Please sign in</h1></body></html>".to_vec(),
            },
            "shape" => Answer::json(200, r#"{"total_count": 3, "items": []}"#),
            "unauthorized" => Answer::json(401, &echo(req)),
            "overloaded" => Answer::json(502, &echo(req)),
            "forbidden" => Answer::json(403, &echo(req)),
            "slow" => Answer::Slow {
                len: 200,
                every: Duration::from_millis(100),
            },
            "same-next" => {
                Answer::json(200, PR_PAGE).with_header("link", &next_link(&format!("{own}{path}")))
            }
            "back-to-first" => {
                let first = req.without_param("page");
                let next = match req.query_param("page") {
                    None => format!("{own}{first}&page=2"),
                    Some(_) => format!("{own}{first}"),
                };
                Answer::json(200, PR_PAGE).with_header("link", &next_link(&next))
            }
            "endless" => {
                let n: u64 = req
                    .query_param("page")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1);
                let next = format!("{own}{}&page={}", req.without_param("page"), n + 1);
                Answer::json(200, PR_PAGE).with_header("link", &next_link(&next))
            }
            "link-foreign" => Answer::json(200, PR_PAGE)
                .with_header("link", &next_link(&format!("{foreign}{path}&page=2"))),
            "redirect-foreign" => {
                Answer::json(302, "").with_header("location", &format!("{foreign}{path}"))
            }
            "redirect-same" if path.starts_with("/redirect-same/moved/") => Answer::json(200, "[]"),
            "redirect-same" => Answer::json(301, "").with_header(
                "location",
                &path.replacen("/redirect-same/", "/redirect-same/moved/", 1),
            ),
            "redirect-loop" => {
                let hop: u64 = req
                    .query_param("hop")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let next = format!("{}&hop={}", req.without_param("hop"), hop + 1);
                Answer::json(302, "").with_header("location", &next)
            }
            "huge-declared" => Answer::Huge {
                total: 2 * 1024 * 1024 * 1024,
                declare: true,
            },
            "huge-streamed" => Answer::Huge {
                total: 512 * 1024 * 1024,
                declare: false,
            },
            "bad-child" => bad_child(path),
            "token-repeat" => Answer::json(
                200,
                r#"{"issues": [], "nextPageToken": "CAEaAggD", "isLast": false}"#,
            ),
            other => Answer::json(404, &format!(r#"{{"message": "no behaviour {other}"}}"#)),
        }
    })
    .await
}

/// Eight pull requests merged in the window, whose commit lists are
/// empty but for the fifth's, which is garbage.
fn bad_child(path: &str) -> Answer {
    if path.contains("/pulls/5/commits") {
        return Answer::json(200, "<html>not json</html>");
    }
    if path.contains("/commits") {
        return Answer::json(200, "[]");
    }
    let pulls: Vec<String> = (1..=8)
        .map(|n| {
            format!(
                r#"{{"number": {n}, "created_at": "2026-05-02T10:00:00Z", "updated_at": "2026-05-20T10:00:00Z", "merged_at": "2026-05-1{n}T10:00:00Z"}}"#
            )
        })
        .collect();
    Answer::json(200, &format!("[{}]", pulls.join(",")))
}

/// Another origin, which must never be contacted: it would answer "nothing
/// happened".
async fn foreign() -> Server {
    Server::start(|_, _| Answer::json(200, "[]")).await
}

// ------------------------------------------------------------- the harness

fn config(server: &Server, behaviour: &str) -> SourceConfig {
    SourceConfig {
        base_url: format!("{}/{behaviour}", server.origin).parse().unwrap(),
        token: Some(Secret::new(TOKEN)),
        requests_per_second: std::num::NonZeroU32::new(1000).unwrap(),
        timeout: Duration::from_secs(5),
        page_size: 10,
        max_pages_per_task: MAX_PAGES,
        max_response_bytes: LIMIT,
        ..SourceConfig::default()
    }
}

fn window() -> Window {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    Window {
        from: at("2026-05-01T00:00:00Z"),
        to: at("2026-06-01T00:00:00Z"),
    }
}

/// What one extract attempt left behind.
struct Ran {
    error: TaskError,
    bronze: Vec<BronzePage>,
    completed: bool,
    /// The pages the task's checkpoint names.
    checkpointed: u32,
}

async fn extract(source: Source, config: SourceConfig, target: &str) -> Ran {
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let client = SourceClient::new(source, &config).unwrap();
    let handler = ExtractHandler::new(Arc::clone(&warehouse)).with_client(client, 10);
    let scope = Scope {
        team: "hostile".into(),
        target: Some(target.into()),
    };
    let task = TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(source),
        scope.clone(),
        window(),
        5,
    );
    let outcome = tokio::time::timeout(Duration::from_secs(60), handler.handle(&task))
        .await
        .expect("the extract ends on its own");
    let error = outcome.result.expect_err("a hostile source fails the task");
    let bronze = warehouse
        .bronze_pages(&BronzeFilter {
            task_id: Some(task.task_id),
            ..Default::default()
        })
        .await
        .unwrap();
    let checkpoint = warehouse.extract_checkpoint(task.task_id).await.unwrap();
    let completed = checkpoint.as_ref().is_some_and(|cp| cp.completed);
    let checkpointed = checkpoint.map_or(0, |cp| cp.pages_done);
    assert!(
        warehouse.coverage(source, &scope).await.unwrap().is_none(),
        "a failed scope gains no coverage, so nothing downstream is verified"
    );
    // No secret in what the operator sees, in any form it was sent.
    let detail = error.detail();
    let basic = "b3BzQGFjbWUuaW86Z2hwX2gwc3RpbGVfUzNjcmV0X3Rva2VuX3ZhbHVl";
    assert!(
        !detail.contains(TOKEN) && !detail.contains(basic),
        "the token leaked: {detail}"
    );
    Ran {
        error,
        bronze,
        completed,
        checkpointed,
    }
}

async fn extract_github(server: &Server, behaviour: &str) -> Ran {
    extract(Source::Github, config(server, behaviour), "acme/api").await
}

fn assert_permanent(ran: &Ran, needles: &[&str]) {
    let detail = ran.error.detail();
    assert_eq!(ran.error.class(), ErrorClass::Permanent, "{detail}");
    for needle in needles {
        assert!(detail.contains(needle), "`{needle}` not in: {detail}");
    }
    assert!(!ran.completed, "the task is not completed");
}

// ---------------------------------------------------------------- the tests

#[tokio::test]
async fn garbage_html_and_wrong_shapes_with_200_fail_permanently_after_one_request_and_store_nothing()
 {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    for (behaviour, says) in [
        ("garbage", "body is not JSON"),
        ("html", "body is not JSON"),
        ("shape", "expected a JSON array of records, found an object"),
    ] {
        let before = server.hits();
        let ran = extract_github(&server, behaviour).await;
        assert_permanent(&ran, &["github pulls page 1", says]);
        assert_eq!(server.hits() - before, 1, "{behaviour}: one request");
        assert!(ran.bronze.is_empty(), "{behaviour}: nothing stored");
    }
}

#[tokio::test]
async fn a_401_echoing_the_credentials_is_permanent_and_its_message_shows_no_token() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "unauthorized").await;
    assert_permanent(&ran, &["HTTP 401", "Bad credentials", "Bearer [redacted]"]);
    assert_eq!(server.hits(), 1);
    assert!(ran.bronze.is_empty());
    assert_eq!(
        server.seen.lock().unwrap()[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str()),
        "the token was sent, so the echo really carried it"
    );
}

#[tokio::test]
async fn echoed_basic_credentials_are_redacted_in_permanent_and_transient_errors() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    for (behaviour, class) in [
        ("forbidden", ErrorClass::Permanent),
        ("overloaded", ErrorClass::Transient),
    ] {
        let mut config = config(&server, behaviour);
        config.user = Some(USER.into());
        let ran = extract(Source::Jira, config, "PAY").await;
        let detail = ran.error.detail();
        assert_eq!(ran.error.class(), class, "{detail}");
        assert!(detail.contains("Basic [redacted]"), "{detail}");
    }
}

#[tokio::test]
async fn a_body_dribbled_byte_by_byte_times_out_as_transient_after_one_request() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let mut config = config(&server, "slow");
    config.timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let ran = extract(Source::Github, config, "acme/api").await;
    let detail = ran.error.detail();
    assert_eq!(ran.error.class(), ErrorClass::Transient, "{detail}");
    assert!(detail.contains("timed out"), "{detail}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped by the 0.5 s timeout, not by the 20 s body"
    );
    assert_eq!(server.hits(), 1);
    assert!(ran.bronze.is_empty());
}

#[tokio::test]
async fn a_next_link_to_the_same_url_is_a_cycle_stopped_after_one_request() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "same-next").await;
    assert_permanent(
        &ran,
        &[
            "goes round in circles",
            "pulls page 2",
            "is the same request as page 1",
            // pulls page 1, the deployments list and the default-branch
            // history (`repo_commits`, one request per GitHub task)
            "(3 pages fetched in this task)",
            "/same-next/repos/acme/api/pulls?state=closed",
        ],
    );
    assert_eq!(server.pulls_hits(), 1, "{:?}", server.paths());
    assert_eq!(server.hits(), 3, "{:?}", server.paths());
}

#[tokio::test]
async fn a_next_link_back_to_the_first_page_is_a_cycle_stopped_after_two_requests() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "back-to-first").await;
    assert_permanent(
        &ran,
        &[
            "goes round in circles",
            "pulls page 3",
            "is the same request as page 1",
        ],
    );
    assert_eq!(server.pulls_hits(), 2, "{:?}", server.paths());
}

#[tokio::test]
async fn a_repeating_jira_page_token_is_a_cycle_stopped_after_two_requests() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract(Source::Jira, config(&server, "token-repeat"), "PAY").await;
    assert_permanent(
        &ran,
        &[
            "jira crawl of hostile/PAY goes round in circles",
            "jira_search page 3",
            "is the same request as page 2",
            "nextPageToken=CAEaAggD",
            "2 pages fetched",
        ],
    );
    assert_eq!(server.hits(), 2, "{:?}", server.paths());
}

/// Answers that arrived together wait to be stored in one write; a crawl
/// that fails on the next answer still stores every page taken before it,
/// with a checkpoint naming them, so the next attempt asks for none again.
#[tokio::test]
async fn a_garbage_child_list_fails_the_crawl_after_every_answer_before_it_is_stored() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "bad-child").await;
    assert_permanent(&ran, &["pulls/5/commits"]);
    let mut stored: Vec<&str> = ran.bronze.iter().map(|p| p.endpoint.as_str()).collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            "deployments",
            "pull_commits",
            "pull_commits",
            "pull_commits",
            "pull_commits",
            "pulls",
            "repo_commits"
        ],
        "the three lists and the commits of pull requests 1 to 4"
    );
    assert_eq!(
        ran.checkpointed, 7,
        "the checkpoint names every stored page"
    );
}

#[tokio::test]
async fn a_list_that_never_ends_stops_at_the_page_cap_with_its_evidence() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "endless").await;
    assert_permanent(
        &ran,
        &[
            "stopped after 25 pages",
            "sources.github.max_pages_per_task = 25",
            // 23 pages of pulls, the (empty) deployments list and the
            // (empty) default-branch history make the 25
            "next pulls page 24",
            "page=24",
        ],
    );
    assert_eq!(server.hits(), MAX_PAGES as usize);
    assert_eq!(server.pulls_hits(), MAX_PAGES as usize - 2);
    assert_eq!(ran.bronze.len(), MAX_PAGES as usize);
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_never_contacted() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "link-foreign").await;
    assert_permanent(
        &ran,
        &[
            &format!("refusing to send credentials to {}", foreign.origin),
            &format!("not the configured origin {}", server.origin),
        ],
    );
    assert_eq!(foreign.hits(), 0);
    assert_eq!(server.pulls_hits(), 1);
    assert!(
        ran.bronze
            .iter()
            .all(|p| !p.request.contains(&foreign.origin)),
        "no page from the other origin is stored"
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_refused_naming_both_and_nothing_is_stored() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "redirect-foreign").await;
    assert_permanent(
        &ran,
        &[
            &format!("refusing a redirect to {}", foreign.origin),
            &format!("not the configured origin {}", server.origin),
            "neither read nor stored",
        ],
    );
    assert_eq!(
        foreign.hits(),
        0,
        "its `[]` never became 0 deployments (verified)"
    );
    assert_eq!(server.hits(), 1);
    assert!(ran.bronze.is_empty());
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let warehouse: Arc<dyn Warehouse> = Arc::new(SqliteWarehouse::open_in_memory().unwrap());
    let client = SourceClient::new(Source::Github, &config(&server, "redirect-same")).unwrap();
    let handler = ExtractHandler::new(Arc::clone(&warehouse)).with_client(client, 10);
    let task = TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: "hostile".into(),
            target: Some("acme/api".into()),
        },
        window(),
        5,
    );
    assert_eq!(handler.handle(&task).await.result, Ok(()));
    let paths = server.paths();
    assert_eq!(
        paths.len(),
        4,
        "pulls, its redirect, deployments, the default-branch history: {paths:?}"
    );
    assert!(paths[1].starts_with("/redirect-same/moved/repos/acme/api/pulls"));
    assert!(paths[3].starts_with("/redirect-same/repos/acme/api/commits?since="));
    assert_eq!(foreign.hits(), 0);
}

#[tokio::test]
async fn redirects_that_never_end_within_the_origin_stop_after_five() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "redirect-loop").await;
    assert_permanent(&ran, &["more than 5 redirects in a row", "hop=6"]);
    assert_eq!(server.hits(), 6, "the request and five redirects");
    assert!(ran.bronze.is_empty());
}

#[tokio::test]
async fn a_declared_two_gigabyte_body_is_refused_from_its_header_without_reading_it() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "huge-declared").await;
    assert_permanent(
        &ran,
        &[
            "larger than sources.github.max_response_bytes = 1048576 bytes",
            "Content-Length 2147483648; none of it was read",
            "Raise the key",
        ],
    );
    let report = server.huge_report().await;
    assert!(!report.completed, "the client hung up: {report:?}");
    assert!(
        report.written < 64 * LIMIT,
        "at most socket buffers were written, not 2 GiB: {report:?}"
    );
    assert_eq!(server.hits(), 1);
    assert!(ran.bronze.is_empty());
}

#[tokio::test]
async fn an_undeclared_huge_body_is_cut_off_at_the_limit_while_streaming() {
    let foreign = foreign().await;
    let server = hostile(&foreign).await;
    let ran = extract_github(&server, "huge-streamed").await;
    assert_permanent(
        &ran,
        &[
            "larger than sources.github.max_response_bytes = 1048576 bytes",
            "reading stopped after 1048576 bytes",
        ],
    );
    let report = server.huge_report().await;
    assert!(!report.completed, "the client hung up: {report:?}");
    assert!(
        report.written < 64 * LIMIT,
        "the client read about the limit, not 512 MiB: {report:?}"
    );
    assert_eq!(server.hits(), 1, "oversize is permanent: not fetched again");
    assert!(ran.bronze.is_empty());
}
