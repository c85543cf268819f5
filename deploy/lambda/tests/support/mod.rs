//! Test support: moto on loopback (one per test binary), fresh tables and buckets, and a small API Gateway management API stand-in.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use semantest_lambda::{Config, Services};

/// moto, started once for this test binary. It exits when its stdin closes, that is when this
/// process ends, however it ends.
struct Moto {
    url: String,
    _child: Child,
}

fn moto() -> &'static str {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    &MOTO
        .get_or_init(|| {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
            let python = format!("{root}/.build/moto-venv/bin/python");
            assert!(
                std::path::Path::new(&python).exists(),
                "moto is not installed: run ./build.sh setup (or deploy/local/setup.sh)"
            );
            let mut child = Command::new(python)
                .arg(format!("{root}/deploy/local/moto_on_loopback.py"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start moto");
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .expect("read moto's address");
            assert!(line.starts_with("http://127.0.0.1:"), "moto said {line:?}");
            Moto {
                url: line.trim().to_owned(),
                _child: child,
            }
        })
        .url
}

/// The SDK configuration every test uses: moto's endpoint, a fixed region, fake credentials.
pub async fn sdk() -> aws_config::SdkConfig {
    semantest_lambda::aws::defaults()
        .endpoint_url(moto())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a table shaped as the Pulumi program makes it (pk + sk, on demand, TTL on expiresAt).
pub async fn create_table(sdk: &aws_config::SdkConfig, name: &str) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(name)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
}

/// What the management API stand-in saw and knows.
#[derive(Debug, Default)]
pub struct Gateway {
    /// Connections that are live: a POST to them is delivered.
    pub live: HashSet<String>,
    /// What each connection received.
    pub received: HashMap<String, Vec<String>>,
    /// Connections closed through DELETE.
    pub closed: Vec<String>,
}

/// The management API (`POST`/`DELETE /@connections/{id}`) of a stage, on loopback: 410 for a
/// connection it does not know, as API Gateway answers for a closed socket. Signatures are
/// not checked.
pub struct Management {
    pub url: String,
    pub state: Arc<Mutex<Gateway>>,
}

impl Management {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Gateway::default()));
        let app = Router::new()
            .route(
                "/{stage}/@connections/{id}",
                post(post_to).delete(delete_connection),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/test", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Management { url, state }
    }

    pub fn connect(&self, id: &str) {
        self.state.lock().unwrap().live.insert(id.to_owned());
    }

    /// The socket went away without its `$disconnect` reaching the handlers.
    pub fn forget(&self, id: &str) {
        self.state.lock().unwrap().live.remove(id);
    }

    /// The frames `id` received, parsed.
    pub fn received(&self, id: &str) -> Vec<serde_json::Value> {
        self.state
            .lock()
            .unwrap()
            .received
            .get(id)
            .map(|v| v.iter().map(|t| serde_json::from_str(t).unwrap()).collect())
            .unwrap_or_default()
    }

    pub fn closed(&self) -> Vec<String> {
        self.state.lock().unwrap().closed.clone()
    }
}

/// API Gateway's answer for a closed connection: 410, the error type in a header (which is
/// what the SDK reads).
fn gone() -> Response {
    (
        StatusCode::GONE,
        [("x-amzn-errortype", "GoneException")],
        r#"{"message":null}"#,
    )
        .into_response()
}

async fn post_to(
    State(state): State<Arc<Mutex<Gateway>>>,
    Path((_stage, id)): Path<(String, String)>,
    body: String,
) -> Response {
    let mut s = state.lock().unwrap();
    if !s.live.contains(&id) {
        return gone();
    }
    s.received.entry(id).or_default().push(body);
    StatusCode::OK.into_response()
}

async fn delete_connection(
    State(state): State<Arc<Mutex<Gateway>>>,
    Path((_stage, id)): Path<(String, String)>,
) -> Response {
    let mut s = state.lock().unwrap();
    if !s.live.remove(&id) {
        return gone();
    }
    s.closed.push(id);
    StatusCode::NO_CONTENT.into_response()
}

/// A fresh stack: its own table and bucket in moto, and a management API stand-in.
pub struct Stack {
    pub services: Services,
    pub management: Management,
    pub table: String,
    pub bucket: String,
    pub sdk: aws_config::SdkConfig,
}

pub const KEY: &str = "moto-test-key-0123456789";
/// A second user's key on the same stack.
pub const OTHER_KEY: &str = "moto-other-key-0123456789";

