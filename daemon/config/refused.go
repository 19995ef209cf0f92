package config

import (
	"bytes"
	"encoding/json"
	"errors"
)

// refusedKeys are dockerd daemon.json keys berth does not honour. Each
// check passes a value that asks for nothing (dockerd's default, an empty
// string, list or object, false, 0) and refuses any other, so that a
// daemon.json written for dockerd loads while a setting berth would
// silently drop stops the start with the key's name. A key that passes is
// logged with its noEffectReason.
var refusedKeys = map[string]func(json.RawMessage) error{
	"userns-remap":         refuseUnlessEmpty("user namespace remapping is not supported by berth yet"),
	"selinux-enabled":      refuseUnlessEmpty("SELinux labelling is not supported by berth yet"),
	"userland-proxy-path":  refuseUnlessEmpty("berth's userland proxy runs inside berthd; there is no docker-proxy binary to name"),
	"default-gateway":      refuseUnlessEmpty("a default bridge gateway other than the bridge's own address is not supported by berth yet"),
	"default-gateway-v6":   refuseUnlessEmpty("a default bridge gateway other than the bridge's own address is not supported by berth yet"),
	"cpu-rt-period":        refuseUnlessEmpty("realtime CPU scheduling limits are not supported by berth"),
	"cpu-rt-runtime":       refuseUnlessEmpty("realtime CPU scheduling limits are not supported by berth"),
	"default-network-opts": refuseUnlessEmpty("default network driver options are not supported by berth yet"),
	"storage-opts":         refuseUnlessEmpty("overlay2 storage options are not supported by berth yet"),
	"bip6":                 refuseUnlessEmpty("an IPv6 address for the default bridge is not supported by berth yet; use fixed-cidr-v6"),
	"rootless":             refuseUnlessEmpty("rootless mode is not supported by berth yet"),
	"cri-containerd":       refuseUnlessEmpty("berth runs no containerd; its CRI server is its own"),
	"nri-opts":             refuseUnlessEmpty("NRI is not supported by berth"),

	// Swarm mode: berth has none, so these settings have nothing to act on.
	"node-generic-resources":       refuseUnlessEmpty("swarm mode is not supported by berth"),
	"network-control-plane-mtu":    refuseUnlessEmpty("swarm mode is not supported by berth"),
	"network-diagnostic-port":      refuseUnlessEmpty("swarm mode is not supported by berth"),
	"swarm-default-advertise-addr": refuseUnlessEmpty("swarm mode is not supported by berth"),
	"swarm-raft-election-tick":     refuseUnlessEmpty("swarm mode is not supported by berth"),
	"swarm-raft-heartbeat-tick":    refuseUnlessEmpty("swarm mode is not supported by berth"),

	// berth runs no containerd: naming one changes nothing, so these are
	// accepted (as the matching flags are) and logged.
	"containerd":                  acceptAny,
	"containerd-namespace":        acceptAny,
	"containerd-plugin-namespace": acceptAny,
	// Deprecated and without effect in dockerd itself, which also skips it.
	"allow-nondistributable-artifacts": acceptAny,
}

// noEffectReason is the warning logged for a refusedKeys key that passed.
var noEffectReason = map[string]string{
	"containerd":                       "daemon.json option has no effect: berth runs no containerd",
	"containerd-namespace":             "daemon.json option has no effect: berth runs no containerd",
	"containerd-plugin-namespace":      "daemon.json option has no effect: berth runs no containerd",
	"allow-nondistributable-artifacts": "daemon.json option is deprecated and has no effect (as in dockerd)",
}

func acceptAny(json.RawMessage) error { return nil }

// refuseUnlessEmpty refuses any value but an empty one, with reason.
func refuseUnlessEmpty(reason string) func(json.RawMessage) error {
	return func(v json.RawMessage) error {
		if isEmptyValue(v) {
			return nil
		}
		return errors.New(reason)
	}
}

func isEmptyValue(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "null", `""`, "false", "0", "{}", "[]":
		return true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) == nil {
		for _, e := range m {
			if !isEmptyValue(e) {
				return false
			}
		}
		return true
	}
	return false
}

// CheckRefused runs key's check on a value given another way (a flag),
// as JSON; a key berth does not refuse passes.
func CheckRefused(key string, value json.RawMessage) error {
	if check := refusedKeys[key]; check != nil {
		return check(value)
	}
	return nil
}
