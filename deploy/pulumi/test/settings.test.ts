// The settings' defaults and checks: each bad value is refused with the config key at fault.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Settings, defaultsFor, parseKeyDigests, validate } from "../src/settings";

const good = (): Settings => ({
    ...defaultsFor("production"),
    domainName: "api.extension.semantest.com",
    httpDomainName: "http.extension.semantest.com",
    hostedZoneName: "semantest.com",
    budgetEmail: "ops@semantest.com",
    alarmEmail: "ops@semantest.com",
    extensionOrigins: ["chrome-extension://jpapelmdeepcnmgoljmciaplbjepgmhm"],
});

test("production defaults are larger than development's and keep logs longer", () => {
    const p = defaultsFor("production");
    const d = defaultsFor("development");
    assert.equal(p.budgetLimitUsd, 50);
    assert.ok(p.logRetentionDays > d.logRetentionDays);
    assert.ok(p.reservedConcurrency.default > d.reservedConcurrency.default);
    assert.ok(p.websocketThrottle.rateLimit > d.websocketThrottle.rateLimit);
    assert.equal(p.lambdaArtifact, "../lambda/dist/semantest-lambda.zip");
    assert.doesNotThrow(() => validate(good()));
});

test("API key digests: lowercase hex SHA-256, comma-separated, blanks ignored", () => {
    const a = "a".repeat(64);
    const b = "0123456789abcdef".repeat(4);
    assert.deepEqual(parseKeyDigests(`${a}, ${b},`), [a, b]);
    assert.deepEqual(parseKeyDigests(""), []);
    assert.throws(() => parseKeyDigests("A".repeat(64)), /apiKeySha256: .* not a lowercase hex SHA-256/);
    assert.throws(() => parseKeyDigests("abc"), /apiKeySha256/);
    // The message shows only the start of a bad value, in case a raw key was pasted in.
    assert.throws(() => parseKeyDigests("my-secret-api-key-value"), (e: Error) => !e.message.includes("api-key-value"));
});

const refusals: [string, (s: Settings) => void, RegExp][] = [
    ["an unknown environment", (s) => { s.environment = "prod" as never; }, /semantest:environment/],
    ["one domain for both APIs", (s) => { s.httpDomainName = s.domainName; }, /semantest:httpDomainName: must differ/],
    ["an uppercase domain", (s) => { s.domainName = "API.example.com"; }, /semantest:domainName/],
    ["no hosted zone", (s) => { s.hostedZoneName = undefined; }, /semantest:hostedZoneName/],
    ["a bad email", (s) => { s.budgetEmail = "ops"; }, /semantest:budgetEmail/],
    ["a retention CloudWatch does not offer", (s) => { s.logRetentionDays = 10; }, /semantest:logRetentionDays/],
    ["a zero burst", (s) => { s.websocketThrottle = { burstLimit: 0, rateLimit: 10 }; }, /semantest:websocketThrottle.burstLimit/],
    ["zero reserved concurrency (the function would never run)", (s) => { s.reservedConcurrency = { ...s.reservedConcurrency, http: 0 }; }, /semantest:reservedConcurrency.http/],
    ["a negative alarm threshold", (s) => { s.alarms = { ...s.alarms, lambdaErrors: -1 }; }, /semantest:alarms.lambdaErrors/],
    ["a wildcard CORS origin", (s) => { s.extensionOrigins = ["*"]; }, /semantest:extensionOrigins/],
    ["no CORS origin", (s) => { s.extensionOrigins = []; }, /semantest:extensionOrigins/],
    ["a budget of 0", (s) => { s.budgetLimitUsd = 0; }, /semantest:budgetLimitUsd/],
    ["an artifact that is not a zip", (s) => { s.lambdaArtifact = "bootstrap"; }, /semantest:lambdaArtifact/],
];
for (const [what, spoil, message] of refusals) {
    test(`refuses ${what}`, () => {
        const s = good();
        spoil(s);
        assert.throws(() => validate(s), message);
    });
}
