package container

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/daemon/backend"
)

// fuzzBackend accepts everything. Its methods encode what they were given,
// as inspect later would; the rest of Backend is nil and never reached.
type fuzzBackend struct{ Backend }

func (fuzzBackend) ContainerCreate(_ context.Context, p backend.ContainerCreateConfig) (container.CreateResponse, error) {
	if _, err := json.Marshal(p); err != nil {
		return container.CreateResponse{}, err
	}
	return container.CreateResponse{ID: "0123456789ab", Warnings: []string{}}, nil
}

func (fuzzBackend) ContainerUpdate(_ context.Context, _ string, u container.UpdateConfig) (container.UpdateResponse, error) {
	if _, err := json.Marshal(u); err != nil {
		return container.UpdateResponse{}, err
	}
	return container.UpdateResponse{Warnings: []string{}}, nil
}

func (fuzzBackend) ContainerExecCreate(_ context.Context, _ string, cfg container.ExecCreateRequest) (string, error) {
	if _, err := json.Marshal(cfg); err != nil {
		return "", err
	}
	return "exec0", nil
}

var createSeeds = []string{
	`{"Image":"busybox","Cmd":["true"]}`,
	`{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["sh","-c","echo hi"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["/tmp:/tmp:ro"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{}}}`,
	`{"Image":"busybox","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000},"StopSignal":"SIGKILL","StopTimeout":3}`,
	`{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/host","BindOptions":{"Propagation":"rshared"}},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":-1,"Mode":4095}},{"Type":"volume","Source":"../x","Target":"/v","VolumeOptions":{"NoCopy":true}}]}}`,
	`{"Image":"x","HostConfig":{"Sysctls":{"net.ipv4.ip_forward":"1"},"NetworkMode":"container:x","SecurityOpt":["apparmor=unconfined","seccomp=unconfined","label=disable","no-new-privileges"],"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}],"CapAdd":["ALL"],"Privileged":true,"PidMode":"host","Ulimits":[{"Name":"nofile","Soft":-1,"Hard":1}]}}`,
	`{"Image":"x","HostConfig":{"Memory":-1,"MemorySwap":-2,"CpusetCpus":"0-99999999999","CpuQuota":-5,"BlkioWeight":65535,"PidsLimit":-1,"ShmSize":-1,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1},"LogConfig":{"Type":"json-file","Config":{"max-size":"-1k","max-file":"0"}}}}`,
	`{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"n":{"IPAMConfig":{"IPv4Address":"300.1.1.1","IPv6Address":"zz::1"},"Aliases":["a"],"MacAddress":"zz","DriverOpts":{"a":"b"}}}}}`,
	`{"Image":"x","Env":["=x","A"],"Labels":{"":""},"Volumes":{"/a":{},"":{}},"WorkingDir":"relative"}`,
	`{"Config":null}`, `{"HostConfig":null}`, `null`, `[]`, `{"Image":`, `{"Image":"x"} {}`, "\xff", `{"HostConfig":{"PortBindings":{"x":[null]}}}`,
}

// FuzzContainerCreate drives POST /containers/create through the server's
// middleware: no panic reaches the client, and a body that is not JSON is
// a 400.
func FuzzContainerCreate(f *testing.F) {
	h := servertest.Handler(New(fuzzBackend{}))
	for _, s := range createSeeds {
		f.Add("1.50", "name=web&platform=linux/amd64", []byte(s))
	}
	f.Add("", "name=%zz", []byte(createSeeds[0]))
	f.Add("1.24", "", []byte(createSeeds[1]))
	f.Add("1.99", "name=/a/b", []byte(createSeeds[0]))
	f.Fuzz(func(t *testing.T, version, query string, body []byte) {
		rec := servertest.Do(h, "POST", version, "/containers/create", query, body)
		servertest.CheckBody(t, rec, body)
	})
}

// FuzzContainerUpdate drives POST /containers/{id}/update.
func FuzzContainerUpdate(f *testing.F) {
	h := servertest.Handler(New(fuzzBackend{}))
	for _, s := range []string{
		`{"Memory":314572800,"MemorySwap":-1}`, `{"CpuShares":512,"CpusetCpus":"0-1","NanoCpus":1500000000}`,
		`{"RestartPolicy":{"Name":"unless-stopped"}}`, `{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-3}}`,
		`{"PidsLimit":-1,"BlkioWeight":10,"KernelMemory":1}`, `{"Memory":-9223372036854775808}`,
		`{"BlkioWeight":99999}`, `{}`, `null`, `{"Memory":"1g"}`, `{"Memory":1e40}`,
	} {
		f.Add("1.50", "web", []byte(s))
	}
	f.Fuzz(func(t *testing.T, version, name string, body []byte) {
		rec := servertest.Do(h, "POST", version, "/containers/"+name+"/update", "", body)
		servertest.CheckBody(t, rec, body)
	})
}

// FuzzExecCreate drives POST /containers/{id}/exec.
func FuzzExecCreate(f *testing.F) {
	h := servertest.Handler(New(fuzzBackend{}))
	for _, s := range []string{
		`{"AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"DetachKeys":"","Tty":false,"Env":null,"Cmd":["ls","-l"]}`,
		`{"Cmd":["sh"],"Tty":true,"User":"1000:1000","Privileged":true,"WorkingDir":"/tmp","Env":["A=1","=bad"],"ConsoleSize":[24,80]}`,
		`{"Cmd":["sh"],"DetachKeys":"ctrl-p,ctrl-q,a,ctrl-@,ctrl-[,ctrl-~"}`, `{"Cmd":[],"ConsoleSize":[1]}`,
		`{"Cmd":"sh"}`, `{"Cmd":null}`, `null`, `{`,
	} {
		f.Add("1.50", "web", []byte(s))
	}
	f.Fuzz(func(t *testing.T, version, name string, body []byte) {
		rec := servertest.Do(h, "POST", version, "/containers/"+name+"/exec", "", body)
		servertest.CheckBody(t, rec, body)
	})
}
