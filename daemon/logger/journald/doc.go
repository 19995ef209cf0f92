// Package journald owns the journald log driver: each line of a
// container's output becomes a journal entry with dockerd's fields
// (MESSAGE, PRIORITY, CONTAINER_ID, CONTAINER_NAME, CONTAINER_TAG,
// SYSLOG_IDENTIFIER, IMAGE_NAME, … and the labels and env the options
// choose, their names upper-cased), written in journald's native
// protocol to its datagram socket without cgo or libsystemd. An entry too
// big for one datagram goes in a sealed memfd whose descriptor is sent
// instead, as journald accepts it.
//
// The socket is /run/systemd/journal/socket. BERTH_JOURNAL_SOCKET, in
// the daemon's environment, names another one: the integration tests use
// it to receive the entries in a private directory.
package journald
