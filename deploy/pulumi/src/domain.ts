// A custom domain for one API: ACM certificate validated through Route 53, the API Gateway domain, its mapping and alias records.
//
// API Gateway cannot map a WebSocket API and an HTTP (or REST) API to the same custom domain name
// ("You can't map WebSocket APIs to the same custom domain name as an HTTP API or REST API", API
// Gateway developer guide, WebSocket API mappings). So the WebSocket API has `domainName`
// (api.extension.semantest.com) and the HTTP API its own `httpDomainName` (http.extension.semantest.com
// in production), each with this same set of resources.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface CustomDomainArgs {
    domainName: string;
    zoneId: pulumi.Input<string>;
    apiId: pulumi.Input<string>;
    stage: pulumi.Input<string>;
}

export interface CustomDomain {
    certificate: aws.acm.Certificate;
    domain: aws.apigatewayv2.DomainName;
    mapping: aws.apigatewayv2.ApiMapping;
}

export function customDomain(name: string, a: CustomDomainArgs, parent: pulumi.Resource): CustomDomain {
    const opts = { parent };
    // Regional endpoints take a certificate from the same region as the API.
    const certificate = new aws.acm.Certificate(`${name}-cert`, {
        domainName: a.domainName,
        validationMethod: "DNS",
    }, opts);
    const option = certificate.domainValidationOptions.apply((options) => {
        const o = options.find((v) => v.domainName === a.domainName);
        if (!o) throw new Error(`ACM gave no DNS validation record for ${a.domainName}`);
        return o;
    });
    const validationRecord = new aws.route53.Record(`${name}-cert-validation`, {
        zoneId: a.zoneId,
        name: option.resourceRecordName,
        type: option.resourceRecordType,
        records: [option.resourceRecordValue],
        ttl: 300,
        allowOverwrite: true,
    }, opts);
    const validation = new aws.acm.CertificateValidation(`${name}-cert-validated`, {
        certificateArn: certificate.arn,
        validationRecordFqdns: [validationRecord.fqdn],
    }, opts);
    const domain = new aws.apigatewayv2.DomainName(`${name}-domain`, {
        domainName: a.domainName,
        domainNameConfiguration: {
            certificateArn: validation.certificateArn,
            endpointType: "REGIONAL",
            // Answers on IPv4 and IPv6, hence the A and AAAA aliases below.
            ipAddressType: "dualstack",
            securityPolicy: "TLS_1_2",
        },
    }, opts);
    const mapping = new aws.apigatewayv2.ApiMapping(`${name}-mapping`, {
        apiId: a.apiId,
        domainName: domain.id,
        stage: a.stage,
    }, opts);
    for (const type of ["A", "AAAA"]) {
        new aws.route53.Record(`${name}-${type.toLowerCase()}`, {
            zoneId: a.zoneId,
            name: a.domainName,
            type,
            aliases: [{
                name: domain.domainNameConfiguration.targetDomainName,
                zoneId: domain.domainNameConfiguration.hostedZoneId,
                evaluateTargetHealth: false,
            }],
        }, opts);
    }
    return { certificate, domain, mapping };
}
