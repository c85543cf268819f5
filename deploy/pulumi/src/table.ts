// The DynamoDB table of live connections and subscriptions (pk/sk, expiring through the `expiresAt` TTL).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Settings } from "./settings";

export function connectionsTable(prefix: string, settings: Settings, parent: pulumi.Resource): aws.dynamodb.Table {
    return new aws.dynamodb.Table(`${prefix}-connections`, {
        billingMode: "PAY_PER_REQUEST",
        hashKey: "pk",
        rangeKey: "sk",
        attributes: [
            { name: "pk", type: "S" },
            { name: "sk", type: "S" },
        ],
        // The handlers set expiresAt (epoch seconds) on every item: a socket API Gateway dropped without
        // a $disconnect still leaves the table within a day or so.
        ttl: { attributeName: "expiresAt", enabled: true },
        // With no key ARN this is the AWS-managed KMS key (aws/dynamodb) rather than the default owned key.
        serverSideEncryption: { enabled: true },
        pointInTimeRecovery: { enabled: true },
        deletionProtectionEnabled: settings.environment === "production",
        tags: { "semantest:environment": settings.environment },
    }, { parent });
}
