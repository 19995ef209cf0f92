package backend

// NetworkInspectOptions shape GET /networks/{id}.
type NetworkInspectOptions struct {
	Verbose bool
	// Scope, when set, must match the network's ("local").
	Scope string
	// WithStatus adds IPAM usage figures (API 1.52+).
	WithStatus bool
}
