// The production stack under mocks: every resource's security and sizing properties, routes, outputs, alarms, budget.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import { readFileSync } from "fs";
import { programDir, developmentExtensionOrigin } from "../src/config";
import { ACCOUNT, Loaded, REGION, Recorded, TEST_KEY_DIGEST, ZONE_ID, loadProgram } from "./harness";

const T = {
    table: "aws:dynamodb/table:Table",
    bucket: "aws:s3/bucket:Bucket",
    fn: "aws:lambda/function:Function",
    role: "aws:iam/role:Role",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    logGroup: "aws:cloudwatch/logGroup:LogGroup",
    api: "aws:apigatewayv2/api:Api",
    route: "aws:apigatewayv2/route:Route",
    routeResponse: "aws:apigatewayv2/routeResponse:RouteResponse",
    integration: "aws:apigatewayv2/integration:Integration",
    integrationResponse: "aws:apigatewayv2/integrationResponse:IntegrationResponse",
    stage: "aws:apigatewayv2/stage:Stage",
    permission: "aws:lambda/permission:Permission",
    alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
};

let r: Loaded;
before(async () => {
    r = await loadProgram("production");
});

const wsApi = () => r.ofType(T.api).find((a) => a.inputs.protocolType === "WEBSOCKET")!;
const httpApiRes = () => r.ofType(T.api).find((a) => a.inputs.protocolType === "HTTP")!;
const table = () => r.one(T.table, "-connections");
const bucket = () => r.one(T.bucket, "-images");
const fnFor = (handler: string) => r.ofType(T.fn).find((f) => f.inputs.environment.variables.SEMANTEST_HANDLER === handler)!;

interface PolicyStatement { Sid?: string; Effect: string; Action: string | string[]; Resource: string | string[]; Principal?: unknown; Condition?: unknown }
const statementsOf = (p: Recorded): PolicyStatement[] => JSON.parse(p.inputs.policy).Statement;
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
const policyOfFunction = (fn: Recorded) => {
    const role = r.ofType(T.role).find((x) => x.state.arn === fn.inputs.role)!;
    const policies = r.ofType(T.rolePolicy).filter((p) => p.inputs.role === role.id);
    assert.equal(policies.length, 1, `${fn.inputs.name} has exactly one inline policy`);
    return statementsOf(policies[0]);
};

describe("outputs", () => {
    test("name the public addresses, the table, the bucket and the management endpoint", () => {
        const ws = wsApi();
        assert.equal(r.outputs.websocketUrl, "wss://api.extension.semantest.com");
        assert.equal(r.outputs.apiEndpoint, "https://http.extension.semantest.com");
        assert.equal(r.outputs.tableName, table().state.name);
        assert.equal(r.outputs.bucketName, bucket().state.bucket);
        assert.equal(r.outputs.managementEndpoint, `https://${ws.id}.execute-api.${REGION}.amazonaws.com/v1`);
        assert.equal(r.outputs.websocketInvokeUrl, `wss://${ws.id}.execute-api.${REGION}.amazonaws.com/v1`);
        assert.match(String(r.outputs.httpInvokeUrl), new RegExp(`^https://${httpApiRes().id}\\.execute-api\\.`));
    });
});

describe("DynamoDB connections table", () => {
    test("is on-demand with pk/sk string keys", () => {
        const t = table().inputs;
        assert.equal(t.billingMode, "PAY_PER_REQUEST");
        assert.equal(t.hashKey, "pk");
        assert.equal(t.rangeKey, "sk");
        assert.deepEqual(t.attributes, [{ name: "pk", type: "S" }, { name: "sk", type: "S" }]);
        assert.equal(t.readCapacity, undefined);
    });
    test("expires items on expiresAt, is encrypted, recoverable and protected from deletion", () => {
        const t = table().inputs;
        assert.deepEqual(t.ttl, { attributeName: "expiresAt", enabled: true });
        assert.equal(t.serverSideEncryption.enabled, true);
        assert.equal(t.pointInTimeRecovery.enabled, true);
        assert.equal(t.deletionProtectionEnabled, true);
    });
});

