// Package logger owns what berth's built-in remote log drivers (syslog,
// gelf, fluentd, journald, splunk, awslogs) share: the container facts a
// driver is given (Info, dockerd's logger.Info), the message it sends
// (Message), the `tag` template, the extra attributes chosen by the
// labels, labels-regex, env and env-regex options, the connection that
// redials a receiver (Conn), the flushing of batching drivers (Flusher),
// and the checks of the options every driver accepts (mode,
// max-buffer-size, and the cache-* options of dual logging). Each driver
// is a subpackage; the daemon feeds them from the container's local cache
// (daemon/log_forward.go).
package logger
