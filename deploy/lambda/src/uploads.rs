//! Presigned S3 URLs for images: a `PUT` that S3 checks (type, size, SHA-256) and a `GET` for afterwards.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use base64::Engine as _;
use semantest_protocol::{UploadRequest, UploadUrl};

/// The media types an upload may have.
pub const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp", "image/gif"];

/// How long the URLs are valid.
pub const URL_TTL_SECS: u64 = 900;

/// Why no URL was issued.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The request itself is wrong (the client's fault): `bad_payload`.
    #[error("{0}")]
    Invalid(String),
    /// Signing failed (the service's fault): `internal`.
    #[error("S3 presigning failed: {0}")]
    Presign(String),
}

/// The images bucket.
#[derive(Debug, Clone)]
pub struct Uploads {
    client: Client,
    bucket: String,
}

/// Checks a `requestUpload` against the limits; the error is for the client.
pub fn check(request: &UploadRequest, max_bytes: u64) -> Result<[u8; 32], UploadError> {
    if !semantest_protocol::valid_file_name(&request.filename) {
        return Err(UploadError::Invalid(format!(
            "filename '{}' is not a plain file name: use 1-128 letters, digits or ._- (not starting with a dot)",
            semantest_protocol::shorten(&request.filename, 64)
        )));
    }
    if request.size == 0 || request.size > max_bytes {
        return Err(UploadError::Invalid(format!(
            "size {} is not within 1..={max_bytes} bytes",
            request.size
        )));
    }
    // Images only: a presigned GET of text/html on an S3 domain would be a page anyone can open.
    let ct = &request.content_type;
    if !IMAGE_TYPES.contains(&ct.as_str()) {
        return Err(UploadError::Invalid(format!(
            "contentType '{}' is not one of {}",
            semantest_protocol::shorten(ct, 64),
            IMAGE_TYPES.join(", ")
        )));
    }
    semantest_protocol::keys::parse_sha256_hex(&request.sha256)
        .ok_or_else(|| UploadError::Invalid("sha256 must be 64 hex digits".to_owned()))
}

impl Uploads {
    /// The bucket `bucket` on the SDK configuration `sdk`; path-style URLs when asked (moto).
    pub fn new(sdk: &aws_config::SdkConfig, bucket: &str, force_path_style: bool) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(force_path_style)
            .build();
        Uploads {
            client: Client::from_conf(config),
            bucket: bucket.to_owned(),
        }
    }

    /// The URLs for `request` from `connection_id`, under `images/{imageId}/{filename}`.
    pub async fn issue(
        &self,
        request: &UploadRequest,
        max_bytes: u64,
    ) -> Result<UploadUrl, UploadError> {
        let digest = check(request, max_bytes)?;
        let image_id = uuid::Uuid::new_v4().simple().to_string();
        let key = format!("images/{image_id}/{}", request.filename);
        let presigning = PresigningConfig::expires_in(Duration::from_secs(URL_TTL_SECS))
            .map_err(|e| UploadError::Presign(e.to_string()))?;
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(&request.content_type)
            .content_length(request.size as i64)
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(digest))
            // On Lambda the SDK adds the invocation's X-Ray trace id to every request; in a
            // presigned URL it would be a signed header the uploader has to send back.
            .customize()
            .mutate_request(|r| {
                r.headers_mut().remove("x-amzn-trace-id");
            })
            .presigned(presigning.clone())
            .await
            .map_err(|e| UploadError::Presign(e.to_string()))?;
        let get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| UploadError::Presign(e.to_string()))?;
        Ok(UploadUrl {
            image_id,
            put_url: put.uri().to_owned(),
            get_url: get.uri().to_owned(),
            expires_in_secs: URL_TTL_SECS,
            headers: put
                .headers()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(filename: &str, size: u64, sha256: &str) -> UploadRequest {
        UploadRequest {
            filename: filename.to_owned(),
            size,
            sha256: sha256.to_owned(),
            content_type: "image/png".to_owned(),
        }
    }

    #[test]
    fn only_plain_names_sizes_in_range_and_real_digests_get_a_url() {
        let sha = "ab".repeat(32);
        assert_eq!(check(&request("cat.png", 10, &sha), 100).unwrap()[0], 0xab);
        for (req, says) in [
            (request("../cat.png", 10, &sha), "not a plain file name"),
            (request(".hidden", 10, &sha), "not a plain file name"),
            (request("a/b.png", 10, &sha), "not a plain file name"),
            (request("cat.png", 0, &sha), "not within 1..=100"),
            (request("cat.png", 101, &sha), "not within 1..=100"),
            (request("cat.png", 10, "abc"), "64 hex digits"),
            (request("cat.png", 10, &"zz".repeat(32)), "64 hex digits"),
        ] {
            let e = check(&req, 100).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        for odd in ["png", "text/html", "image/svg+xml"] {
            let mut req = request("cat.png", 10, &sha);
            req.content_type = odd.to_owned();
            let e = check(&req, 100).unwrap_err().to_string();
            assert!(e.contains("is not one of image/png"), "{e}");
        }
    }
}
