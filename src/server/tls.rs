//! TLS for both listeners, from PEM files named on the command line.
//!
//! `--tls-cert` and `--tls-key` (a certificate chain and its private key) turn TLS on for the
//! gRPC and the Redis-protocol listener alike; `--tls-client-ca` adds mutual TLS: a client
//! must then present a certificate issued by one of that file's authorities, on either
//! listener. Everything is rustls with the `ring` provider: no OpenSSL. The files are read and
//! checked once, at startup, before anything is bound: a missing, unreadable or malformed file,
//! a key that does not match the certificate, or a half configuration (a key without a
//! certificate) stops the server with a message naming the flag.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// How long a client may take over its TLS handshake before it is dropped (both listeners).
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The PEM files TLS is configured from, as the flags name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (leaf first).
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// If set, the authorities whose client certificates are accepted; clients without one
    /// are refused.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// The TLS settings the three flags give: `None` for plaintext; an error for a client CA
    /// without a certificate, or a certificate without a key (or the reverse).
    pub fn from_flags(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        client_ca: Option<PathBuf>,
    ) -> Result<Option<TlsFiles>, String> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert,
                key,
                client_ca,
            })),
            (None, None) if client_ca.is_none() => Ok(None),
            (None, None) => Err("--tls-client-ca needs --tls-cert and --tls-key".to_owned()),
            (Some(_), None) => Err("--tls-cert needs --tls-key".to_owned()),
            (None, Some(_)) => Err("--tls-key needs --tls-cert".to_owned()),
        }
    }
}

/// TLS, loaded and checked: the gRPC listener's configuration and the RESP listener's
/// acceptor, from the same files.
#[derive(Clone)]
pub struct Tls {
    /// For tonic's server.
    pub grpc: tonic::transport::ServerTlsConfig,
    /// For the RESP listener.
    pub resp: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Tls { .. }")
    }
}

impl Tls {
    /// Reads and checks the files; the error names the flag and the file.
    pub fn load(files: &TlsFiles) -> Result<Tls, String> {
        let cert_pem = read(&files.cert, "--tls-cert")?;
        let key_pem = read(&files.key, "--tls-key")?;
        let certs = parse_certs(&cert_pem, &files.cert, "--tls-cert")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| {
            format!(
                "--tls-key {}: no usable private key: {error}",
                files.key.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS: {error}"))?;
        let mut grpc = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&cert_pem, &key_pem))
            .timeout(HANDSHAKE_TIMEOUT);
        let builder = match &files.client_ca {
            Some(path) => {
                let ca_pem = read(path, "--tls-client-ca")?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in parse_certs(&ca_pem, path, "--tls-client-ca")? {
                    roots
                        .add(cert)
                        .map_err(|error| format!("--tls-client-ca {}: {error}", path.display()))?;
                }
                grpc = grpc.client_ca_root(tonic::transport::Certificate::from_pem(&ca_pem));
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|error| format!("--tls-client-ca {}: {error}", path.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(certs, key).map_err(|error| {
            format!(
                "--tls-cert {} and --tls-key {}: {error}",
                files.cert.display(),
                files.key.display()
            )
        })?;
        Ok(Tls {
            grpc,
            resp: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{flag} {}: {error}", path.display()))
}

/// Every certificate in a PEM file; at least one.
fn parse_certs(
    pem: &[u8],
    path: &Path,
    flag: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{flag} {}: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_configuration_is_refused() {
        let path = || Some(PathBuf::from("x.pem"));
        assert_eq!(TlsFiles::from_flags(None, None, None), Ok(None));
        assert!(TlsFiles::from_flags(path(), None, None)
            .unwrap_err()
            .contains("--tls-key"));
        assert!(TlsFiles::from_flags(None, path(), None)
            .unwrap_err()
            .contains("--tls-cert"));
        assert!(TlsFiles::from_flags(None, None, path())
            .unwrap_err()
            .contains("--tls-client-ca needs"));
        assert!(TlsFiles::from_flags(path(), path(), path())
            .unwrap()
            .is_some());
    }

    #[test]
    fn missing_and_malformed_files_name_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert: dir.path().join("missing.pem"),
            key: dir.path().join("key.pem"),
            client_ca: None,
        };
        let error = Tls::load(&missing).unwrap_err();
        assert!(
            error.starts_with("--tls-cert") && error.contains("missing.pem"),
            "{error}"
        );

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, b"not a certificate").unwrap();
        let malformed = TlsFiles {
            cert: junk.clone(),
            key: junk,
            client_ca: None,
        };
        let error = Tls::load(&malformed).unwrap_err();
        assert!(error.contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let two = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, one.cert.pem()).unwrap();
        std::fs::write(&key, two.signing_key.serialize_pem()).unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        };
        let error = Tls::load(&files).unwrap_err();
        assert!(error.contains("--tls-key"), "{error}");

        std::fs::write(&key, one.signing_key.serialize_pem()).unwrap();
        Tls::load(&files).unwrap();
    }
}
