//! The AWS SDK configuration: credentials and region from the environment, HTTPS with rustls on ring.
//!
//! On Lambda the credentials come from the function's role (environment variables). For the
//! local tests `AWS_ENDPOINT_URL` points every service at moto on loopback (the SDK reads it
//! itself), and the management API's endpoint is configured separately (see [`crate::push`]).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Loads the SDK configuration from the environment.
pub async fn load() -> SdkConfig {
    defaults().load().await
}

/// The loader with this crate's HTTPS client, before the environment is read (tests add
/// their endpoint, region and credentials to it).
pub fn defaults() -> aws_config::ConfigLoader {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https)
}
