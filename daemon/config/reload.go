package config

import (
	"reflect"
	"sort"
	"strings"
)

// reloadable are the keys SIGHUP applies to a running daemon, as in
// dockerd; everything else needs a restart.
var reloadable = []string{
	"debug", "log-level", "labels", "live-restore", "max-concurrent-downloads",
	"max-concurrent-uploads", "insecure-registries", "registry-mirrors",
	"runtimes", "default-runtime", "shutdown-timeout", "experimental",
	"authorization-plugins", "max-download-attempts", "default-stop-timeout",
	"default-shm-size", "default-ipc-mode", "default-cgroupns-mode",
}

// Reloadable reports whether a daemon.json key is applied by SIGHUP.
func Reloadable(key string) bool {
	for _, k := range reloadable {
		if k == key {
			return true
		}
	}
	return false
}

// ApplyReload copies the reloadable settings of next into c and returns the
// keys whose values changed.
func (c *Config) ApplyReload(next *Config) []string {
	cv, nv := reflect.ValueOf(c).Elem(), reflect.ValueOf(next).Elem()
	t := cv.Type()
	var changed []string
	for i := 0; i < t.NumField(); i++ {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if !Reloadable(key) {
			continue
		}
		if !reflect.DeepEqual(cv.Field(i).Interface(), nv.Field(i).Interface()) {
			changed = append(changed, key)
			cv.Field(i).Set(nv.Field(i))
		}
	}
	sort.Strings(changed)
	return changed
}
