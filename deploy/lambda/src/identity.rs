//! The public service's book of identities in DynamoDB: installs, paired devices, one-time pairing codes and per-address counters, keyed by the SHA-256 of each secret.
//!
//! Items, in the connections table beside the connections (see [`crate::store`]):
//!
//! | item | pk | sk | attributes | TTL |
//! |---|---|---|---|---|
//! | a token | `token#{sha256}` | `token` | `kind` (install/device), `installId`, `deviceId`, `revoked` | none |
//! | an install | `install#{id}` | `install` | `name`, `createdAt` | none |
//! | a device | `install#{id}` | `device#{deviceId}` | `name`, `pairedAt`, `lastSeen`, `tokenSha256` | none |
//! | a pairing code | `code#{sha256}` | `code` | `installId`, `expiresAtMs` | 1 h after it expires |
//! | a device's socket | `devconn#{deviceId}` | `conn#{id}` | | the connection's |
//! | a counter | `rate#{kind}#{address}` | the hour it counts | `count` | 1 h after the hour |
//!
//! Only digests are stored: no item holds a token or a code. A code is used up by one
//! conditional `DeleteItem` that returns it, so two devices racing for one code cannot both
//! win. Counters are fixed windows of one hour per address bucket
//! ([`semantest_protocol::rules::address_bucket`]): at most the limit in any clock hour.

use std::collections::HashMap;
use std::net::IpAddr;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use semantest_protocol::identity::{
    clean_name, issue, Device, DeviceList, Identity, Limited, Lookup, PairCodeIssued, PairError,
    Paired, PairingCode, Registered, MAX_DEVICES, PAIR_CODE_TTL_SECS,
};

use crate::store::{failed, n, s, Store, StoreError, CONNECTION_TTL_SECS};

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

