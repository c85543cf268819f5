// The stack's settings: their shape, the defaults for each environment, and their validation.

export type Environment = "development" | "staging" | "production";

export const ENVIRONMENTS: readonly Environment[] = ["development", "staging", "production"];

/** The four handlers in the one Lambda artifact, picked by the `SEMANTEST_HANDLER` variable. */
export type HandlerName = "connect" | "disconnect" | "default" | "http";

export const HANDLERS: readonly HandlerName[] = ["connect", "disconnect", "default", "http"];

export interface Throttle {
    /** Requests (or messages) allowed at once above the steady rate. */
    burstLimit: number;
    /** Steady requests (or messages) per second. */
    rateLimit: number;
}

export interface AlarmThresholds {
    /** Lambda errors per 5 minutes, per function, above which the alarm fires. */
    lambdaErrors: number;
    /** Lambda throttles per 5 minutes, per function. */
    lambdaThrottles: number;
    /** p99 Lambda duration in milliseconds. */
    lambdaDurationMs: number;
    /** WebSocket integration and execution errors (its 5xx) per 5 minutes. */
    websocketErrors: number;
    /** HTTP API 5xx answers per 5 minutes. */
    http5xx: number;
    /** p99 integration latency of either API, in milliseconds. */
    integrationLatencyMs: number;
    /** Installs registered per 5 minutes on the whole service (a registration flood). */
    registrations: number;
    /** Pairing codes refused (wrong, used, expired) or pairing attempts over the per-address
     *  limit, per 5 minutes (someone guessing codes). */
    pairingFailures: number;
}

export interface Settings {
    environment: Environment;
    /** The WebSocket API's custom domain, e.g. api.extension.semantest.com. */
    domainName: string;
    /** The HTTP API's custom domain (a WebSocket API cannot share a domain with an HTTP API). */
    httpDomainName: string;
    /** The public Route 53 zone holding both domains: by id, or else by name. */
    hostedZoneId?: string;
    hostedZoneName?: string;
    /** Where the budget and the alarms send their mail. */
    budgetEmail: string;
    alarmEmail: string;
    budgetLimitUsd: number;
    logRetentionDays: number;
    websocketThrottle: Throttle;
    httpThrottle: Throttle;
    reservedConcurrency: Record<HandlerName, number>;
    alarms: AlarmThresholds;
    /** Days after which uploaded images are deleted. */
    imageExpirationDays: number;
    /** Origins allowed to PUT/GET images and to call the HTTP API (chrome-extension://<id>). */
    extensionOrigins: string[];
    /** The Lambda zip (one `bootstrap` inside), relative to the Pulumi program's directory. */
    lambdaArtifact: string;
    /** The WebSocket stage's name; it appears in the management endpoint only. */
    stageName: string;
    /** Whether this stack sets the account-wide API Gateway CloudWatch role (one stack per account and region). */
    manageApiGatewayAccount: boolean;
}

/** The Lambda artifact built by `./build.sh lambda`, relative to this program's directory. */
export const DEFAULT_LAMBDA_ARTIFACT = "../lambda/dist/semantest-lambda.zip";

/** CloudWatch Logs accepts only these retention periods. */
export const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** What each environment gets unless its stack file says otherwise. */
export function defaultsFor(environment: Environment): Omit<Settings, "domainName" | "httpDomainName" | "hostedZoneId" | "hostedZoneName" | "budgetEmail" | "alarmEmail" | "extensionOrigins"> {
    const production = environment === "production";
    return {
        environment,
        budgetLimitUsd: 50,
        logRetentionDays: production ? 30 : 7,
        websocketThrottle: production ? { burstLimit: 500, rateLimit: 200 } : { burstLimit: 50, rateLimit: 20 },
        httpThrottle: production ? { burstLimit: 100, rateLimit: 50 } : { burstLimit: 20, rateLimit: 10 },
        reservedConcurrency: production
            ? { connect: 20, disconnect: 20, default: 50, http: 10 }
            : { connect: 2, disconnect: 2, default: 5, http: 2 },
        alarms: {
            lambdaErrors: production ? 5 : 20,
            lambdaThrottles: production ? 1 : 10,
            lambdaDurationMs: 3000,
            websocketErrors: production ? 5 : 20,
            http5xx: production ? 5 : 20,
            integrationLatencyMs: 2000,
            registrations: production ? 1000 : 100,
            pairingFailures: production ? 200 : 50,
        },
        imageExpirationDays: production ? 7 : 1,
        lambdaArtifact: DEFAULT_LAMBDA_ARTIFACT,
        stageName: "v1",
        manageApiGatewayAccount: true,
    };
}

