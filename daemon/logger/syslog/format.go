package syslog

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Facilities by the names syslog-facility accepts.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// parseFacility reads syslog-facility: a name or a number 0–23; daemon
// by default.
func parseFacility(s string) (int, error) {
	if s == "" {
		return facilities["daemon"], nil
	}
	if f, ok := facilities[s]; ok {
		return f, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 23 {
		return n, nil
	}
	return 0, errors.New("invalid syslog facility")
}

// header is what a format puts before the message.
type header struct {
	priority int
	time     time.Time
	hostname string
	tag      string
	pid      int
}

// formatter writes one message in a format.
type formatter func(dst []byte, h header, msg []byte) []byte

// parseFormat reads syslog-format; the empty format is dockerd's default,
// the BSD line of a local syslog socket (no hostname).
func parseFormat(s string) (formatter, error) {
	switch s {
	case "":
		return formatUnix, nil
	case "rfc3164":
		return formatRFC3164, nil
	case "rfc5424":
		return rfc5424(time.RFC3339), nil
	case "rfc5424micro":
		return rfc5424("2006-01-02T15:04:05.000000Z07:00"), nil
	}
	return nil, errors.New("Invalid syslog format")
}

// formatUnix: "<30>Jan  2 15:04:05 tag[pid]: msg".
func formatUnix(dst []byte, h header, msg []byte) []byte {
	dst = fmt.Appendf(dst, "<%d>%s %s[%d]: ", h.priority, h.time.Format(time.Stamp), h.tag, h.pid)
	return append(dst, msg...)
}

// formatRFC3164: "<30>Jan  2 15:04:05 host tag[pid]: msg".
func formatRFC3164(dst []byte, h header, msg []byte) []byte {
	dst = fmt.Appendf(dst, "<%d>%s %s %s[%d]: ", h.priority, h.time.Format(time.Stamp), h.hostname, h.tag, h.pid)
	return append(dst, msg...)
}

// rfc5424: "<30>1 2006-01-02T15:04:05Z host tag pid tag - msg", with the
// tag as APP-NAME and as MSGID and no structured data, as dockerd writes.
func rfc5424(layout string) formatter {
	return func(dst []byte, h header, msg []byte) []byte {
		dst = fmt.Appendf(dst, "<%d>1 %s %s %s %d %s - ", h.priority, h.time.Format(layout), h.hostname, h.tag, h.pid, h.tag)
		return append(dst, msg...)
	}
}