describe("S3 image bucket", () => {
    const forBucket = (type: string) => {
        const found = r.ofType(type).filter((x) => x.inputs.bucket === bucket().id);
        assert.equal(found.length, 1, `one ${type} on the image bucket`);
        return found[0].inputs;
    };
    test("blocks every kind of public access and has no ACL", () => {
        const b = forBucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
        for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) assert.equal(b[k], true, k);
        assert.equal(bucket().inputs.acl, undefined);
        assert.equal(r.ofType("aws:s3/bucketAcl:BucketAcl").length, 0);
        assert.equal(forBucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls").rule.objectOwnership, "BucketOwnerEnforced");
    });
    test("is encrypted at rest", () => {
        const rules = forBucket("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").rules;
        assert.equal(rules[0].applyServerSideEncryptionByDefault.sseAlgorithm, "AES256");
    });
    test("refuses every request not made over TLS", () => {
        const statements = JSON.parse(forBucket("aws:s3/bucketPolicy:BucketPolicy").policy).Statement as PolicyStatement[];
        assert.equal(statements.length, 1);
        const [s] = statements;
        assert.equal(s.Effect, "Deny");
        assert.equal(s.Principal, "*");
        assert.deepEqual(s.Condition, { Bool: { "aws:SecureTransport": "false" } });
        assert.deepEqual(list(s.Resource), [bucket().state.arn, `${bucket().state.arn}/*`]);
        assert.ok(!statements.some((x) => x.Effect === "Allow"), "the bucket policy grants nothing");
    });
    test("expires images after the configured days", () => {
        const rules = forBucket("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").rules;
        const expire = rules.find((x: any) => x.id === "expire-images");
        assert.equal(expire.status, "Enabled");
        assert.equal(expire.filter.prefix, "images/");
        assert.equal(expire.expiration.days, 7);
    });
    test("allows presigned PUT and GET from the extension only", () => {
        const [rule, ...rest] = forBucket("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration").corsRules;
        assert.equal(rest.length, 0);
        assert.deepEqual([...rule.allowedMethods].sort(), ["GET", "PUT"]);
        assert.deepEqual(rule.allowedOrigins, [developmentExtensionOrigin()]);
        assert.match(rule.allowedOrigins[0], /^chrome-extension:\/\/[a-p]{32}$/);
    });
});

describe("Lambda functions", () => {
    const handlers = ["connect", "disconnect", "default", "http"];
    test("one per handler, all from the built artifact, provided.al2023 on x86_64", () => {
        const fns = r.ofType(T.fn);
        assert.deepEqual(fns.map((f) => f.inputs.environment.variables.SEMANTEST_HANDLER).sort(), [...handlers].sort());
        const artifact = path.resolve(programDir(), "../lambda/dist/semantest-lambda.zip");
        for (const f of fns) {
            assert.equal(f.inputs.runtime, "provided.al2023");
            assert.deepEqual(f.inputs.architectures, ["x86_64"]);
            assert.equal(f.inputs.handler, "bootstrap");
            assert.equal(path.resolve(f.inputs.code.archivePath), artifact);
            assert.ok(!path.isAbsolute(f.inputs.code.archivePath), "no machine's path in the state");
            assert.equal(f.inputs.loggingConfig.logFormat, "JSON", "the handlers log JSON lines");
        }
    });
    test("have the reserved concurrency of the stack file", () => {
        const expected: Record<string, number> = { connect: 20, disconnect: 20, default: 50, http: 10 };
        for (const h of handlers) assert.equal(fnFor(h).inputs.reservedConcurrentExecutions, expected[h], h);
    });
    test("get the table, bucket, management endpoint and environment; only connect and default get the key digests", () => {
        for (const h of handlers) {
            const v = fnFor(h).inputs.environment.variables;
            assert.equal(v.SEMANTEST_TABLE, table().state.name);
            assert.equal(v.SEMANTEST_BUCKET, bucket().state.bucket);
            assert.equal(v.SEMANTEST_MANAGEMENT_ENDPOINT, r.outputs.managementEndpoint);
            assert.equal(v.SEMANTEST_ALLOW_ANONYMOUS, undefined);
            assert.equal(v.SEMANTEST_ENVIRONMENT, "production");
            assert.equal(v.RUST_LOG, "info");
            assert.equal(v.SEMANTEST_API_KEY_SHA256, h === "connect" || h === "default" ? TEST_KEY_DIGEST : undefined, h);
        }
    });
    test("each has its own role, trusted by Lambda only, with no managed policy", () => {
        const roles = new Set(r.ofType(T.fn).map((f) => f.inputs.role));
        assert.equal(roles.size, 4);
        for (const f of r.ofType(T.fn)) {
            const role = r.ofType(T.role).find((x) => x.state.arn === f.inputs.role)!;
            const trust = JSON.parse(role.inputs.assumeRolePolicy).Statement;
            assert.deepEqual(trust, [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }]);
            assert.equal(r.ofType(T.attachment).filter((a) => a.inputs.role === role.state.name).length, 0);
        }
    });
    test("log to their own group, kept 30 days", () => {
        for (const f of r.ofType(T.fn)) {
            const group = r.ofType(T.logGroup).find((g) => g.inputs.name === `/aws/lambda/${f.inputs.name}`);
            assert.ok(group, `log group of ${f.inputs.name}`);
            assert.equal(group.inputs.retentionInDays, 30);
            assert.equal(f.inputs.loggingConfig.logGroup, group.inputs.name);
        }
    });
});