/** Splits and checks `semantest:apiKeySha256`: comma-separated lowercase hex SHA-256 digests. */
export function parseKeyDigests(value: string): string[] {
    const digests = value.split(",").map((d) => d.trim()).filter((d) => d.length > 0);
    for (const d of digests) {
        if (!/^[0-9a-f]{64}$/.test(d)) {
            // The value itself is never shown: it may be a raw key pasted by mistake.
            throw new Error(`semantest:apiKeySha256: an entry of ${d.length} characters is not a lowercase hex SHA-256 digest (64 characters 0-9a-f)`);
        }
    }
    return digests;
}

/** Checks the settings as a whole; throws with the config key at fault. */
export function validate(s: Settings): Settings {
    const fail = (key: string, why: string): never => {
        throw new Error(`semantest:${key}: ${why}`);
    };
    if (!ENVIRONMENTS.includes(s.environment)) fail("environment", `must be one of ${ENVIRONMENTS.join(", ")}, not "${s.environment}"`);
    const host = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
    if (!host.test(s.domainName)) fail("domainName", `"${s.domainName}" is not a lowercase DNS name`);
    if (!host.test(s.httpDomainName)) fail("httpDomainName", `"${s.httpDomainName}" is not a lowercase DNS name`);
    if (s.httpDomainName === s.domainName) fail("httpDomainName", "must differ from domainName: API Gateway cannot map a WebSocket API and an HTTP API to one domain");
    if (!s.hostedZoneId && !s.hostedZoneName) fail("hostedZoneName", "set the hosted zone by name (hostedZoneName) or id (hostedZoneId)");
    for (const [key, email] of [["budgetEmail", s.budgetEmail], ["alarmEmail", s.alarmEmail]] as const) {
        if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) fail(key, `"${email}" is not an email address`);
    }
    if (!(s.budgetLimitUsd > 0)) fail("budgetLimitUsd", "must be above 0");
    if (!RETENTION_DAYS.includes(s.logRetentionDays)) fail("logRetentionDays", `must be one of ${RETENTION_DAYS.join(", ")}`);
    for (const [key, t] of [["websocketThrottle", s.websocketThrottle], ["httpThrottle", s.httpThrottle]] as const) {
        if (!Number.isInteger(t.burstLimit) || t.burstLimit < 1) fail(`${key}.burstLimit`, "must be a whole number of at least 1");
        if (!(t.rateLimit > 0)) fail(`${key}.rateLimit`, "must be above 0");
    }
    for (const h of HANDLERS) {
        const n = s.reservedConcurrency[h];
        // 0 would stop the function altogether; a missing value would leave it unbounded.
        if (!Number.isInteger(n) || n < 1) fail(`reservedConcurrency.${h}`, "must be a whole number of at least 1");
    }
    for (const [k, v] of Object.entries(s.alarms)) {
        if (!(typeof v === "number" && v > 0)) fail(`alarms.${k}`, "must be a number above 0");
    }
    if (!Number.isInteger(s.imageExpirationDays) || s.imageExpirationDays < 1) fail("imageExpirationDays", "must be a whole number of days, at least 1");
    if (s.extensionOrigins.length === 0) fail("extensionOrigins", "needs at least one origin");
    for (const o of s.extensionOrigins) {
        if (!/^(chrome-extension:\/\/[a-p]{32}|https?:\/\/[^/\s*]+)$/.test(o)) fail("extensionOrigins", `"${o}" is not chrome-extension://<id> or an http(s) origin without a path`);
    }
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(s.stageName)) fail("stageName", "letters, digits, - and _ only");
    if (!s.lambdaArtifact.endsWith(".zip")) fail("lambdaArtifact", "must name a .zip file");
    return s;
}
