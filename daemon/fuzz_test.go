package daemon

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/volume/mounts"
)

// clientError reports whether err maps to a 4xx (or a 501/503 that says
// what is missing), not to a 500 that means an internal fault.
func clientError(err error) bool {
	for _, class := range []any{
		new(interface{ InvalidParameter() }), new(interface{ NotFound() }), new(interface{ Conflict() }),
		new(interface{ Forbidden() }), new(interface{ NotImplemented() }), new(interface{ Unavailable() }),
	} {
		if errors.As(err, class) {
			return true
		}
	}
	return false
}

// FuzzContainerCreateConfig runs a create request's body, its name and an
// image config through the checks and conversions ContainerCreate,
// ContainerUpdate and ContainerExecCreate make before they touch any
// state: validation, the merge with the image's config, the mounts, what
// the host cannot enforce, the resources, capabilities and device rules of
// the spec, the detach keys. No panic, and a refusal is a client error.
func FuzzContainerCreateConfig(f *testing.F) {
	img := `{"Env":["PATH=/bin","A=img"],"Cmd":["sh"],"Entrypoint":["/entry"],"WorkingDir":"/srv","Labels":{"l":"img"},"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":{}},"StopSignal":"SIGQUIT","Healthcheck":{"Test":["CMD","true"],"Interval":1000000000,"Retries":3},"OnBuild":["RUN x"]}`
	for _, s := range []string{
		`{"Image":"busybox","Cmd":["true"]}`,
		`{"Image":"busybox","Env":["A=1","B"],"WorkingDir":"/w","StopSignal":"SIGRTMIN+3","StopTimeout":-1,"Healthcheck":{"Test":["NONE"],"Interval":1,"Retries":-1},"Volumes":{"/v":{}},"HostConfig":{"Binds":["/tmp:/host:ro,rslave","vol:/v:nocopy","/:/","relative:/x","/a:/b:zz"],"Tmpfs":{"/t":"size=1m,mode=1777,uid=0","/run":"noexec,nosuid,size=-1"},"VolumesFrom":["other:ro","bad:xx","a:b:c"],"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"AutoRemove":true}}`,
		`{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/tmp","Target":"/b","ReadOnly":true,"BindOptions":{"Propagation":"rprivate","NonRecursive":true,"CreateMountpoint":true}},{"Type":"volume","Source":"v1","Target":"/v","VolumeOptions":{"NoCopy":true,"Subpath":"../x","DriverConfig":{"Name":"local","Options":{"type":"tmpfs"}}}},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":-5,"Mode":511,"Options":[["exec"],["size","1"]]}},{"Type":"npipe","Target":"x"},{"Type":"image","Source":"busybox","Target":"/i"},{"Type":"cluster"},{"Type":"bind","Source":"","Target":""}]}}`,
		`{"Image":"x","HostConfig":{"Memory":6291456,"MemorySwap":-1,"MemoryReservation":1,"MemorySwappiness":101,"OomKillDisable":true,"NanoCpus":1500000000,"CpuShares":2,"CpuPeriod":100000,"CpuQuota":-1,"CpusetCpus":"0-3,7,9-","CpusetMems":"0","BlkioWeight":300,"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":20}],"BlkioDeviceReadBps":[{"Path":"/dev/null","Rate":1}],"PidsLimit":-1,"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":512},{"Name":"bogus","Soft":1,"Hard":1}],"DeviceCgroupRules":["c 1:3 rwm","b *:* m","a","c 999999999999:1 r","x 1:2 q"],"CapAdd":["NET_ADMIN","CAP_SYS_ADMIN","all","bogus"],"CapDrop":["ALL"],"ShmSize":-1,"LogConfig":{"Type":"json-file","Config":{"max-size":"1k","max-file":"x"}}}}`,
		`{"Image":"x","HostConfig":{"Privileged":true,"NetworkMode":"host","IpcMode":"host","PidMode":"container:x","UTSMode":"host","UsernsMode":"host","CgroupnsMode":"private","Sysctls":{"net.ipv4.ip_forward":"1","kernel.shmmax":"1"},"SecurityOpt":["seccomp=unconfined","apparmor=docker-default","label:disable","no-new-privileges:true","systempaths=unconfined","bogus"],"ReadonlyPaths":[],"MaskedPaths":["/proc/kcore"],"Runtime":"runc","Isolation":"hyperv"}}`,
		`{"Image":"x","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":1}}}`,
		`{"Image":"x","HostConfig":{"RestartPolicy":{"Name":"bogus"}}}`,
		`{"Image":"x","HostConfig":{"CpusetCpus":"0-99999999999999999999","CpusetMems":"3-1"}}`,
		`{"Image":"x","HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"unix:///x"}}}}`,
		`{}`, `{"HostConfig":null}`, `null`,
	} {
		f.Add([]byte(s), "web", []byte(img), "ctrl-p,ctrl-q")
	}
	f.Add([]byte(`{"Image":"x"}`), "/a/b", []byte(`{"Env":["=x"],"Volumes":{"":{}},"Healthcheck":{"Test":[]}}`), "ctrl-,a,,ctrl-@,ctrl-[,ctrl-~")
	f.Add([]byte(`{"Image":"x"}`), "-x", []byte(`null`), "ctrl-aa")
	f.Fuzz(func(t *testing.T, body []byte, name string, imgCfg []byte, detachKeys string) {
		// Its callers wrap any error as an invalid parameter.
		parseDetachKeys(detachKeys)
		var req container.CreateRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return
		}
		check := func(what string, err error) bool {
			if err != nil && !clientError(err) {
				t.Fatalf("%s: %T %v is not a client error", what, err, err)
			}
			return err == nil
		}
		if !check("validateConfig", validateConfig(req.Config)) {
			return
		}
		hc := req.HostConfig
		if hc == nil {
			hc = &container.HostConfig{}
		}
		if !check("validateHostConfig", validateHostConfig(hc)) {
			return
		}
		if name != "" {
			check("ValidateName", ctr.ValidateName(name))
		}
		var image container.Config
		if json.Unmarshal(imgCfg, &image) == nil {
			cfg := *req.Config
			mergeImageConfig(&cfg, &image)
			req.Config = &cfg
		}
		for _, spec := range hc.VolumesFrom {
			_, _, err := mounts.ParseVolumesFrom(spec)
			check("ParseVolumesFrom", err)
		}
		_, err := mounts.Collect(mounts.Config{Binds: hc.Binds, Mounts: hc.Mounts, Tmpfs: hc.Tmpfs, Volumes: req.Config.Volumes, VolumeDriver: hc.VolumeDriver})
		check("mounts.Collect", err)
		if _, err := discardUnsupported(hc); !check("discardUnsupported", err) {
			return
		}
		s := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{Resources: &specs.LinuxResources{}, Sysctl: map[string]string{}}}
		check("setResources", setResources(s, hc))
		_, err = effectiveCaps(hc)
		check("effectiveCaps", err)
		for _, rule := range hc.DeviceCgroupRules {
			_, err := parseDeviceRule(rule)
			check("parseDeviceRule", err)
		}
	})
}
