// The four Lambda functions made from the one Rust artifact, each with its own log group and least-privilege role.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { LAMBDA_ASSUME_ROLE, PolicyTargets, handlerStatements, logStatement, policyDocument } from "./policies";
import { HANDLERS, HandlerName, Settings } from "./settings";

export interface FunctionInputs extends PolicyTargets {
    settings: Settings;
    tableName: pulumi.Input<string>;
    bucketName: pulumi.Input<string>;
    managementEndpoint: pulumi.Input<string>;
    apiKeySha256: pulumi.Input<string>;
    /** The zip with `bootstrap` inside: absolute, or relative to the working directory. */
    artifactPath: string;
}

export interface HandlerFunction {
    fn: aws.lambda.Function;
    role: aws.iam.Role;
    logGroup: aws.cloudwatch.LogGroup;
}

/** API Gateway waits at most 29 s; a handler that takes longer is broken anyway. */
const TIMEOUT_SECONDS: Record<HandlerName, number> = { connect: 10, disconnect: 10, default: 15, http: 5 };

/** Handlers that check API keys get the digests; the others never see them. */
const NEEDS_KEYS: readonly HandlerName[] = ["connect", "default"];

export function handlerFunctions(prefix: string, i: FunctionInputs, parent: pulumi.Resource): Record<HandlerName, HandlerFunction> {
    const code = new pulumi.asset.FileArchive(i.artifactPath);
    const out = {} as Record<HandlerName, HandlerFunction>;
    for (const handler of HANDLERS) {
        const name = `${prefix}-${handler}`;
        const opts = { parent };
        const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
            name: `/aws/lambda/${name}`,
            retentionInDays: i.settings.logRetentionDays,
        }, opts);
        const role = new aws.iam.Role(`${name}-role`, {
            assumeRolePolicy: LAMBDA_ASSUME_ROLE,
            description: `Semantest ${handler} handler (${i.settings.environment})`,
        }, opts);
        const policy = new aws.iam.RolePolicy(`${name}-policy`, {
            role: role.id,
            policy: policyDocument([logStatement(logGroup.arn), ...handlerStatements(handler, i)]),
        }, opts);
        const environment: Record<string, pulumi.Input<string>> = {
            SEMANTEST_HANDLER: handler,
            SEMANTEST_TABLE: i.tableName,
            SEMANTEST_BUCKET: i.bucketName,
            SEMANTEST_MANAGEMENT_ENDPOINT: i.managementEndpoint,
            SEMANTEST_ENVIRONMENT: i.settings.environment,
            RUST_LOG: "info",
        };
        if (NEEDS_KEYS.includes(handler)) environment.SEMANTEST_API_KEY_SHA256 = pulumi.secret(i.apiKeySha256);
        const fn = new aws.lambda.Function(name, {
            name,
            code,
            handler: "bootstrap",
            runtime: aws.lambda.Runtime.CustomAL2023,
            architectures: ["x86_64"],
            memorySize: 128,
            timeout: TIMEOUT_SECONDS[handler],
            role: role.arn,
            reservedConcurrentExecutions: i.settings.reservedConcurrency[handler],
            environment: { variables: environment },
            // The handlers write JSON lines (tracing's JSON format): with the JSON log format Lambda
            // keeps them as structured records (Logs Insights reads their fields) and filters by level.
            loggingConfig: { logFormat: "JSON", applicationLogLevel: "INFO", systemLogLevel: "WARN", logGroup: logGroup.name },
            tags: { "semantest:environment": i.settings.environment, "semantest:handler": handler },
        }, { parent, dependsOn: [policy, logGroup] });
        out[handler] = { fn, role, logGroup };
    }
    return out;
}
