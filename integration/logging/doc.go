// Package logging holds the end-to-end tests of the built-in remote log
// drivers (syslog, gelf, fluentd, journald, splunk, awslogs) against a
// berthd started for the package: each test starts a real receiver on
// loopback or on a socket in a private directory — a syslog listener on
// udp, tcp, tls, unix and unixgram, a GELF udp/tcp listener that
// reassembles chunks and decompresses, a fluentd forward listener that
// decodes msgpack, a journal socket (BERTH_JOURNAL_SOCKET, set before the
// daemon starts), fakes of Splunk's event collector and of CloudWatch
// Logs —
// runs a container logging to it through the docker CLI, and checks what
// arrived: message, tag, extra fields, timestamps; and that `docker logs`
// still reads the output from the local cache (dual logging).
package logging
