// Package events is the daemon's event bus: every manager logs what it did
// (container start, image tag, network connect, daemon reload, …) here, and
// GET /events subscribers receive the recent past (for `since`) and the live
// stream, filtered the way dockerd filters them.
package events
