//! The services behind `deploy/gateway.conf` (nginx, from Debian's
//! packages, as the scaled deployment runs it): a stream that the service
//! cuts short stays a failed transfer through the gateway, and a whole one
//! arrives whole.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::util::*;

/// nginx with the project's gateway configuration, its two upstreams on
/// loopback; stopped when dropped.
struct Gateway {
    child: Child,
    ingest: String,
    query: String,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(ingest: &str, query: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (p1, p2) = (free_port(), free_port());
        let conf = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/gateway.conf"),
        )
        .unwrap();
        let mut conf = conf;
        for (from, to) in [
            (
                "events {}",
                format!("pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}"),
            ),
            (
                "http {",
                format!(
                    "http {{\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;"
                ),
            ),
            ("resolver 127.0.0.11 valid=5s ipv6=off;", String::new()),
            ("listen 8080;", format!("listen 127.0.0.1:{p1};")),
            ("listen 8081;", format!("listen 127.0.0.1:{p2};")),
            ("http://ingestd:8080", ingest.to_string()),
            ("http://queryd:8081", query.to_string()),
        ] {
            assert!(
                conf.contains(from),
                "deploy/gateway.conf no longer has {from:?}"
            );
            conf = conf.replace(from, &to);
        }
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|n| Command::new(n).arg("-v").output().is_ok())
            .expect("nginx is not installed (Debian: nginx-light); .ci/run installs it");
        let child = Command::new(nginx)
            .args(["-p", &d, "-c"])
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let gateway = Gateway {
            child,
            ingest: format!("http://127.0.0.1:{p1}"),
            query: format!("http://127.0.0.1:{p2}"),
            _dir: dir,
        };
        wait_healthy(&gateway.ingest).await;
        wait_healthy(&gateway.query).await;
        gateway
    }
}

impl Drop for Gateway {
    /// SIGTERM (nginx's fast shutdown), which stops its workers too; a
    /// SIGKILL would leave them behind.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let stopped = Command::new("kill").args(["-TERM", &pid]).status();
        if !stopped.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn a_cut_short_export_stays_failed_through_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Stack::start_in(tmp.path(), &[]).await;
    for batch in 0..3 {
        let logs: Vec<Value> = (0..1000)
            .map(|i| json!({"message": format!("gateway {batch} {i}"), "source": "gw"}))
            .collect();
        ingest_searchable(&s.ingest, logs).await;
    }
    s.stop().await;

    let quiet = queryd::ReadArgs {
        verify_mib_per_sec: 0,
        ..Default::default()
    };
    let s = Stack::start_in_with(tmp.path(), &[], quiet.clone()).await;
    let g = Gateway::start(&s.ingest, &s.query).await;
    // Whole: arrives whole, through the gateway.
    let (status, body, clean) = crate::damage::export(&format!("{}/logs/export", g.query)).await;
    assert!(status == 200 && clean, "{status}");
    assert_eq!(body.lines().count(), 3000);
    s.stop().await;

    // A damaged segment: the service cuts the export short; the gateway
    // passes the error line and does not end the transfer as whole.
    let store = crate::damage::committed_files(tmp.path(), "store");
    crate::damage::flip_bytes(&store[0], 64);
    let s = Stack::start_in_with(tmp.path(), &[], quiet).await;
    let g2 = Gateway::start(&s.ingest, &s.query).await;
    let (status, body, clean) = crate::damage::export(&format!("{}/logs/export", g2.query)).await;
    assert_eq!(status, 200);
    assert!(
        !clean,
        "the gateway ended a cut-short export as a whole one"
    );
    let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"], "partial", "{last}");
    assert!(body.lines().count() <= 3000);
    drop((g, g2));
    tokio::time::sleep(Duration::from_millis(10)).await;
    s.stop().await;
}
