// Package fluentd owns the fluentd log driver: each line of a container's
// output becomes a Forward-protocol event, the msgpack array [tag, time,
// record] with dockerd's record (container_id, container_name, source,
// log and the labels and env the options choose), sent to a fluentd or
// fluent-bit forward input over tcp, tls or a unix socket. With
// fluentd-async the driver never waits for the receiver: events queue in
// memory up to fluentd-buffer-limit bytes while it (re)connects.
package fluentd
