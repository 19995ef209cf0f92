// Package apparmor owns the engine's side of AppArmor: whether the host
// confines with it, the text of the default container profile (the rules
// of dockerd's docker-default, under the same name so that users' habits
// and their own profiles carry over), loading it with apparmor_parser, and
// which profile a container's or an exec's process gets.
//
// The runtime applies the profile named in the OCI spec when it execs the
// process; this package only decides and loads. A host without AppArmor
// gets no profile and no claim of one: HostSupports is false there and
// --security-opt apparmor=… is accepted and ignored, as dockerd does.
package apparmor
