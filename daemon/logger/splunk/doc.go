// Package splunk owns the splunk log driver: each line of a container's
// output becomes an event of Splunk's HTTP Event Collector (HEC), posted
// in batches as JSON to splunk-url's /services/collector/event/1.0 with
// the token of splunk-token, optionally gzipped, in dockerd's three
// formats: inline (the line as a string with its tag and attributes),
// json (a line that is JSON embedded as JSON) and raw (the line after
// the tag and attributes). Its tests post to a fake collector on
// loopback; no Splunk service is needed.
package splunk
