//! HTTPS on a service's port: rustls (ring), with the certificate chain and
//! private key read from PEM files, read again when either file changes
//! (checked every 2 s) or on SIGHUP, so a renewed certificate is served
//! without a restart; a renewal that does not load keeps the one in force
//! and logs why. With a client CA, every client must present a certificate
//! it signed (mutual TLS).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tracing::{error, info};

use crate::auth::modified;

/// Where the certificate, its key and the client CA come from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Clients must present a certificate this CA (PEM, one or more
    /// certificates) signed.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// From the three settings: `None` without a certificate; an error when
    /// only one of certificate and key is given, or a client CA without them.
    pub fn from_settings(
        cert: Option<&Path>,
        key: Option<&Path>,
        client_ca: Option<&Path>,
    ) -> Result<Option<TlsFiles>, String> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                client_ca: client_ca.map(Path::to_path_buf),
            })),
            (None, None) if client_ca.is_some() => {
                Err("--tls-client-ca needs --tls-cert and --tls-key".into())
            }
            (None, None) => Ok(None),
            (Some(_), None) => Err("--tls-cert needs --tls-key (TLS_KEY) too".into()),
            (None, Some(_)) => Err("--tls-key needs --tls-cert (TLS_CERT) too".into()),
        }
    }
}

/// A service's TLS: the rustls configuration its listener serves with, and
/// the certificate in force behind it.
#[derive(Debug, Clone)]
pub struct Tls {
    config: Arc<ServerConfig>,
    certificate: Arc<Certificate>,
}

/// The certificate in force, and the files it came from.
#[derive(Debug)]
struct Certificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    modified: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("lock").clone())
    }
}

/// The chain and key of `files`, checked to belong together.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let cert = files.cert.display();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("certificate {cert}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate {cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("certificate {cert}: no PEM certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("private key {}: {e}", files.key.display()))?;
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(|e| format!("certificate {cert} and key {}: {e}", files.key.display()))
}

impl Tls {
    /// Loads the files; an error (naming the file and the fault) when they
    /// do not make a certificate, so the service does not start.
    pub fn load(files: &TlsFiles) -> Result<Tls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamps = (modified(&files.cert), modified(&files.key));
        let certificate = Arc::new(Certificate {
            current: RwLock::new(load(files, &provider)?),
            files: files.clone(),
            provider: provider.clone(),
            modified: Mutex::new(stamps),
        });
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(ca)
                    .map_err(|e| format!("client CA {}: {e}", ca.display()))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("client CA {}: {e}", ca.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("client CA {}: {e}", ca.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "client CA {}: no PEM certificate in it",
                        ca.display()
                    ));
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| format!("client CA {}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_cert_resolver(certificate.clone());
        Ok(Tls {
            config: Arc::new(config),
            certificate,
        })
    }

    /// The configuration a listener serves with (the certificate in it
    /// follows reloads).
    pub fn server_config(&self) -> ServerConfig {
        (*self.config).clone()
    }

    /// Reads the files again; the certificate in force stays when they do
    /// not load (logged). `true` when the new one is in force.
    pub fn reload(&self) -> bool {
        let c = &self.certificate;
        *c.modified.lock().expect("lock") = (modified(&c.files.cert), modified(&c.files.key));
        match load(&c.files, &c.provider) {
            Ok(new) => {
                *c.current.write().expect("lock") = new;
                info!(cert = %c.files.cert.display(), "TLS certificate loaded");
                true
            }
            Err(e) => {
                error!(error = %e, "TLS certificate not reloaded; the one in force stays");
                false
            }
        }
    }

    fn reload_if_changed(&self) {
        let c = &self.certificate;
        let now = (modified(&c.files.cert), modified(&c.files.key));
        if *c.modified.lock().expect("lock") != now {
            self.reload();
        }
    }

    /// Reloads on change (checked every 2 s) and on SIGHUP, for as long as
    /// the runtime runs.
    pub fn watch(&self) {
        let (on_tick, on_hangup) = (self.clone(), self.clone());
        crate::auth::watch_files(
            move || on_tick.reload_if_changed(),
            move || {
                on_hangup.reload();
            },
        );
    }

    /// The end-entity certificate in force (DER).
    pub fn current(&self) -> CertificateDer<'static> {
        self.certificate.current.read().expect("lock").cert[0].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.cert.pem()).unwrap();
        std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn settings_come_in_pairs() {
        let p = Path::new("x");
        assert_eq!(TlsFiles::from_settings(None, None, None), Ok(None));
        for (cert, key, ca, says) in [
            (Some(p), None, None, "--tls-key"),
            (None, Some(p), None, "--tls-cert"),
            (None, None, Some(p), "--tls-client-ca needs"),
        ] {
            let e = TlsFiles::from_settings(cert, key, ca).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn bad_files_are_refused_by_name_and_a_bad_renewal_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "a");
        let (_, other_key) = write_pair(dir.path(), "b");
        let files = |cert: &Path, key: &Path| TlsFiles {
            cert: cert.into(),
            key: key.into(),
            client_ca: None,
        };
        let missing = dir.path().join("missing.pem");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem").unwrap();
        for (f, says) in [
            (files(&missing, &key), "missing.pem"),
            (files(&garbage, &key), "no PEM certificate"),
            (files(&cert, &garbage), "garbage.pem"),
            (files(&cert, &other_key), "b.key"),
        ] {
            let e = Tls::load(&f).unwrap_err();
            assert!(e.contains(says), "{e} (wanted {says})");
        }
        let tls = Tls::load(&files(&cert, &key)).unwrap();
        let before = tls.current();
        // A renewal: a new pair in the same files is taken.
        let (new_cert, new_key) = write_pair(dir.path(), "c");
        std::fs::copy(&new_cert, &cert).unwrap();
        std::fs::copy(&new_key, &key).unwrap();
        assert!(tls.reload());
        let renewed = tls.current();
        assert_ne!(renewed, before);
        // A broken one is not: the renewed certificate stays.
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
        assert!(!tls.reload());
        assert_eq!(tls.current(), renewed);
    }
}
