// Package registry tests docker pull, push and login against Debian's
// docker-registry started on 127.0.0.1 in three setups: plain HTTP, TLS
// with a certs.d CA, and htpasswd basic auth.
package registry