impl Store {
    /// Who `token` belongs to (operator keys are checked by the caller, in constant time).
    pub async fn lookup_token(&self, token: &str) -> Result<Lookup, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("token#{}", issue::digest(token)),
                "token",
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem"))?;
        let Some(item) = out.item else {
            return Ok(Lookup::Unknown);
        };
        if matches!(item.get("revoked"), Some(AttributeValue::Bool(true))) {
            return Ok(Lookup::Revoked);
        }
        let install = text(&item, "installId").unwrap_or_default().to_owned();
        Ok(match (text(&item, "kind"), text(&item, "deviceId")) {
            (Some("install"), _) => Lookup::Known(Identity::Install {
                install_id: install,
            }),
            (Some("device"), Some(device)) => Lookup::Known(Identity::Device {
                install_id: install,
                device_id: device.to_owned(),
            }),
            _ => Lookup::Unknown,
        })
    }

    /// A new install named `name`, with its token.
    pub async fn register(&self, name: &str, now_ms: u64) -> Result<Registered, StoreError> {
        let (install_id, token) = (issue::install_id(), issue::install_token());
        let mut install = key(format!("install#{install_id}"), "install");
        install.insert("name".to_owned(), s(clean_name(name, "extension")));
        install.insert("createdAt".to_owned(), n(now_ms));
        self.put(install).await?;
        let mut token_item = key(format!("token#{}", issue::digest(token.expose())), "token");
        token_item.insert("kind".to_owned(), s("install"));
        token_item.insert("installId".to_owned(), s(&install_id));
        self.put(token_item).await?;
        Ok(Registered { install_id, token })
    }

    /// A new pairing code for `install_id`.
    pub async fn issue_pair_code(
        &self,
        install_id: &str,
        now_ms: u64,
    ) -> Result<PairCodeIssued, StoreError> {
        let code = issue::pairing_code();
        let expires_at = now_ms + PAIR_CODE_TTL_SECS * 1000;
        let mut item = key(format!("code#{}", issue::digest(code.canonical())), "code");
        item.insert("installId".to_owned(), s(install_id));
        item.insert("expiresAtMs".to_owned(), n(expires_at));
        // Kept an hour past its time, so a late try is told "expired", not "not valid".
        item.insert("expiresAt".to_owned(), n(expires_at / 1000 + 3600));
        self.put(item).await?;
        Ok(PairCodeIssued {
            code: code.display(),
            expires_at,
        })
    }

    /// Uses up `code` and pairs a device named `name` with its install.
    pub async fn pair(
        &self,
        code: &PairingCode,
        name: &str,
        now_ms: u64,
    ) -> Result<Result<Paired, PairError>, StoreError> {
        let taken = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("code#{}", issue::digest(code.canonical())),
                "code",
            )))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(failed("DeleteItem"))?;
        let Some(found) = taken.attributes else {
            return Ok(Err(PairError::Unknown));
        };
        if number(&found, "expiresAtMs").unwrap_or(0) <= now_ms {
            return Ok(Err(PairError::Expired));
        }
        let install_id = text(&found, "installId").unwrap_or_default().to_owned();
        if self.devices(&install_id).await?.items.len() >= MAX_DEVICES {
            return Ok(Err(PairError::Full));
        }
        let (device_id, token) = (issue::device_id(), issue::device_token());
        let digest = issue::digest(token.expose());
        let mut device = key(
            format!("install#{install_id}"),
            &format!("device#{device_id}"),
        );
        device.insert("name".to_owned(), s(clean_name(name, "device")));
        device.insert("pairedAt".to_owned(), n(now_ms));
        device.insert("lastSeen".to_owned(), n(now_ms));
        device.insert("tokenSha256".to_owned(), s(&digest));
        self.put(device).await?;
        let mut token_item = key(format!("token#{digest}"), "token");
        token_item.insert("kind".to_owned(), s("device"));
        token_item.insert("installId".to_owned(), s(&install_id));
        token_item.insert("deviceId".to_owned(), s(&device_id));
        self.put(token_item).await?;
        Ok(Ok(Paired {
            token,
            device_id,
            install_id,
        }))
    }

    /// The live devices of `install_id`, oldest pairing first.
    pub async fn devices(&self, install_id: &str) -> Result<DeviceList, StoreError> {
        let mut items = Vec::new();
        for item in self
            .items(&format!("install#{install_id}"), "device#", &[])
            .await?
        {
            let Some(device_id) = text(&item, "sk").and_then(|sk| sk.strip_prefix("device#"))
            else {
                continue;
            };
            items.push(Device {
                device_id: device_id.to_owned(),
                name: text(&item, "name").unwrap_or_default().to_owned(),
                paired_at: number(&item, "pairedAt").unwrap_or(0),
                last_seen: number(&item, "lastSeen"),
            });
        }
        items.sort_by(|a, b| (a.paired_at, &a.device_id).cmp(&(b.paired_at, &b.device_id)));
        Ok(DeviceList { items })
    }

    /// Revokes `device_id` of `install_id`: its token is marked revoked first, then its item
    /// goes — so a failure half way leaves the device listed (and the revoke can be repeated),
    /// never a listed-as-gone device whose token still works. `Ok(false)`: no such device of
    /// this install.
    pub async fn revoke(&self, install_id: &str, device_id: &str) -> Result<bool, StoreError> {
        let device_key = key(
            format!("install#{install_id}"),
            &format!("device#{device_id}"),
        );
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(device_key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem"))?;
        let Some(device) = found.item else {
            return Ok(false);
        };
        if let Some(digest) = text(&device, "tokenSha256") {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("token#{digest}"), "token")))
                .update_expression("SET revoked = :t")
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .send()
                .await
                .map_err(failed("UpdateItem"))?;
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(device_key))
            .send()
            .await
            .map_err(failed("DeleteItem"))?;
        Ok(true)
    }

    /// Notes that connection `id` is a socket of `device_id` (for closing it on revoke), and
    /// that the device was seen now.
    pub async fn device_socket(
        &self,
        identity: &Identity,
        id: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let Identity::Device {
            install_id,
            device_id,
        } = identity
        else {
            return Ok(());
        };
        let mut item = key(format!("devconn#{device_id}"), &format!("conn#{id}"));
        item.insert(
            "expiresAt".to_owned(),
            n(now_ms / 1000 + CONNECTION_TTL_SECS),
        );
        self.put(item).await?;
        // Only while the device is paired: a revoked one is not brought back.
        let seen = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("install#{install_id}"),
                &format!("device#{device_id}"),
            )))
            .condition_expression("attribute_exists(pk)")
            .update_expression("SET lastSeen = :now")
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match seen {
            Ok(_) => Ok(()),
            Err(e) if crate::store::condition_failed(&e) => Ok(()),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }

    /// The connections that were sockets of `device_id` (some may be gone).
    pub async fn device_sockets(&self, device_id: &str) -> Result<Vec<String>, StoreError> {
        let items = self
            .items(&format!("devconn#{device_id}"), "conn#", &["sk"])
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| text(item, "sk").and_then(|sk| sk.strip_prefix("conn#")))
            .map(str::to_owned)
            .collect())
    }

    /// Counts one `what` from `address` at `now_ms`: `Ok(Err(secs))` when that makes more
    /// than `limit` this clock hour, with the seconds until the next hour.
    pub async fn count(
        &self,
        what: Limited,
        address: IpAddr,
        limit: u32,
        now_ms: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let kind = what.name();
        let bucket = semantest_protocol::rules::address_bucket(address);
        let hour = now_ms / 1000 / 3600;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("rate#{kind}#{bucket}"),
                &hour.to_string(),
            )))
            .update_expression("ADD #count :one SET expiresAt = :ttl")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n((hour + 2) * 3600))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        let count = out
            .attributes
            .as_ref()
            .and_then(|a| number(a, "count"))
            .unwrap_or(u64::MAX);
        if count > u64::from(limit) {
            let next_hour = (hour + 1) * 3600;
            return Ok(Err(next_hour.saturating_sub(now_ms / 1000).max(1)));
        }
        Ok(Ok(()))
    }
}
