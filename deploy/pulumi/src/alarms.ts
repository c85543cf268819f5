// CloudWatch alarms on the functions (errors, throttles, p99 duration), both APIs (5xx-like errors, p99 integration latency) and identity floods (registrations, refused pairings, counted from the default handler's log), mailed through SNS.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HandlerFunction } from "./functions";
import { HANDLERS, HandlerName, Settings } from "./settings";

export interface AlarmTargets {
    functions: Record<HandlerName, HandlerFunction>;
    websocketApiId: pulumi.Input<string>;
    websocketStage: pulumi.Input<string>;
    httpApiId: pulumi.Input<string>;
    httpStage: pulumi.Input<string>;
}

interface AlarmSpec {
    name: string;
    description: string;
    namespace: string;
    metricName: string;
    dimensions: Record<string, pulumi.Input<string>>;
    /** A plain statistic (Sum) or a percentile (p99). */
    statistic: "Sum" | "p99";
    threshold: number;
    /** How many of the last three 5-minute periods must breach; 1 of 1 for counts of failures. */
    slow: boolean;
}

/** Every alarm the stack keeps, from the settings' thresholds. */
export function alarmSpecs(prefix: string, s: Settings, t: AlarmTargets): AlarmSpec[] {
    const specs: AlarmSpec[] = [];
    for (const h of HANDLERS) {
        const dimensions = { FunctionName: t.functions[h].fn.name };
        const lambda = { namespace: "AWS/Lambda", dimensions };
        specs.push(
            { ...lambda, name: `${prefix}-${h}-errors`, description: `${h} handler errors`, metricName: "Errors", statistic: "Sum", threshold: s.alarms.lambdaErrors, slow: false },
            { ...lambda, name: `${prefix}-${h}-throttles`, description: `${h} handler throttled (reserved concurrency reached)`, metricName: "Throttles", statistic: "Sum", threshold: s.alarms.lambdaThrottles, slow: false },
            { ...lambda, name: `${prefix}-${h}-duration`, description: `${h} handler p99 duration`, metricName: "Duration", statistic: "p99", threshold: s.alarms.lambdaDurationMs, slow: true },
        );
    }
    const ws = { namespace: "AWS/ApiGateway", dimensions: { ApiId: t.websocketApiId, Stage: t.websocketStage } };
    const http = { namespace: "AWS/ApiGateway", dimensions: { ApiId: t.httpApiId, Stage: t.httpStage } };
    // WebSocket APIs report no 5xx metric: IntegrationError and ExecutionError are their server-side failures.
    specs.push(
        { ...ws, name: `${prefix}-websocket-integration-errors`, description: "WebSocket integration errors (the handler failed)", metricName: "IntegrationError", statistic: "Sum", threshold: s.alarms.websocketErrors, slow: false },
        { ...ws, name: `${prefix}-websocket-execution-errors`, description: "WebSocket execution errors (API Gateway failed)", metricName: "ExecutionError", statistic: "Sum", threshold: s.alarms.websocketErrors, slow: false },
        { ...ws, name: `${prefix}-websocket-integration-latency`, description: "WebSocket p99 integration latency", metricName: "IntegrationLatency", statistic: "p99", threshold: s.alarms.integrationLatencyMs, slow: true },
        { ...http, name: `${prefix}-http-5xx`, description: "HTTP API 5xx answers", metricName: "5xx", statistic: "Sum", threshold: s.alarms.http5xx, slow: false },
        { ...http, name: `${prefix}-http-integration-latency`, description: "HTTP API p99 integration latency", metricName: "IntegrationLatency", statistic: "p99", threshold: s.alarms.integrationLatencyMs, slow: true },
    );
    // Identity floods: counted by metric filters on the default handler's log lines
    // (deploy/lambda/src/enroll.rs), so no per-route detailed metrics are paid for.
    const identity = { namespace: IDENTITY_NAMESPACE, dimensions: { Stack: prefix } };
    specs.push(
        { ...identity, name: `${prefix}-registration-flood`, description: "installs registered per 5 minutes (a registration flood)", metricName: "Registrations", statistic: "Sum", threshold: s.alarms.registrations, slow: false },
        { ...identity, name: `${prefix}-pairing-failures`, description: "pairing codes refused or pairing rate limited per 5 minutes (someone guessing codes)", metricName: "PairingFailures", statistic: "Sum", threshold: s.alarms.pairingFailures, slow: false },
    );
    return specs;
}

/** The namespace of the metrics the stack derives from its logs. */
export const IDENTITY_NAMESPACE = "Semantest/Identity";

/** Log lines of the default handler that count towards each identity metric (filter patterns). */
export const IDENTITY_FILTERS: Record<string, string> = {
    Registrations: '"registered an install"',
    PairingFailures: '?"refused a pairing code" ?"pairing rate limited"',
};

export interface Alarms {
    topic: aws.sns.Topic;
    alarms: aws.cloudwatch.MetricAlarm[];
}

export function alarms(prefix: string, s: Settings, t: AlarmTargets, parent: pulumi.Resource): Alarms {
    const opts = { parent };
    // Unencrypted on purpose: CloudWatch cannot publish to a topic under the AWS-managed SNS key, and
    // alarm notices hold nothing secret.
    const topic = new aws.sns.Topic(`${prefix}-alarms`, { name: `${prefix}-alarms` }, opts);
    new aws.sns.TopicSubscription(`${prefix}-alarms-email`, { topic: topic.arn, protocol: "email", endpoint: s.alarmEmail }, opts);
    for (const [metric, pattern] of Object.entries(IDENTITY_FILTERS)) {
        new aws.cloudwatch.LogMetricFilter(`${prefix}-${metric.toLowerCase()}-filter`, {
            name: `${prefix}-${metric}`,
            logGroupName: t.functions.default.logGroup.name,
            pattern,
            metricTransformation: {
                namespace: IDENTITY_NAMESPACE,
                name: metric,
                value: "1",
                defaultValue: "0",
                dimensions: { Stack: `${prefix}` },
            },
        }, opts);
    }
    const made = alarmSpecs(prefix, s, t).map((a) => new aws.cloudwatch.MetricAlarm(a.name, {
        name: a.name,
        alarmDescription: `${a.description} (${s.environment})`,
        namespace: a.namespace,
        metricName: a.metricName,
        dimensions: a.dimensions,
        ...(a.statistic === "Sum" ? { statistic: "Sum" } : { extendedStatistic: a.statistic }),
        comparisonOperator: "GreaterThanThreshold",
        threshold: a.threshold,
        period: 300,
        evaluationPeriods: a.slow ? 3 : 1,
        datapointsToAlarm: a.slow ? 2 : 1,
        treatMissingData: "notBreaching",
        alarmActions: [topic.arn],
        okActions: [topic.arn],
    }, opts));
    return { topic, alarms: made };
}
