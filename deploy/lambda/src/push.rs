//! Messages to other connections through the API Gateway management API (`@connections`), telling a gone connection (410) from a failure.

use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// API Gateway took it for the socket.
    Delivered,
    /// The connection is gone (410): its items should be removed.
    Gone,
    /// Anything else (throttled, too large, denied, unreachable); the connection may still be there.
    Failed(String),
}

/// The management API of one WebSocket API stage.
#[derive(Debug, Clone)]
pub struct Push {
    client: Option<Client>,
}

impl Push {
    /// The management API at `endpoint` (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`);
    /// `None` for handlers that never push (every push then fails with a clear reason).
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let client = endpoint.map(|url| {
            let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                .endpoint_url(url)
                .build();
            Client::from_conf(config)
        });
        Push { client }
    }

    /// Sends `text` to the connection `id`.
    pub async fn post(&self, id: &str, text: &str) -> Delivery {
        let Some(client) = &self.client else {
            return Delivery::Failed("SEMANTEST_MANAGEMENT_ENDPOINT is not set".to_owned());
        };
        let sent = client
            .post_to_connection()
            .connection_id(id)
            .data(Blob::new(text.as_bytes()))
            .send()
            .await;
        match sent {
            Ok(_) => Delivery::Delivered,
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PostToConnectionError::GoneException(_))
                    || e.raw().status().as_u16() == 410 =>
            {
                Delivery::Gone
            }
            Err(e) => Delivery::Failed(describe(&e)),
        }
    }

    /// Closes the connection `id` (after an `unauthorized` error, say).
    pub async fn close(&self, id: &str) -> Delivery {
        let Some(client) = &self.client else {
            return Delivery::Failed("SEMANTEST_MANAGEMENT_ENDPOINT is not set".to_owned());
        };
        match client.delete_connection().connection_id(id).send().await {
            Ok(_) => Delivery::Delivered,
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DeleteConnectionError::GoneException(_))
                    || e.raw().status().as_u16() == 410 =>
            {
                Delivery::Gone
            }
            Err(e) => Delivery::Failed(describe(&e)),
        }
    }
}

fn describe<E: std::error::Error>(e: &E) -> String {
    // The SDK's Display is terse ("service error"); the source chain says what happened.
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    semantest_protocol::shorten(&text, 300)
}
