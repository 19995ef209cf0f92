package config

import "testing"

func TestAPITLS(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name              string
		tls, verify       *bool
		wantTLS, wantVrfy bool
	}{
		{"nothing", nil, nil, false, false},
		{"--tls=false", &no, nil, false, false},
		{"--tls", &yes, nil, true, true},
		{"--tlsverify", nil, &yes, true, true},
		{"--tls --tlsverify", &yes, &yes, true, true},
		{"--tls --tlsverify=false", &yes, &no, true, false},
		{"--tlsverify=false", nil, &no, true, false},
		{"--tls=false --tlsverify", &no, &yes, true, true},
		{"--tls=false --tlsverify=false", &no, &no, true, false},
	} {
		c := &Config{TLS: tc.tls, TLSVerify: tc.verify}
		if gotTLS, gotVrfy := c.APITLS(); gotTLS != tc.wantTLS || gotVrfy != tc.wantVrfy {
			t.Errorf("%s: tls %v verify %v, want %v %v", tc.name, gotTLS, gotVrfy, tc.wantTLS, tc.wantVrfy)
		}
	}
}
