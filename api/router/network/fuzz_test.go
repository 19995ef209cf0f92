package network

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/api/server/servertest"
)

// fuzzBackend accepts every request the router lets through; the IPAM
// checks that need the parsed values together are the network manager's
// and have their own tests there.
type fuzzBackend struct{ Backend }

func (fuzzBackend) NetworkCreate(_ context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if _, err := json.Marshal(req); err != nil {
		return network.CreateResponse{}, err
	}
	return network.CreateResponse{ID: "n0"}, nil
}

// FuzzNetworkCreate drives POST /networks/create through the server's
// middleware: no panic reaches the client, and a body that is not JSON is
// a 400.
func FuzzNetworkCreate(f *testing.F) {
	h := servertest.Handler(New(fuzzBackend{}))
	for _, s := range []string{
		`{"Name":"net1","Driver":"bridge"}`,
		`{"Name":"net1","CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":false,"IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"172.30.0.0/16","IPRange":"172.30.5.0/24","Gateway":"172.30.5.254","AuxiliaryAddresses":{"host1":"172.30.1.5"}}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{"com.docker.network.bridge.name":"br-x","com.docker.network.driver.mtu":"1400"},"Labels":{"a":"b"}}`,
		`{"Name":"v6","EnableIPv6":true,"EnableIPv4":false,"IPAM":{"Config":[{"Subnet":"fd00::/64","Gateway":"fd00::1"},{"Subnet":"::/0"}]}}`,
		`{"Name":"bad","IPAM":{"Config":[{"Subnet":"300.0.0.0/8","IPRange":"10.0.0.0/33","Gateway":"::ffff:10.0.0.1","AuxiliaryAddresses":{"a":"x"}}]}}`,
		`{"Name":"m","IPAM":{"Config":[{"Subnet":"10.0.0.0/8","IPRange":"11.0.0.0/24","Gateway":"12.0.0.1"},{"Subnet":"10.1.0.0/16"}]}}`,
		`{"Name":"m","IPAM":{"Config":[{"Subnet":"0.0.0.0/0"},{"Subnet":"::ffff:0.0.0.0/96"},{"Subnet":"10.0.0.0/32","Gateway":"10.0.0.0"}]}}`,
		`{"Name":"m","IPAM":{"Config":[{"Subnet":"fe80::1%eth0/64"}]}}`,
		`{"Name":"m","IPAM":null}`, `{"Name":"m","IPAM":{"Config":null}}`, `{"Name":"m","IPAM":{"Config":[null]}}`,
		`{"Name":"host"}`, `{"Name":"","Driver":"overlay","Ingress":true,"ConfigOnly":true,"ConfigFrom":{"Network":"x"}}`,
		`null`, `{`, `{"Name":1}`,
	} {
		f.Add("1.50", []byte(s))
	}
	f.Add("1.24", []byte(`{"Name":"n","CheckDuplicate":true}`))
	f.Fuzz(func(t *testing.T, version string, body []byte) {
		rec := servertest.Do(h, "POST", version, "/networks/create", "", body)
		servertest.CheckBody(t, rec, body)
	})
}
