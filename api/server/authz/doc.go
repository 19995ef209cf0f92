// Package authz is dockerd's authorization plugin chain
// (--authorization-plugin): every API request is shown to each plugin of
// the chain in turn (AuthZPlugin.AuthZReq, with the method, URI, headers
// less credentials, the JSON body up to 4 MiB and the client's TLS
// identity), and refused with 403 when one denies it; the response is
// held back and shown to them again (AuthZPlugin.AuthZRes) before it is
// sent, so that a plugin may refuse it too. A response that streams or
// outgrows 64 KiB is sent as it goes, as dockerd sends it, and only what
// is still held can be refused.
//
// The chain's names and the plugins behind them come from the daemon as
// functions, so that the server imports nothing of the engine.
package authz
