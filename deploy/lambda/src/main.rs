//! `bootstrap`: the executable AWS Lambda runs (provided.al2023); SEMANTEST_HANDLER picks the handler.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{service_fn, LambdaEvent};
use semantest_lambda::{
    connect, disconnect, http_routes, message, now_ms, Config, Handler, Services,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // JSON lines on stdout, which Lambda sends to CloudWatch Logs. Frames are never logged:
    // a hello carries the API key.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let config = match Config::from_lookup(|k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(e) => {
            // An init error: Lambda reports the function as failed to start, with this message.
            tracing::error!("configuration: {e}");
            return Err(e.into());
        }
    };
    let handler = config.handler;
    let sdk = semantest_lambda::aws::load().await;
    let services = Services::new(config, &sdk);
    let services = &services;
    match handler {
        Handler::Http => {
            lambda_runtime::run(service_fn(
                |e: LambdaEvent<ApiGatewayV2httpRequest>| async move {
                    Ok::<_, lambda_runtime::Error>(http_routes::handle(
                        &services.config,
                        &e.payload,
                    ))
                },
            ))
            .await
        }
        Handler::Connect => {
            lambda_runtime::run(service_fn(
                |e: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
                    Ok::<_, lambda_runtime::Error>(
                        connect::handle(services, &e.payload, now_ms()).await,
                    )
                },
            ))
            .await
        }
        Handler::Disconnect => {
            lambda_runtime::run(service_fn(
                |e: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
                    Ok::<_, lambda_runtime::Error>(disconnect::handle(services, &e.payload).await)
                },
            ))
            .await
        }
        Handler::Default => {
            lambda_runtime::run(service_fn(
                |e: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
                    Ok::<_, lambda_runtime::Error>(
                        message::handle(services, &e.payload, now_ms()).await,
                    )
                },
            ))
            .await
        }
    }
}
