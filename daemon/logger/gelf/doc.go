// Package gelf owns the gelf log driver: each line of a container's
// output becomes a GELF 1.1 message (Graylog's JSON) with dockerd's
// extra fields (_container_id, _tag, …, and the labels and env the
// options choose), sent over udp — compressed with gzip or zlib, or not,
// and split into GELF chunks when it exceeds one datagram — or over tcp,
// null-byte delimited and uncompressed.
package gelf
