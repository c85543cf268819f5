// Runs the Pulumi program under mocks (no CLI, no AWS) with a stack file's config, and records every resource it declares.
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import { programDir } from "../src/config";

export const ACCOUNT = "123456789012";
export const REGION = "us-east-1";
export const ZONE_ID = "Z0MOCKZONE";
/** Stands in for the secret the deploy workflow sets: the SHA-256 of "test-key". */
export const TEST_KEY_DIGEST = "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef";

export interface Recorded {
    type: string;
    name: string;
    id: string;
    /** What the program passed, resolved (secrets unwrapped). */
    inputs: Record<string, any>;
    /** What the mock provider answered: the inputs plus the computed attributes. */
    state: Record<string, any>;
}

export interface Loaded {
    resources: Recorded[];
    calls: { token: string; inputs: Record<string, any> }[];
    outputs: Record<string, unknown>;
    /** Every resource of one type, e.g. "aws:lambda/function:Function". */
    ofType(type: string): Recorded[];
    /** The one resource of a type whose logical name ends with `suffix`. */
    one(type: string, suffix: string): Recorded;
}

/** The `config:` block of Pulumi.<stack>.yaml as the CLI hands it to a program: every value a string. */
export function stackConfig(stack: string): Record<string, string> {
    const file = path.join(programDir(), `Pulumi.${stack}.yaml`);
    const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(doc.config ?? {})) out[k] = typeof v === "string" ? v : JSON.stringify(v);
    return out;
}

/** Drops Pulumi's secret wrappers so tests see plain values; a file archive becomes `{ archivePath }`. */
async function unwrap(v: any): Promise<any> {
    if (Array.isArray(v)) return Promise.all(v.map(unwrap));
    if (v instanceof pulumi.asset.FileArchive) return { archivePath: await v.path };
    if (v && typeof v === "object") {
        if (v["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") return unwrap(v.value);
        return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await unwrap(x)])));
    }
    return v;
}

/** What AWS would compute for a resource, enough for the program's cross-references. */
function computed(type: string, name: string, inputs: Record<string, any>): { id: string; state: Record<string, any> } {
    const arn = (service: string, rest: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${rest}`;
    switch (type) {
        case "aws:dynamodb/table:Table": {
            const n = inputs.name ?? `${name}-0a1b2c3`;
            return { id: n, state: { name: n, arn: arn("dynamodb", `table/${n}`) } };
        }
        case "aws:s3/bucket:Bucket": {
            const n = inputs.bucket ?? `${name}-0a1b2c3`;
            return { id: n, state: { bucket: n, arn: `arn:aws:s3:::${n}` } };
        }
        case "aws:cloudwatch/logGroup:LogGroup":
            return { id: inputs.name, state: { arn: arn("logs", `log-group:${inputs.name}`) } };
        case "aws:iam/role:Role":
            return { id: `${name}-0a1b2c3`, state: { name: `${name}-0a1b2c3`, arn: `arn:aws:iam::${ACCOUNT}:role/${name}-0a1b2c3` } };
        case "aws:lambda/function:Function": {
            const fnArn = arn("lambda", `function:${inputs.name}`);
            return { id: inputs.name, state: { arn: fnArn, invokeArn: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${fnArn}/invocations` } };
        }
        case "aws:apigatewayv2/api:Api": {
            const id = `${inputs.protocolType === "WEBSOCKET" ? "ws" : "http"}api01`;
            const scheme = inputs.protocolType === "WEBSOCKET" ? "wss" : "https";
            return { id, state: { executionArn: arn("execute-api", id), apiEndpoint: `${scheme}://${id}.execute-api.${REGION}.amazonaws.com` } };
        }
        case "aws:apigatewayv2/stage:Stage": {
            const scheme = inputs.apiId.startsWith("ws") ? "wss" : "https";
            const stagePath = inputs.name === "$default" ? "" : inputs.name;
            return { id: inputs.name, state: { invokeUrl: `${scheme}://${inputs.apiId}.execute-api.${REGION}.amazonaws.com/${stagePath}` } };
        }
        case "aws:acm/certificate:Certificate":
            return {
                id: `${name}-cert`,
                state: {
                    arn: arn("acm", `certificate/${name}`),
                    domainValidationOptions: [{
                        domainName: inputs.domainName,
                        resourceRecordName: `_abc.${inputs.domainName}.`,
                        resourceRecordType: "CNAME",
                        resourceRecordValue: "_xyz.acm-validations.aws.",
                    }],
                },
            };
        case "aws:acm/certificateValidation:CertificateValidation":
            return { id: `${name}-id`, state: {} };
        case "aws:route53/record:Record":
            return { id: `${name}-id`, state: { fqdn: inputs.name } };
        case "aws:apigatewayv2/domainName:DomainName":
            return {
                id: inputs.domainName,
                state: {
                    domainNameConfiguration: { ...inputs.domainNameConfiguration, targetDomainName: `d-mock.execute-api.${REGION}.amazonaws.com`, hostedZoneId: "ZMOCKAPIGW" },
                },
            };
        case "aws:sns/topic:Topic":
            return { id: `${name}-id`, state: { arn: arn("sns", inputs.name ?? name) } };
        default:
            return { id: `${name}-id`, state: { arn: arn("mock", name) } };
    }
}

/**
 * Loads the program (index.ts) for `stack` under mocks. `overrides` replace config values; a
 * `null` removes one. Each test file calls this once: Pulumi's runtime is one per process.
 */
export async function loadProgram(stack: string, overrides: Record<string, string | null> = {}): Promise<Loaded> {
    const resources: Recorded[] = [];
    const calls: Loaded["calls"] = [];
    const config: Record<string, string> = { "semantest:apiKeySha256": TEST_KEY_DIGEST, ...stackConfig(stack) };
    for (const [k, v] of Object.entries(overrides)) {
        if (v === null) delete config[k];
        else config[k] = v;
    }
    pulumi.runtime.setAllConfig(config, ["semantest:apiKeySha256"]);
    await pulumi.runtime.setMocks({
        async newResource(args) {
            const inputs = await unwrap(args.inputs);
            const { id, state } = computed(args.type, args.name, inputs);
            const all = { ...inputs, ...state };
            resources.push({ type: args.type, name: args.name, id, inputs, state: all });
            return { id, state: all };
        },
        async call(args) {
            calls.push({ token: args.token, inputs: await unwrap(args.inputs) });
            switch (args.token) {
                case "aws:index/getRegion:getRegion":
                    return { name: REGION, region: REGION, id: REGION };
                case "aws:route53/getZone:getZone":
                    return { zoneId: ZONE_ID, id: ZONE_ID, name: args.inputs.name };
                default:
                    throw new Error(`the program made an unexpected call: ${args.token}`);
            }
        },
    }, "semantest", stack, false);

    // Imported only now, so that it sees the mocks and the config.
    const program: Record<string, unknown> = await import("../index");
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(program)) {
        if (pulumi.Output.isInstance(v)) outputs[k] = await unwrap(await new Promise((resolve) => v.apply(resolve)));
    }
    // Every resource registration is an RPC to the mock monitor: wait until none is left.
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();

    const ofType = (type: string) => resources.filter((r) => r.type === type);
    return {
        resources,
        calls,
        outputs,
        ofType,
        one(type, suffix) {
            const found = ofType(type).filter((r) => r.name.endsWith(suffix));
            if (found.length !== 1) throw new Error(`expected one ${type} named …${suffix}, found ${found.map((r) => r.name).join(", ") || "none"}`);
            return found[0];
        },
    };
}
