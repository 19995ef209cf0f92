// Package syslog owns the syslog log driver: it sends each line of a
// container's output to a syslog receiver over udp, tcp, tcp+tls, unix or
// unixgram, in the format the syslog-format option names (dockerd's
// default BSD-style line, rfc3164, rfc5424 or rfc5424micro), under the
// facility of syslog-facility, at severity info (stdout) or err (stderr).
package syslog
