package main

import (
	"os"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/daemon/config"
)

// configureProxyEnv puts the configured proxies into berthd's environment,
// as dockerd does: every outgoing HTTP client of berth (registries, build
// contexts by URL, plugins) takes its proxy from there. It must run before
// the first request, which freezes Go's view of the environment.
func configureProxyEnv(p config.Proxies) {
	for _, v := range []struct {
		names [2]string
		val   string
	}{
		{[2]string{"HTTP_PROXY", "http_proxy"}, p.HTTPProxy},
		{[2]string{"HTTPS_PROXY", "https_proxy"}, p.HTTPSProxy},
		{[2]string{"NO_PROXY", "no_proxy"}, p.NoProxy},
	} {
		if v.val == "" {
			continue
		}
		for _, name := range v.names {
			if old := os.Getenv(name); old != "" && old != v.val {
				logrus.WithFields(logrus.Fields{"name": name, "old-value": config.MaskProxyCredentials(old), "new-value": config.MaskProxyCredentials(v.val)}).Warn("overriding existing proxy variable with value from configuration")
			}
			_ = os.Setenv(name, v.val)
		}
	}
}