/// The pk of `event`'s subscription items for connections that showed [`KEY`].
pub fn subscribers_pk(event: &str) -> String {
    format!(
        "event#key:{}#{event}",
        semantest_protocol::keys::key_id(KEY)
    )
}

/// `bytes` in lowercase hex.
pub fn sha256_hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Stack {
    /// `keyed`: operator keys [`KEY`] and [`OTHER_KEY`]; else none (installs register, devices
    /// pair).
    pub async fn new(keyed: bool) -> Self {
        if keyed {
            Self::make(Some(&[KEY, OTHER_KEY])).await
        } else {
            Self::make(None).await
        }
    }

    /// A stack whose operator keys are `keys` (and where installs register and devices pair).
    pub async fn with_keys(keys: &[&str]) -> Self {
        Self::make(Some(keys)).await
    }

    async fn make(keys: Option<&[&str]>) -> Self {
        let keyed = keys.is_some();
        let sdk = sdk().await;
        let table = unique("connections");
        let bucket = unique("images");
        create_table(&sdk, &table).await;
        aws_sdk_s3::Client::new(&sdk)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        let management = Management::start().await;
        let digest = keys
            .unwrap_or_default()
            .iter()
            .map(|k| sha256_hex(k))
            .collect::<Vec<_>>()
            .join(",");
        let config = Config::from_lookup(|k| match k {
            "SEMANTEST_HANDLER" => Some("default".to_owned()),
            "SEMANTEST_TABLE" => Some(table.clone()),
            "SEMANTEST_BUCKET" => Some(bucket.clone()),
            "SEMANTEST_MANAGEMENT_ENDPOINT" => Some(management.url.clone()),
            "SEMANTEST_API_KEY_SHA256" if keyed => Some(digest.clone()),
            "SEMANTEST_S3_FORCE_PATH_STYLE" => Some("true".to_owned()),
            "SEMANTEST_ENVIRONMENT" => Some("production".to_owned()),
            "SEMANTEST_MAX_UPLOAD_BYTES" => Some("1048576".to_owned()),
            _ => None,
        })
        .unwrap();
        Stack {
            services: Services::new(config, &sdk),
            management,
            table,
            bucket,
            sdk,
        }
    }

    /// The fixture's `$connect` for connection `id` with extra headers.
    pub fn connect_event(id: &str, headers: &[(&str, &str)]) -> ApiGatewayWebsocketProxyRequest {
        let mut event: ApiGatewayWebsocketProxyRequest = fixture("connect.json");
        event.request_context.connection_id = Some(id.to_owned());
        for (k, v) in headers {
            event.headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        event
    }

    /// The fixture's message event: `body` from connection `id`.
    pub fn message_event(id: &str, body: &str) -> ApiGatewayWebsocketProxyRequest {
        let mut event: ApiGatewayWebsocketProxyRequest = fixture("message.json");
        event.request_context.connection_id = Some(id.to_owned());
        event.body = Some(body.to_owned());
        event
    }

    /// Connects `id` (live at the stand-in, `$connect` run) and says `hello` as `role`.
    pub async fn join(&self, id: &str, role: &str) {
        self.join_with(id, role, KEY).await;
    }

    /// [`Stack::join`] with another key.
    pub async fn join_with(&self, id: &str, role: &str, key: &str) {
        self.management.connect(id);
        let connect = Self::connect_event(id, &[("authorization", &format!("Bearer {key}"))]);
        let r = semantest_lambda::connect::handle(&self.services, &connect, now()).await;
        assert_eq!(r.status_code, 200);
        let hello = format!(
            r#"{{"action":"hello","id":"h-{id}","payload":{{"role":"{role}","clientId":"{id}","version":"1"}}}}"#
        );
        let welcome = self.send(id, &hello).await.expect("welcome");
        assert_eq!(welcome["type"], "welcome", "{welcome}");
    }

    /// Runs `$default` for `body` from `id`; the route response, parsed.
    pub async fn send(&self, id: &str, body: &str) -> Option<serde_json::Value> {
        let r = semantest_lambda::message::handle(
            &self.services,
            &Self::message_event(id, body),
            now(),
        )
        .await;
        assert_eq!(r.status_code, 200);
        semantest_lambda::reply::body_text(&r.body).map(|t| serde_json::from_str(t).unwrap())
    }

    /// The item at `pk`/`sk`, if any.
    pub async fn item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .get_item()
            .table_name(&self.table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(sk.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }
}

pub fn now() -> u64 {
    semantest_lambda::now_ms()
}

pub fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
