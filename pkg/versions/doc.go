// Package versions compares dotted API version strings such as "1.24" and
// "1.50" numerically, the way the Engine API negotiates versions: "1.9" is
// older than "1.10".
package versions
