// Package awslogs owns the awslogs log driver: each line of a
// container's output (or, with awslogs-multiline-pattern or
// awslogs-datetime-format, each group of lines) becomes an event of an
// Amazon CloudWatch Logs stream, sent in batches with PutLogEvents over
// the service's JSON protocol, signed with AWS Signature Version 4 —
// written here, without the AWS SDK. Credentials come from the daemon's
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) or from awslogs-credentials-endpoint. The tests
// point awslogs-endpoint at a fake service on loopback.
package awslogs
