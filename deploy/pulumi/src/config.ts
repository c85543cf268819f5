// Reads the `semantest:*` stack configuration into checked Settings, filling in each environment's defaults.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { AlarmThresholds, Environment, HandlerName, Settings, Throttle, defaultsFor, parseKeyDigests, validate } from "./settings";

/** The directory holding Pulumi.yaml (this program's root), found from this file whether compiled or not. */
export function programDir(): string {
    let dir = __dirname;
    while (!fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
        const up = path.dirname(dir);
        if (up === dir) throw new Error(`no Pulumi.yaml above ${__dirname}`);
        dir = up;
    }
    return dir;
}

/** The id of the development extension, kept in the repository at extension/EXTENSION_ID. */
export function developmentExtensionOrigin(): string | undefined {
    const file = path.join(programDir(), "..", "..", "extension", "EXTENSION_ID");
    return fs.existsSync(file) ? `chrome-extension://${fs.readFileSync(file, "utf8").trim()}` : undefined;
}

export interface StackConfig {
    settings: Settings;
    /** The accepted API keys' SHA-256 digests, comma-separated: a secret. */
    apiKeySha256: pulumi.Output<string>;
}

/** Reads and checks the configuration of the current stack. */
export function readConfig(): StackConfig {
    const c = new pulumi.Config("semantest");
    const environment = c.require("environment") as Environment;
    const d = defaultsFor(environment);
    const budgetEmail = c.require("budgetEmail");
    const origins = c.getObject<string[]>("extensionOrigins") ?? [developmentExtensionOrigin()].filter((o): o is string => o !== undefined);
    const settings = validate({
        ...d,
        domainName: c.require("domainName"),
        httpDomainName: c.require("httpDomainName"),
        hostedZoneId: c.get("hostedZoneId"),
        hostedZoneName: c.get("hostedZoneName"),
        budgetEmail,
        alarmEmail: c.get("alarmEmail") ?? budgetEmail,
        budgetLimitUsd: c.getNumber("budgetLimitUsd") ?? d.budgetLimitUsd,
        logRetentionDays: c.getNumber("logRetentionDays") ?? d.logRetentionDays,
        websocketThrottle: { ...d.websocketThrottle, ...c.getObject<Partial<Throttle>>("websocketThrottle") },
        httpThrottle: { ...d.httpThrottle, ...c.getObject<Partial<Throttle>>("httpThrottle") },
        reservedConcurrency: { ...d.reservedConcurrency, ...c.getObject<Partial<Record<HandlerName, number>>>("reservedConcurrency") },
        alarms: { ...d.alarms, ...c.getObject<Partial<AlarmThresholds>>("alarms") },
        imageExpirationDays: c.getNumber("imageExpirationDays") ?? d.imageExpirationDays,
        extensionOrigins: origins,
        lambdaArtifact: c.get("lambdaArtifact") ?? d.lambdaArtifact,
        stageName: c.get("stageName") ?? d.stageName,
        manageApiGatewayAccount: c.getBoolean("manageApiGatewayAccount") ?? d.manageApiGatewayAccount,
    });
    // Read raw (not through getSecret) so a bad value stops the program at once; it leaves here only as a secret.
    const digests = parseKeyDigests(pulumi.runtime.getConfig("semantest:apiKeySha256") ?? "");
    // Operator keys are optional: every install registers itself and tools pair with it. An open
    // stack (every socket in one tenant) is gone; a stack file that still asks for one is refused.
    if (c.getBoolean("allowAnonymous")) {
        throw new Error("semantest:allowAnonymous is gone: every install registers itself and tools pair; remove it from the stack file");
    }
    const apiKeySha256 = pulumi.secret(digests.join(","));
    return { settings, apiKeySha256 };
}
