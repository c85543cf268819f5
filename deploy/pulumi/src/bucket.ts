// The private S3 bucket for images: no public access, TLS only, encrypted, expiring, CORS for presigned PUT/GET from the extension.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Settings } from "./settings";

/** Objects live under this prefix; the Lambda may touch nothing else. */
export const IMAGE_PREFIX = "images/";

export interface ImageBucket {
    bucket: aws.s3.Bucket;
    /** Resolves once the bucket is locked down (policy and public access block in place). */
    ready: pulumi.Resource[];
}

export function imageBucket(prefix: string, settings: Settings, parent: pulumi.Resource): ImageBucket {
    const opts = { parent };
    const bucket = new aws.s3.Bucket(`${prefix}-images`, {
        // Images are throwaway: outside production a stack may be destroyed with images still inside.
        forceDestroy: settings.environment !== "production",
        tags: { "semantest:environment": settings.environment },
    }, opts);

    const publicAccess = new aws.s3.BucketPublicAccessBlock(`${prefix}-images-public-access`, {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
    }, opts);

    // ACLs disabled: the bucket owner owns every object and no ACL can grant access.
    const ownership = new aws.s3.BucketOwnershipControls(`${prefix}-images-ownership`, {
        bucket: bucket.id,
        rule: { objectOwnership: "BucketOwnerEnforced" },
    }, opts);

    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(`${prefix}-images-encryption`, {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
    }, opts);

    const lifecycle = new aws.s3.BucketLifecycleConfiguration(`${prefix}-images-lifecycle`, {
        bucket: bucket.id,
        rules: [
            {
                id: "expire-images",
                status: "Enabled",
                filter: { prefix: IMAGE_PREFIX },
                expiration: { days: settings.imageExpirationDays },
            },
            {
                id: "abort-incomplete-uploads",
                status: "Enabled",
                filter: {},
                abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
            },
        ],
    }, opts);

    // Uploads and downloads go straight from the extension to S3 with presigned URLs.
    const cors = new aws.s3.BucketCorsConfiguration(`${prefix}-images-cors`, {
        bucket: bucket.id,
        corsRules: [{
            allowedMethods: ["PUT", "GET"],
            allowedOrigins: settings.extensionOrigins,
            allowedHeaders: ["content-type", "content-length", "content-md5", "x-amz-*"],
            exposeHeaders: ["ETag"],
            maxAgeSeconds: 3600,
        }],
    }, opts);

    const policy = new aws.s3.BucketPolicy(`${prefix}-images-tls-only`, {
        bucket: bucket.id,
        policy: pulumi.jsonStringify({
            Version: "2012-10-17",
            Statement: [{
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucket.arn, pulumi.interpolate`${bucket.arn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            }],
        }),
    }, { parent, dependsOn: [publicAccess] });

    return { bucket, ready: [publicAccess, ownership, encryption, lifecycle, cors, policy] };
}
