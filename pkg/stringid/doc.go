// Package stringid makes and shortens the engine's object IDs the way
// dockerd does: 64 lower-case hex digits from crypto/rand, shown to users
// by their first 12 (the "short ID"). Containers, execs, sandboxes,
// networks, endpoints, plugins and anonymous volumes take their IDs from
// here, and progress lines and build output shorten image, layer and
// container IDs with TruncateID.
//
// Random names that are not object IDs keep their own forms on purpose:
// overlay2's 26-character base32 layer links (image/layer), short
// temporary-name suffixes (image/layer, volume/local), interface names
// that must fit in 15 bytes (network/internal/nettest) and MAC addresses
// (network/netif).
package stringid
