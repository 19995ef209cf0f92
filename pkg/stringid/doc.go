// Package stringid makes and shortens the engine's object IDs the way
// dockerd does: 64 lower-case hex digits from crypto/rand, shown to users
// by their first 12 (the "short ID"). Containers, execs, sandboxes,
// networks and anonymous volumes take their IDs from here.
package stringid
