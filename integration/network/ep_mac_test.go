package network

import (
	"encoding/json"
	"strings"
	"testing"
)

// Before API 1.52, inspect shows the MAC address the container's main
// network was configured with as Config.MacAddress (never a generated
// one), whether it came in EndpointsConfig or, before 1.44, as the
// container-wide MacAddress.
func TestEpInspectConfiguredMAC(t *testing.T) {
	withImages(t)
	const mac = "02:42:ac:11:00:42"
	for _, tc := range []struct {
		name, version, body, want string
	}{
		{"generated", "1.51", `{"Image":"` + img + `"}`, ""},
		{"endpoint", "1.51", `{"Image":"` + img + `","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"` + mac + `"}}}}`, mac},
		{"ctr-wide", "1.43", `{"Image":"` + img + `","Cmd":["sleep","300"],"MacAddress":"` + mac + `"}`, mac},
		{"current", "1.52", `{"Image":"` + img + `","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"` + mac + `"}}}}`, ""},
	} {
		resp, out := d.Do(t, "POST", "/v"+tc.version+"/containers/create", tc.body)
		if resp.StatusCode != 201 {
			t.Fatalf("%s: create %d %s", tc.name, resp.StatusCode, out)
		}
		var cr struct{ Id string }
		json.Unmarshal([]byte(out), &cr)
		t.Cleanup(func() { d.Docker("rm", "-f", cr.Id) })
		_, out = d.Do(t, "GET", "/v"+tc.version+"/containers/"+cr.Id+"/json", "")
		var insp struct{ Config struct{ MacAddress string } }
		if err := json.Unmarshal([]byte(out), &insp); err != nil {
			t.Fatal(err)
		}
		if insp.Config.MacAddress != tc.want {
			t.Fatalf("%s: Config.MacAddress %q, want %q", tc.name, insp.Config.MacAddress, tc.want)
		}
		if tc.name == "ctr-wide" {
			d.DockerT(t, "start", cr.Id)
			if got := d.DockerT(t, "exec", cr.Id, "cat", "/sys/class/net/eth0/address"); strings.TrimSpace(got) != mac {
				t.Fatalf("ctr-wide: eth0 has %s", got)
			}
		}
	}
	// From 1.52 the container-wide field is refused.
	resp, out := d.Do(t, "POST", "/v1.52/containers/create", `{"Image":"`+img+`","MacAddress":"`+mac+`"}`)
	if resp.StatusCode != 201 {
		// The field does not exist in 1.52's schema: ignored or refused
		// are both dockerd-like; it must not be applied.
		return
	}
	var cr struct{ Id string }
	json.Unmarshal([]byte(out), &cr)
	d.Docker("rm", "-f", cr.Id)
}

// A container created the way Watchtower does (API 1.25, NetworkMode the
// network's ID, EndpointsConfig keyed by its name, a container-wide MAC
// address) joins the network once, under its name, with the static
// address and the MAC address (moby#47441).
func TestEpNetworkModeByIDSettingsByName(t *testing.T) {
	withImages(t)
	n := uniq("wt")
	sub, _, octets := testSubnet()
	netID := createNet(t, n, "--subnet", sub)
	const mac = "02:42:ac:11:00:43"
	ip := octets + ".9"
	body := `{"Image":"` + img + `","Cmd":["sleep","300"],"MacAddress":"` + mac + `","HostConfig":{"NetworkMode":"` + netID +
		`"},"NetworkingConfig":{"EndpointsConfig":{"` + n + `":{"IPAMConfig":{"IPv4Address":"` + ip + `"}}}}}`
	resp, out := d.Do(t, "POST", "/v1.25/containers/create", body)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, out)
	}
	var cr struct{ Id string }
	json.Unmarshal([]byte(out), &cr)
	t.Cleanup(func() { d.Docker("rm", "-f", cr.Id) })
	d.DockerT(t, "start", cr.Id)
	nets := ctrInspect(t, d, cr.Id).NetworkSettings.Networks
	es := nets[n]
	if len(nets) != 1 || es == nil || es.IPAddress.String() != ip || es.MacAddress.String() != mac {
		t.Fatalf("networks %v, endpoint %+v: want only %s with %s and %s", nets, es, n, ip, mac)
	}
}
