//! How the client commands reach a server: its address, TLS (the authority to trust, and a
//! client certificate for mutual TLS) and credentials (a user and password, or a bearer
//! token), each a flag with an environment variable.

use std::path::PathBuf;

use base64::Engine as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::cli::error::CliError;

/// The options the client commands share to reach a server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerOptions {
    /// The server's address, HOST:PORT.
    #[arg(
        long = "addr",
        value_name = "HOST:PORT",
        env = "SLUICE_ADDR",
        default_value = super::DEFAULT_ADDRESS
    )]
    pub address: String,
    /// Connect over TLS, trusting the certificate authority in this PEM file.
    #[arg(long, value_name = "FILE", env = "SLUICE_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// The client certificate (PEM) to present, for a server with mutual TLS; needs --tls-ca
    /// and --client-key.
    #[arg(long, value_name = "FILE", env = "SLUICE_CLIENT_CERT")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", env = "SLUICE_CLIENT_KEY")]
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate must carry (default: the address's host).
    #[arg(long, value_name = "NAME", env = "SLUICE_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// The user to authenticate as (with --pass), for a server with --users.
    #[arg(long, env = "SLUICE_USER")]
    pub user: Option<String>,
    /// The user's password.
    #[arg(long = "pass", env = "SLUICE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A bearer token (USER.SECRET) to authenticate with instead of a user and password.
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ServerOptions {
    /// Options for `address` with no TLS and no credentials.
    pub fn plain(address: &str) -> ServerOptions {
        ServerOptions {
            address: address.to_owned(),
            ..ServerOptions::default()
        }
    }

    /// The endpoint to connect to: `https://` with the TLS settings when --tls-ca is given.
    pub fn endpoint(&self) -> Result<Endpoint, CliError> {
        let address = self.address.as_str();
        let failed =
            |error: &(dyn std::error::Error + 'static)| CliError::connection(address, error);
        let Some(ca) = &self.tls_ca else {
            if self.client_cert.is_some() || self.client_key.is_some() {
                return Err(CliError::Usage("--client-cert needs --tls-ca".to_owned()));
            }
            return Endpoint::from_shared(uri("http", address)).map_err(|e| failed(&e));
        };
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|error| {
                CliError::Usage(format!("cannot read {}: {error}", path.display()))
            })
        };
        if address.starts_with("http://") {
            return Err(CliError::Usage(
                "--tls-ca needs an https:// address or HOST:PORT, not http://".to_owned(),
            ));
        }
        let bare = address.split_once("://").map_or(address, |(_, rest)| rest);
        let host = bare
            .rsplit_once(':')
            .map_or(bare, |(host, _)| host)
            .trim_matches(['[', ']']);
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(ca)?))
            .domain_name(self.tls_server_name.as_deref().unwrap_or(host));
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            (None, None) => {}
            _ => {
                return Err(CliError::Usage(
                    "--client-cert and --client-key go together".to_owned(),
                ))
            }
        }
        Endpoint::from_shared(uri("https", address))
            .and_then(|endpoint| endpoint.tls_config(tls))
            .map_err(|e| failed(&e))
    }

    /// The `authorization` metadata the credentials give, if any.
    pub fn authorization(&self) -> Result<Option<MetadataValue<Ascii>>, CliError> {
        let value = match (&self.token, &self.user, &self.password) {
            (Some(token), None, None) => format!("Bearer {token}"),
            (None, Some(user), password) => {
                let pair = format!("{user}:{}", password.as_deref().unwrap_or(""));
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                format!("Basic {encoded}")
            }
            (None, None, None) => return Ok(None),
            (None, None, Some(_)) => return Err(CliError::Usage("--pass needs --user".to_owned())),
            (Some(_), _, _) => {
                return Err(CliError::Usage(
                    "use either --token or --user/--pass".to_owned(),
                ))
            }
        };
        value
            .parse()
            .map(Some)
            .map_err(|_| CliError::Usage("credentials must be ASCII".to_owned()))
    }
}

fn uri(scheme: &str, address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("{scheme}://{address}")
    }
}

/// Adds the credentials to every call.
#[derive(Debug, Clone, Default)]
pub struct Authorization(pub Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Authorization {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_one_header() {
        let mut options = ServerOptions::plain("127.0.0.1:1");
        assert_eq!(options.authorization().unwrap(), None);
        options.user = Some("alice".to_owned());
        options.password = Some("pw".to_owned());
        assert_eq!(
            options.authorization().unwrap().unwrap(),
            "Basic YWxpY2U6cHc="
        );
        options.token = Some("alice.00".to_owned());
        assert!(options.authorization().is_err());
        options.user = None;
        options.password = None;
        assert_eq!(options.authorization().unwrap().unwrap(), "Bearer alice.00");
    }

    #[test]
    fn addresses_become_uris() {
        assert_eq!(uri("http", "127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(uri("https", "http://h:1"), "http://h:1");
    }

    #[test]
    fn plaintext_unless_a_ca_is_given() {
        let options = ServerOptions::plain("127.0.0.1:1");
        assert_eq!(options.endpoint().unwrap().uri().scheme_str(), Some("http"));
        let mut with_cert = options.clone();
        with_cert.client_cert = Some("c.pem".into());
        assert!(with_cert.endpoint().is_err());
        let mut cleartext = ServerOptions::plain("http://127.0.0.1:1");
        cleartext.tls_ca = Some("ca.pem".into());
        assert!(
            cleartext.endpoint().is_err(),
            "TLS asked for, http:// given"
        );
    }
}
