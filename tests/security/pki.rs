//! A throwaway public-key infrastructure for the tests: a certificate authority, a server
//! certificate for `localhost` and 127.0.0.1 that it signs, a client certificate it signs, and
//! a second authority the server does not trust (with a client certificate of its own). Every
//! file is PEM, written into a temporary directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// The files of one test run.
pub struct Pki {
    _dir: tempfile::TempDir,
    /// The trusted authority's certificate.
    pub ca: PathBuf,
    /// The server's certificate and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate and key signed by the trusted authority.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate and key signed by an authority the server does not trust.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A leaf certificate for `names`, signed by `issuer`, written as `<stem>.pem` and
/// `<stem>-key.pem`.
fn leaf(
    dir: &Path,
    stem: &str,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    issuer: &CertifiedIssuer<'static, KeyPair>,
) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, stem);
    params.extended_key_usages = vec![purpose];
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path)
}

impl Pki {
    /// Generates everything.
    pub fn generate() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let trusted = authority("Sluice test CA");
        let stranger = authority("Somebody else's CA");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, trusted.pem()).expect("write CA");
        let (server_cert, server_key) = leaf(
            dir.path(),
            "server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &trusted,
        );
        let (client_cert, client_key) = leaf(
            dir.path(),
            "client",
            &["client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &trusted,
        );
        let (stranger_cert, stranger_key) = leaf(
            dir.path(),
            "stranger",
            &["stranger"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &stranger,
        );
        Pki {
            _dir: dir,
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
            stranger_cert,
            stranger_key,
        }
    }

    /// The server flags for TLS, with mutual TLS if `mutual`.
    pub fn server_flags(&self, mutual: bool) -> Vec<(&'static str, String)> {
        let mut flags = vec![
            ("--tls-cert", self.server_cert.display().to_string()),
            ("--tls-key", self.server_key.display().to_string()),
        ];
        if mutual {
            flags.push(("--tls-client-ca", self.ca.display().to_string()));
        }
        flags
    }
}
