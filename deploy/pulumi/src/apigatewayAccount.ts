// The account-wide role API Gateway needs to write WebSocket access and error logs to CloudWatch (one per account and region).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** API Gateway's own managed policy for this role; AWS documents it as the one to attach. */
export const PUSH_TO_CLOUDWATCH_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs";

export function apiGatewayAccount(prefix: string, parent: pulumi.Resource): aws.apigateway.Account {
    const role = new aws.iam.Role(`${prefix}-apigateway-logs-role`, {
        assumeRolePolicy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { Service: "apigateway.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        description: "API Gateway writes access and execution logs to CloudWatch Logs",
    }, { parent });
    const attachment = new aws.iam.RolePolicyAttachment(`${prefix}-apigateway-logs-policy`, {
        role: role.name,
        policyArn: PUSH_TO_CLOUDWATCH_POLICY,
    }, { parent });
    return new aws.apigateway.Account(`${prefix}-apigateway-account`, {
        cloudwatchRoleArn: role.arn,
    }, { parent, dependsOn: [attachment] });
}