describe("IAM least privilege", () => {
    const expectedActions: Record<string, string[]> = {
        connect: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
        disconnect: ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem"],
        default: [
            "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
            "execute-api:ManageConnections", "s3:GetObject", "s3:PutObject",
        ],
        http: [],
    };
    for (const handler of Object.keys(expectedActions)) {
        test(`${handler}: exactly its actions, no wildcard action or resource`, () => {
            const fn = fnFor(handler);
            const statements = policyOfFunction(fn);
            const logGroupArn = r.ofType(T.logGroup).find((g) => g.inputs.name === `/aws/lambda/${fn.inputs.name}`)!.state.arn;
            for (const s of statements) {
                assert.equal(s.Effect, "Allow");
                for (const a of list(s.Action)) assert.ok(!a.includes("*"), `wildcard action ${a}`);
                for (const res of list(s.Resource)) assert.notEqual(res, "*", "a resource of *");
            }
            const logs = statements.filter((s) => list(s.Action).some((a) => a.startsWith("logs:")));
            assert.deepEqual(logs.map((s) => list(s.Action).sort()), [["logs:CreateLogStream", "logs:PutLogEvents"]]);
            assert.deepEqual(list(logs[0].Resource), [logGroupArn, `${logGroupArn}:log-stream:*`]);
            const others = statements.filter((s) => s !== logs[0]);
            assert.deepEqual(others.flatMap((s) => list(s.Action)).sort(), expectedActions[handler]);
        });
    }
    test("resources are this stack's table, images/ in its bucket and its stage's @connections", () => {
        const tableArn = table().state.arn;
        const execArn = wsApi().state.executionArn;
        assert.equal(execArn, `arn:aws:execute-api:${REGION}:${ACCOUNT}:${wsApi().id}`);
        for (const h of ["connect", "disconnect", "default"]) {
            const s = policyOfFunction(fnFor(h));
            const dynamo = s.filter((x) => list(x.Action).some((a) => a.startsWith("dynamodb:")));
            for (const x of dynamo) assert.deepEqual(list(x.Resource), [tableArn], h);
        }
        const s = policyOfFunction(fnFor("default"));
        const byService = (p: string) => s.filter((x) => list(x.Action).some((a) => a.startsWith(p))).flatMap((x) => list(x.Resource));
        assert.deepEqual(byService("s3:"), [`${bucket().state.arn}/images/*`]);
        assert.deepEqual(byService("execute-api:"), [`${execArn}/v1/POST/@connections/*`, `${execArn}/v1/DELETE/@connections/*`]);
    });
    test("connect and disconnect reach only the items they use, by partition key prefix", () => {
        const leading = (h: string) => Object.fromEntries(policyOfFunction(fnFor(h))
            .filter((x) => list(x.Action).some((a) => a.startsWith("dynamodb:")))
            .map((x) => [list(x.Action).join(","), (x.Condition as Record<string, Record<string, string[]>> | undefined)?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"]]));
        assert.deepEqual(leading("connect"), {
            "dynamodb:GetItem": ["token#*"],
            "dynamodb:PutItem": ["conn#*", "devconn#*"],
            "dynamodb:UpdateItem": ["install#*"],
        });
        assert.deepEqual(leading("disconnect"), { "dynamodb:GetItem,dynamodb:DeleteItem,dynamodb:BatchWriteItem": ["conn#*", "event#*"] });
    });
    test("the only AWS-managed policy is API Gateway's own CloudWatch role", () => {
        const attachments = r.ofType(T.attachment);
        assert.deepEqual(attachments.map((a) => a.inputs.policyArn), ["arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"]);
        const role = r.ofType(T.role).find((x) => x.state.name === attachments[0].inputs.role)!;
        assert.equal(JSON.parse(role.inputs.assumeRolePolicy).Statement[0].Principal.Service, "apigateway.amazonaws.com");
        const account = r.ofType("aws:apigateway/account:Account");
        assert.equal(account.length, 1);
        assert.equal(account[0].inputs.cloudwatchRoleArn, role.state.arn);
    });
});

describe("WebSocket API", () => {
    const actions = ["hello", "ping", "subscribe", "unsubscribe", "publish", "reply", "requestUpload", "register", "pairCode", "pair", "devices", "revoke"];
    const wsRoutes = () => r.ofType(T.route).filter((x) => x.inputs.apiId === wsApi().id);
    const integrationOf = (route: Recorded) => {
        const id = route.inputs.target.replace(/^integrations\//, "");
        return r.ofType(T.integration).find((i) => i.id === id)!;
    };
    test("routes on the message's action", () => {
        assert.equal(wsApi().inputs.protocolType, "WEBSOCKET");
        assert.equal(wsApi().inputs.routeSelectionExpression, "$request.body.action");
    });
    test("has $connect, $disconnect, $default and every v1 action, each but ping to the right function", () => {
        const keys = wsRoutes().map((x) => x.inputs.routeKey).sort();
        assert.deepEqual(keys, ["$connect", "$default", "$disconnect", ...actions].sort());
        for (const route of wsRoutes().filter((x) => x.inputs.routeKey !== "ping")) {
            const key = route.inputs.routeKey;
            const handler = key === "$connect" ? "connect" : key === "$disconnect" ? "disconnect" : "default";
            const integration = integrationOf(route);
            assert.ok(integration, `integration of ${key}`);
            assert.equal(integration.inputs.integrationType, "AWS_PROXY");
            assert.equal(integration.inputs.integrationUri, fnFor(handler).state.invokeArn, key);
        }
    });
    test("every message route is two-way ($default route response); $connect and $disconnect are not", () => {
        const responses = r.ofType(T.routeResponse);
        for (const route of wsRoutes()) {
            const key = route.inputs.routeKey;
            const mine = responses.filter((x) => x.inputs.routeId === route.id);
            if (key === "$connect" || key === "$disconnect") {
                assert.equal(mine.length, 0, key);
                assert.equal(route.inputs.routeResponseSelectionExpression, undefined, key);
            } else {
                assert.equal(mine.length, 1, key);
                assert.equal(mine[0].inputs.routeResponseKey, "$default");
                assert.equal(route.inputs.routeResponseSelectionExpression, "$default", key);
            }
        }
    });
    describe("ping is answered by API Gateway itself (no Lambda, no DynamoDB)", () => {
        const spec = JSON.parse(readFileSync(path.join(programDir(), "..", "ping-route.json"), "utf8"));
        const pingRoute = () => wsRoutes().find((x) => x.inputs.routeKey === "ping")!;
        test("the ping route targets a MOCK integration with the shared request template", () => {
            const integration = integrationOf(pingRoute());
            assert.equal(integration.inputs.integrationType, "MOCK");
            assert.equal(integration.inputs.integrationUri, undefined, "no Lambda behind it");
            assert.equal(integration.inputs.templateSelectionExpression, "200");
            assert.deepEqual(integration.inputs.requestTemplates, spec.integration.requestTemplates);
            // The mock's status code comes from the request template; the client's id and t are carried in the frame's shape.
            const template = integration.inputs.requestTemplates["200"];
            assert.match(template, /^\{"statusCode":200,/);
            assert.match(template, /"id":\$input\.json\('\$\.id'\)/);
            assert.match(template, /"payload":\{"t":\$input\.json\('\$\.payload\.t'\)\}/);
        });
        test("its integration response renders the pong: the ping's id as replyTo, its t, the request time", () => {
            const integration = integrationOf(pingRoute());
            const responses = r.ofType(T.integrationResponse).filter((x) => x.inputs.integrationId === integration.id);
            assert.equal(responses.length, 1);
            const [response] = responses;
            assert.equal(response.inputs.apiId, wsApi().id);
            assert.equal(response.inputs.integrationResponseKey, "/200/");
            assert.equal(response.inputs.templateSelectionExpression, "200");
            assert.deepEqual(response.inputs.responseTemplates, spec.integrationResponse.responseTemplates);
            const template = response.inputs.responseTemplates["200"];
            assert.match(template, /"type":"pong"/);
            assert.match(template, /"replyTo":\$input\.json\('\$\.id'\)/);
            assert.match(template, /"t":\$input\.json\('\$\.payload\.t'\)/);
            assert.match(template, /"serverTime":\$context\.requestTimeEpoch/);
        });
        test("it is two-way: a $default route response sends the pong back", () => {
            const mine = r.ofType(T.routeResponse).filter((x) => x.inputs.routeId === pingRoute().id);
            assert.equal(mine.length, 1);
            assert.equal(mine[0].inputs.routeResponseKey, "$default");
            assert.equal(pingRoute().inputs.routeResponseSelectionExpression, "$default");
        });
        test("no Lambda integration or permission serves it; the only MOCK integration is its own", () => {
            const lambdaIntegrations = r.ofType(T.integration).filter((i) => i.inputs.apiId === wsApi().id && i.inputs.integrationType === "AWS_PROXY");
            assert.equal(lambdaIntegrations.length, 3, "connect, disconnect, default");
            assert.ok(!lambdaIntegrations.some((i) => i.id === integrationOf(pingRoute()).id));
            assert.deepEqual(r.ofType(T.integration).filter((i) => i.inputs.integrationType === "MOCK").map((i) => i.id), [integrationOf(pingRoute()).id]);
            for (const p of r.ofType(T.permission)) assert.doesNotMatch(`${p.name} ${p.inputs.sourceArn}`, /ping/);
        });
    });
    test("the stage is throttled and logged, and redeployed on route changes", () => {
        const stage = r.ofType(T.stage).find((s) => s.inputs.apiId === wsApi().id)!;
        assert.equal(stage.inputs.name, "v1");
        assert.equal(stage.inputs.defaultRouteSettings.throttlingBurstLimit, 500);
        assert.equal(stage.inputs.defaultRouteSettings.throttlingRateLimit, 200);
        assert.equal(stage.inputs.defaultRouteSettings.dataTraceEnabled, false);
        const logs = r.ofType(T.logGroup).find((g) => g.state.arn === stage.inputs.accessLogSettings.destinationArn)!;
        assert.equal(logs.inputs.retentionInDays, 30);
        assert.ok(JSON.parse(stage.inputs.accessLogSettings.format).connectionId);
        const deployment = r.one("aws:apigatewayv2/deployment:Deployment", "-ws-deployment");
        assert.equal(stage.inputs.deploymentId, deployment.id);
        assert.match(deployment.inputs.triggers.routes, /^[0-9a-f]{64}$/);
    });
    test("only API Gateway, from this API's stage, may invoke the functions", () => {
        const perms = r.ofType(T.permission);
        assert.equal(perms.length, 4);
        for (const p of perms) {
            assert.equal(p.inputs.action, "lambda:InvokeFunction");
            assert.equal(p.inputs.principal, "apigateway.amazonaws.com");
        }
        for (const h of ["connect", "disconnect", "default"]) {
            const p = perms.find((x) => x.inputs.function === fnFor(h).inputs.name)!;
            assert.equal(p.inputs.sourceArn, `${wsApi().state.executionArn}/v1/*`);
        }
        const http = perms.find((x) => x.inputs.function === fnFor("http").inputs.name)!;
        assert.equal(http.inputs.sourceArn, `${httpApiRes().state.executionArn}/*/GET/*`);
    });
});

describe("HTTP API", () => {
    test("GET /health, /signature and /semantest-signature reach the http function with payload 2.0", () => {
        const routes = r.ofType(T.route).filter((x) => x.inputs.apiId === httpApiRes().id);
        assert.deepEqual(routes.map((x) => x.inputs.routeKey).sort(), ["GET /health", "GET /semantest-signature", "GET /signature"]);
        const integrations = r.ofType(T.integration).filter((i) => i.inputs.apiId === httpApiRes().id);
        assert.equal(integrations.length, 1);
        const [i] = integrations;
        assert.equal(i.inputs.integrationType, "AWS_PROXY");
        assert.equal(i.inputs.payloadFormatVersion, "2.0");
        assert.equal(i.inputs.integrationUri, fnFor("http").state.invokeArn);
        for (const route of routes) assert.equal(route.inputs.target, `integrations/${i.id}`);
    });
    test("the stage is throttled and logged; CORS names the extension, not *", () => {
        const stage = r.ofType(T.stage).find((s) => s.inputs.apiId === httpApiRes().id)!;
        assert.equal(stage.inputs.name, "$default");
        assert.equal(stage.inputs.autoDeploy, true);
        assert.equal(stage.inputs.defaultRouteSettings.throttlingBurstLimit, 100);
        assert.equal(stage.inputs.defaultRouteSettings.throttlingRateLimit, 50);
        assert.ok(r.ofType(T.logGroup).some((g) => g.state.arn === stage.inputs.accessLogSettings.destinationArn && g.inputs.retentionInDays === 30));
        const cors = httpApiRes().inputs.corsConfiguration;
        assert.deepEqual(cors.allowMethods, ["GET"]);
        assert.deepEqual(cors.allowOrigins, [developmentExtensionOrigin()]);
    });
});

describe("custom domains", () => {
    const domains = () => r.ofType("aws:apigatewayv2/domainName:DomainName");
    test("the WebSocket and HTTP APIs each have their own domain (API Gateway cannot share one)", () => {
        assert.deepEqual(domains().map((d) => d.inputs.domainName).sort(), ["api.extension.semantest.com", "http.extension.semantest.com"]);
        for (const d of domains()) {
            assert.equal(d.inputs.domainNameConfiguration.endpointType, "REGIONAL");
            assert.equal(d.inputs.domainNameConfiguration.securityPolicy, "TLS_1_2");
        }
        const mappings = r.ofType("aws:apigatewayv2/apiMapping:ApiMapping");
        const mapping = (domain: string) => mappings.find((m) => m.inputs.domainName === domain)!.inputs;
        assert.deepEqual([mapping("api.extension.semantest.com").apiId, mapping("api.extension.semantest.com").stage], [wsApi().id, "v1"]);
        assert.deepEqual([mapping("http.extension.semantest.com").apiId, mapping("http.extension.semantest.com").stage], [httpApiRes().id, "$default"]);
    });
    test("certificates are DNS-validated in the hosted zone found by name", () => {
        assert.deepEqual(r.calls.filter((c) => c.token === "aws:route53/getZone:getZone").map((c) => c.inputs.name), ["semantest.com"]);
        const certs = r.ofType("aws:acm/certificate:Certificate");
        assert.equal(certs.length, 2);
        for (const cert of certs) {
            assert.equal(cert.inputs.validationMethod, "DNS");
            const record = r.ofType("aws:route53/record:Record").find((x) => x.inputs.name === `_abc.${cert.inputs.domainName}.`)!;
            assert.equal(record.inputs.type, "CNAME");
            assert.equal(record.inputs.zoneId, ZONE_ID);
            const validation = r.ofType("aws:acm/certificateValidation:CertificateValidation").find((v) => v.inputs.certificateArn === cert.state.arn)!;
            assert.deepEqual(validation.inputs.validationRecordFqdns, [record.state.fqdn]);
            const domain = domains().find((d) => d.inputs.domainName === cert.inputs.domainName)!;
            assert.equal(domain.inputs.domainNameConfiguration.certificateArn, cert.state.arn);
        }
    });
    test("A and AAAA aliases point each name at its API Gateway domain", () => {
        for (const name of ["api.extension.semantest.com", "http.extension.semantest.com"]) {
            const records = r.ofType("aws:route53/record:Record").filter((x) => x.inputs.name === name);
            assert.deepEqual(records.map((x) => x.inputs.type).sort(), ["A", "AAAA"]);
            for (const rec of records) {
                assert.equal(rec.inputs.zoneId, ZONE_ID);
                assert.equal(rec.inputs.aliases[0].name, `d-mock.execute-api.${REGION}.amazonaws.com`);
                assert.equal(rec.inputs.aliases[0].zoneId, "ZMOCKAPIGW");
            }
        }
    });
});

describe("monitoring", () => {
    test("each function alarms on errors, throttles and p99 duration at the configured thresholds", () => {
        const alarms = r.ofType(T.alarm);
        for (const f of r.ofType(T.fn)) {
            const mine = alarms.filter((a) => a.inputs.namespace === "AWS/Lambda" && a.inputs.dimensions.FunctionName === f.inputs.name);
            const by = (m: string) => mine.find((a) => a.inputs.metricName === m)!.inputs;
            assert.deepEqual(mine.map((a) => a.inputs.metricName).sort(), ["Duration", "Errors", "Throttles"]);
            assert.equal(by("Errors").threshold, 5);
            assert.equal(by("Errors").statistic, "Sum");
            assert.equal(by("Throttles").threshold, 1);
            assert.equal(by("Duration").threshold, 3000);
            assert.equal(by("Duration").extendedStatistic, "p99");
        }
    });
    test("the APIs alarm on server errors and integration latency", () => {
        const alarms = r.ofType(T.alarm).filter((a) => a.inputs.namespace === "AWS/ApiGateway");
        const on = (api: Recorded) => alarms.filter((a) => a.inputs.dimensions.ApiId === api.id).map((a) => `${a.inputs.metricName}>${a.inputs.threshold}`).sort();
        assert.deepEqual(on(wsApi()), ["ExecutionError>5", "IntegrationError>5", "IntegrationLatency>2000"]);
        assert.deepEqual(on(httpApiRes()), ["5xx>5", "IntegrationLatency>2000"]);
    });
    test("registration and pairing floods alarm, counted from the default handler's own log lines", () => {
        const fn = r.ofType(T.fn).find((f) => f.inputs.name.endsWith("-default"))!;
        const logGroup = r.ofType(T.logGroup).find((g) => g.inputs.name === `/aws/lambda/${fn.inputs.name}`)!;
        const filters = r.ofType("aws:cloudwatch/logMetricFilter:LogMetricFilter");
        assert.equal(filters.length, 2);
        for (const f of filters) {
            assert.equal(f.inputs.logGroupName, logGroup.state.name, f.name);
            assert.equal(f.inputs.metricTransformation.namespace, "Semantest/Identity");
        }
        const pattern = (metric: string) => filters.find((f) => f.inputs.metricTransformation.name === metric)!.inputs.pattern;
        // The lines deploy/lambda/src/enroll.rs writes.
        const enroll = readFileSync(path.join(programDir(), "..", "lambda", "src", "enroll.rs"), "utf8");
        for (const line of ["registered an install", "refused a pairing code", "pairing rate limited"]) assert.ok(enroll.includes(`"${line}`), line);
        assert.equal(pattern("Registrations"), '"registered an install"');
        assert.match(pattern("PairingFailures"), /"refused a pairing code".*"pairing rate limited"/);
        const identity = r.ofType(T.alarm).filter((a) => a.inputs.namespace === "Semantest/Identity");
        assert.deepEqual(identity.map((a) => `${a.inputs.metricName}>${a.inputs.threshold}`).sort(), ["PairingFailures>200", "Registrations>1000"]);
    });
    test("every alarm notifies the alarm topic, which mails the operator", () => {
        const topic = r.one("aws:sns/topic:Topic", "-alarms");
        const alarms = r.ofType(T.alarm);
        assert.equal(alarms.length, 19);
        for (const a of alarms) assert.deepEqual(a.inputs.alarmActions, [topic.state.arn], a.name);
        const sub = r.one("aws:sns/topicSubscription:TopicSubscription", "-alarms-email").inputs;
        assert.deepEqual([sub.topic, sub.protocol, sub.endpoint], [topic.state.arn, "email", "ops@semantest.com"]);
    });
    test("the dashboard charts both APIs and every function", () => {
        const body = JSON.parse(r.one("aws:cloudwatch/dashboard:Dashboard", "-dashboard").inputs.dashboardBody);
        const metrics = JSON.stringify(body.widgets.map((w: any) => w.properties.metrics));
        for (const f of r.ofType(T.fn)) assert.ok(metrics.includes(`"${f.inputs.name}"`), f.inputs.name);
        assert.ok(metrics.includes(`"${wsApi().id}"`) && metrics.includes(`"${httpApiRes().id}"`));
        assert.ok(body.widgets.every((w: any) => w.properties.region === REGION));
    });
});

describe("budget", () => {
    test("50 USD a month, mailing the budget address", () => {
        const b = r.one("aws:budgets/budget:Budget", "-budget").inputs;
        assert.equal(b.budgetType, "COST");
        assert.equal(Number(b.limitAmount), 50);
        assert.equal(b.limitUnit, "USD");
        assert.equal(b.timeUnit, "MONTHLY");
        assert.ok(b.notifications.length >= 2);
        for (const n of b.notifications) assert.deepEqual(n.subscriberEmailAddresses, ["ops@semantest.com"]);
        assert.ok(b.notifications.some((n: any) => n.notificationType === "FORECASTED" && n.threshold === 100));
    });
});
