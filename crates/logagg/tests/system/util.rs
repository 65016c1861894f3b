//! Shared helpers: start the services in-process or as processes, talk HTTP.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use tokio::sync::oneshot;

/// ingestd and queryd in this process, on one data directory, wired as the
/// all-in-one binary wires them.
pub struct Stack {
    pub ingest: String,
    pub query: String,
    stop: Option<(oneshot::Sender<()>, oneshot::Sender<()>)>,
    ingest_done: Option<tokio::task::JoinHandle<()>>,
    query_done: Option<tokio::task::JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(&[]).await
    }

    /// Extra ingestd flags, e.g. `["--wal-max-bytes", "2000"]`.
    pub async fn start_with(flags: &[&str]) -> Stack {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut stack = Self::start_in(&dir, flags).await;
        stack._tmp = Some(tmp);
        stack
    }

    pub async fn start_in(dir: &Path, flags: &[&str]) -> Stack {
        Self::start_in_with(dir, flags, queryd::ReadArgs::default()).await
    }

    /// As [`Stack::start_with`], with queryd's budgets for expensive reads.
    pub async fn start_reads(flags: &[&str], reads: queryd::ReadArgs) -> Stack {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut stack = Self::start_in_with(&dir, flags, reads).await;
        stack._tmp = Some(tmp);
        stack
    }

    pub async fn start_in_with(dir: &Path, flags: &[&str], reads: queryd::ReadArgs) -> Stack {
        let mut argv = vec![
            "ingestd",
            "--data-dir",
            dir.to_str().unwrap(),
            "--ingest-workers",
            "2",
        ];
        argv.extend_from_slice(flags);
        let mut cli = ingestd::Cli::try_parse_from(argv).unwrap();
        // `--auth-keys FILE` among the flags: both services use the keys.
        let access = svc_kit::auth::Access::from_args(&cli.auth, "test").unwrap();
        cli.ingest.access = access.clone();
        let ingest_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let query_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ingest = format!("http://{}", ingest_listener.local_addr().unwrap());
        let query = format!("http://{}", query_listener.local_addr().unwrap());
        // As the all-in-one binary does.
        let (reader, hook) = log_store::Backend::new(&cli.store).shared_reader().unwrap();
        let (stop_ingest, ingest_rx) = oneshot::channel::<()>();
        let (stop_query, query_rx) = oneshot::channel::<()>();
        let ingest_done = actix_web::rt::spawn(async move {
            ingestd::run(ingest_listener, cli.store, cli.ingest, hook, async {
                let _ = ingest_rx.await;
            })
            .await
            .unwrap();
        });
        let query_args = queryd::QueryArgs {
            query_addr: "127.0.0.1:0".parse().unwrap(),
            query_workers: Some(2),
            max_tails: 64,
            reads,
            access,
        };
        let query_done = actix_web::rt::spawn(async move {
            queryd::run(query_listener, reader, query_args, async {
                let _ = query_rx.await;
            })
            .await
            .unwrap();
        });
        let stack = Stack {
            ingest,
            query,
            stop: Some((stop_ingest, stop_query)),
            ingest_done: Some(ingest_done),
            query_done: Some(query_done),
            _tmp: None,
        };
        wait_healthy(&stack.ingest).await;
        wait_healthy(&stack.query).await;
        stack
    }

    /// Graceful stop: both servers stop, ingestd drains and commits.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some((a, b)) = self.stop.take() {
            let _ = a.send(());
            let _ = b.send(());
        }
        if let Some(h) = self.ingest_done.take() {
            h.await.unwrap();
        }
        if let Some(h) = self.query_done.take() {
            h.await.unwrap();
        }
        self._tmp.take()
    }
}

/// For tests whose logs carry fixed dates (2026-11-28): ingest refuses
/// logs older than the retention, and those dates grow older every day.
pub const FIXED_DATES: [&str; 2] = ["--retention-days", "3650"];

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let c = client();
    loop {
        if let Ok(r) = c.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{base} did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stores a batch through the native route and waits until it is
/// searchable (asserting that it was accepted).
pub async fn ingest_searchable(base: &str, logs: Vec<Value>) {
    let (status, body) = post(
        &format!("{base}/logs/batch-ingest?refresh=wait_for"),
        &Value::Array(logs),
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

/// POSTs JSON; returns status and body.
pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = client().post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn get(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn get_text(url: &str) -> String {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of an unlabelled (or exactly labelled) sample in a /metrics text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

/// The messages of a search answer, in order.
pub fn messages(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

/// A port free right now (for processes that must be told their port).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `ingestd` binary as a child process.
pub struct IngestProcess {
    pub child: Child,
    pub base: String,
}

impl IngestProcess {
    pub async fn spawn(dir: &Path, flags: &[&str]) -> IngestProcess {
        Self::spawn_with(dir, flags, |_| {}).await
    }

    /// As [`spawn`](Self::spawn); `setup` may change the environment and
    /// where the service's logs go.
    pub async fn spawn_with(
        dir: &Path,
        flags: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> IngestProcess {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ingestd"));
        command
            .arg("--data-dir")
            .arg(dir)
            .arg("--ingest-addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        setup(&mut command);
        let child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&base).await;
        IngestProcess { child, base }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id() as i32;
        assert!(send_signal(pid, "TERM"), "kill -TERM {pid} failed");
        self.child.wait().unwrap().code()
    }
}

fn send_signal(pid: i32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success())
}

/// A test that fails leaves no process behind (its inherited stderr would
/// keep the test runner's output open).
impl Drop for IngestProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
