// Package system routes the Engine API's system endpoints: /_ping,
// /version, /info, /events, /system/df and /auth.
package system
