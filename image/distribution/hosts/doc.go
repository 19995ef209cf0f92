// Package hosts reads containerd's registry host configuration: a
// directory per registry host under one root (berthd's
// --registry-config-dir, /etc/berth/certs.d by default), each holding a
// hosts.toml that names the mirrors to try, in order, before the
// registry's own server, with their capabilities (pull, resolve, push),
// TLS material, extra headers and API root.
//
// It owns the file format and the choice of directory for a registry
// host (HOST:PORT, containerd's HOST_PORT_ spelling, then _default); it
// makes no request. image/distribution turns a Config into endpoints.
package hosts
