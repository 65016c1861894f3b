//! HTTPS on both ports of the all-in-one binary, spoken to by real
//! clients (curl with `--cacert`, openssl s_client): certificates made
//! here with rcgen, a renewed certificate served without a restart, and
//! client certificates required with `--tls-client-ca`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::util::free_port;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: PathBuf,
}

fn ca(dir: &Path, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let pem = dir.join(format!("{name}.pem"));
    std::fs::write(&pem, issuer.pem()).unwrap();
    Ca { issuer, pem }
}

/// A certificate `ca` signed for `names` (DNS names or IP addresses),
/// written to `<file>.pem` and `<file>.key`.
fn issue(ca: &Ca, dir: &Path, file: &str, common_name: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{file}.pem")),
        dir.join(format!("{file}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

/// A `logagg` process, killed if the test fails before stopping it.
struct Running(Option<std::process::Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `logagg` with `flags` on two free ports; its ports' `host:port`.
fn spawn(dir: &Path, flags: &[&str]) -> (Running, String, String) {
    spawn_with_env(dir, flags, &[])
}

/// [`spawn`], with settings by environment variable too.
fn spawn_with_env(
    dir: &Path,
    flags: &[&str],
    env: &[(&str, &PathBuf)],
) -> (Running, String, String) {
    let (i, q) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--ingest-addr", &format!("127.0.0.1:{i}")])
        .args(["--query-addr", &format!("127.0.0.1:{q}")])
        .args(flags)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (
        Running(Some(child)),
        format!("127.0.0.1:{i}"),
        format!("127.0.0.1:{q}"),
    )
}

fn stop(mut running: Running) -> String {
    let child = running.0.take().expect("running");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// curl with `args`: its exit code and the body (or `%{http_code}` when
/// asked with `-w`).
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn wait_https(addr: &str, ca: &Path, extra: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("https://{addr}/health");
    loop {
        let mut args = vec!["--cacert", ca.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(&url);
        let (code, out) = curl(&args);
        if code == 0 && out.contains("healthy") {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The subject of the certificate `addr` serves, as openssl prints it.
fn served_subject(addr: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn https_on_both_ports_with_keys_and_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let authority = ca(d, "test-ca");
    let (cert, key) = issue(
        &authority,
        d,
        "server",
        "first",
        &["localhost", "127.0.0.1"],
    );
    let keys = d.join("keys.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_logagg"))
        .args(["keys", "add", "--keys-file", keys.to_str().unwrap()])
        .args([
            "--id",
            "app",
            "--tenant",
            "acme",
            "--scopes",
            "ingest,query",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let bearer = format!("Authorization: Bearer {secret}");
    // By environment variable, as docs/configuration.md's table says.
    let (child, ingest, query) = spawn_with_env(
        d,
        &[],
        &[
            ("TLS_CERT", &cert),
            ("TLS_KEY", &key),
            ("AUTH_KEYS_FILE", &keys),
        ],
    );
    let ca_pem = authority.pem.to_str().unwrap().to_string();
    wait_https(&ingest, &authority.pem, &[]);
    wait_https(&query, &authority.pem, &[]);

    // A log in over HTTPS with a key, and read back over HTTPS, by name
    // (localhost) and by address.
    let (code, out) = curl(&[
        "--cacert",
        &ca_pem,
        "-H",
        &bearer,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"message":"sent over tls","source":"curl"}"#,
        &format!("https://{ingest}/logs/ingest?refresh=wait_for"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"status\":\"accepted\"") || out.contains("accepted"),
        "{out}"
    );
    let by_name = query.replace("127.0.0.1", "localhost");
    for addr in [&query, &by_name] {
        let (code, out) = curl(&[
            "--cacert",
            &ca_pem,
            "-H",
            &bearer,
            &format!("https://{addr}/logs/search?query=tls"),
        ]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("sent over tls"), "{out}");
    }
    // Keys still apply under TLS.
    let (_, out) = curl(&[
        "--cacert",
        &ca_pem,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://{query}/logs/search"),
    ]);
    assert_eq!(out, "401");
    // A client that does not trust the CA refuses the server (curl's 60:
    // the peer's certificate cannot be verified); plain HTTP to the TLS
    // port gets no HTTP answer.
    let (code, _) = curl(&[&format!("https://{ingest}/health")]);
    assert_eq!(code, 60);
    let (code, out) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{ingest}/health"),
    ]);
    assert!(code != 0 && !out.starts_with('2'), "{code} {out}");

    // Renewal: a new certificate in the same files is served within the
    // check interval (2 s), without a restart; a broken one is not, and
    // the one in force stays.
    assert!(
        served_subject(&query).contains("first"),
        "{}",
        served_subject(&query)
    );
    let (new_cert, new_key) = issue(
        &authority,
        d,
        "renewed",
        "second",
        &["localhost", "127.0.0.1"],
    );
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    for addr in [&ingest, &query] {
        while !served_subject(addr).contains("second") {
            assert!(
                Instant::now() < deadline,
                "{addr} still serves {}",
                served_subject(addr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    assert!(served_subject(&query).contains("second"));
    let (code, out) = curl(&["--cacert", &ca_pem, &format!("https://{query}/health")]);
    assert_eq!(code, 0, "{out}");
    let log = stop(child);
    assert!(log.contains("serving HTTPS"), "{log}");
    assert!(log.contains("TLS certificate not reloaded"), "{log}");
}

#[test]
fn client_certificates_when_a_client_ca_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let servers = ca(d, "server-ca");
    let clients = ca(d, "client-ca");
    let strangers = ca(d, "stranger-ca");
    let (cert, key) = issue(&servers, d, "server", "server", &["localhost", "127.0.0.1"]);
    let (client_cert, client_key) = issue(&clients, d, "client", "shipper", &["shipper"]);
    let (other_cert, other_key) = issue(&strangers, d, "other", "stranger", &["stranger"]);
    let (child, ingest, query) = spawn(
        d,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-client-ca",
            clients.pem.to_str().unwrap(),
        ],
    );
    let with_cert = [
        "--cert",
        client_cert.to_str().unwrap(),
        "--key",
        client_key.to_str().unwrap(),
    ];
    wait_https(&ingest, &servers.pem, &with_cert);
    wait_https(&query, &servers.pem, &with_cert);
    let ca_pem = servers.pem.to_str().unwrap();
    for addr in [&ingest, &query] {
        let url = format!("https://{addr}/health");
        // No certificate, or one the client CA did not sign: no answer.
        let (code, out) = curl(&["--cacert", ca_pem, &url]);
        assert_ne!(code, 0, "{out}");
        let (code, out) = curl(&[
            "--cacert",
            ca_pem,
            "--cert",
            other_cert.to_str().unwrap(),
            "--key",
            other_key.to_str().unwrap(),
            &url,
        ]);
        assert_ne!(code, 0, "{out}");
        let mut args = vec!["--cacert", ca_pem];
        args.extend_from_slice(&with_cert);
        args.push(&url);
        let (code, out) = curl(&args);
        assert_eq!(code, 0, "{out}");
    }
    stop(child);
}

#[test]
fn a_certificate_that_does_not_load_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let authority = ca(d, "ca");
    let (cert, _) = issue(&authority, d, "a", "a", &["localhost"]);
    let (_, other_key) = issue(&authority, d, "b", "b", &["localhost"]);
    for (flags, says) in [
        (vec!["--tls-cert", cert.to_str().unwrap()], "--tls-key"),
        (
            vec![
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                other_key.to_str().unwrap(),
            ],
            "b.key",
        ),
        (
            vec![
                "--tls-cert",
                "/nonexistent.pem",
                "--tls-key",
                other_key.to_str().unwrap(),
            ],
            "/nonexistent.pem",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_logagg"))
            .arg("--data-dir")
            .arg(d.join("data"))
            .args([
                "--ingest-addr",
                "127.0.0.1:0",
                "--query-addr",
                "127.0.0.1:0",
            ])
            .args(&flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?}");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(says), "{flags:?}: {text}");
    }
}
