// Package listeners opens the sockets the API is served on: unix sockets
// with mode 0660 and the socket group, TCP with TLS (plain TCP only when the
// operator said --tls=false), and sockets handed over by systemd (fd://).
package listeners
