// The CloudWatch dashboard: connections, messages, errors and latency of both APIs, and each function's invocations, errors, throttles and duration.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { AlarmTargets } from "./alarms";
import { HANDLERS } from "./settings";

export function dashboard(prefix: string, region: pulumi.Input<string>, t: AlarmTargets, parent: pulumi.Resource): aws.cloudwatch.Dashboard {
    const fnNames = HANDLERS.map((h) => t.functions[h].fn.name);
    const body = pulumi.all([region, t.websocketApiId, t.websocketStage, t.httpApiId, t.httpStage, pulumi.all(fnNames)])
        .apply(([region, wsId, wsStage, httpId, httpStage, fns]) => {
            const widget = (title: string, metrics: unknown[][], x: number, y: number, stat = "Sum") => ({
                type: "metric",
                x, y, width: 12, height: 6,
                properties: { title, region, stat, period: 300, view: "timeSeries", metrics },
            });
            const ws = (metric: string) => ["AWS/ApiGateway", metric, "ApiId", wsId, "Stage", wsStage];
            const http = (metric: string) => ["AWS/ApiGateway", metric, "ApiId", httpId, "Stage", httpStage];
            const perFn = (metric: string) => fns.map((f) => ["AWS/Lambda", metric, "FunctionName", f]);
            return JSON.stringify({
                widgets: [
                    widget("WebSocket connects and messages", [ws("ConnectCount"), ws("MessageCount")], 0, 0),
                    widget("WebSocket errors", [ws("IntegrationError"), ws("ExecutionError"), ws("ClientError")], 12, 0),
                    widget("Integration latency p99 (ms)", [ws("IntegrationLatency"), http("IntegrationLatency")], 0, 6, "p99"),
                    widget("HTTP API requests and errors", [http("Count"), http("4xx"), http("5xx")], 12, 6),
                    widget("Lambda invocations", perFn("Invocations"), 0, 12),
                    widget("Lambda errors", perFn("Errors"), 12, 12),
                    widget("Lambda throttles", perFn("Throttles"), 0, 18),
                    widget("Lambda duration p99 (ms)", perFn("Duration"), 12, 18, "p99"),
                ],
            });
        });
    return new aws.cloudwatch.Dashboard(`${prefix}-dashboard`, { dashboardName: prefix, dashboardBody: body }, { parent });
}
