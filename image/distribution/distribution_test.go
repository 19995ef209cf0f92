package distribution

import (
	"encoding/base64"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestDecodeAuthHeader(t *testing.T) {
	js := `{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}`
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding} {
		a, err := DecodeAuthHeader(enc.EncodeToString([]byte(js)))
		if err != nil || a.Username != "u" || a.Password != "p?>" || a.ServerAddress != "127.0.0.1:5000" {
			t.Fatalf("%v: %+v %v", enc, a, err)
		}
	}
	a, err := DecodeAuthHeader(base64.URLEncoding.EncodeToString([]byte(`{"auth":"` + base64.StdEncoding.EncodeToString([]byte("x:y:z")) + `"}`)))
	if err != nil || a.Username != "x" || a.Password != "y:z" {
		t.Fatalf("auth field: %+v %v", a, err)
	}
	if a, err := DecodeAuthHeader(""); err != nil || a.Username != "" {
		t.Fatalf("empty header: %+v %v", a, err)
	}
	if _, err := DecodeAuthHeader("%%%"); err == nil {
		t.Fatal("garbage header accepted")
	}
}

func TestPlatformSelection(t *testing.T) {
	idx := &manifest{Manifests: []ocispec.Descriptor{
		{Digest: "sha256:a", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{Digest: "sha256:b", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{Digest: "sha256:c", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
		{Digest: "sha256:d", Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
	}}
	for in, want := range map[string]string{
		"linux/arm/v7": "sha256:b", "linux/arm/v6": "sha256:a", "linux/arm": "sha256:b",
		"linux/aarch64": "sha256:c", "linux/arm64/v8": "sha256:c", "linux/x86_64": "sha256:d",
	} {
		p, err := ParsePlatform(in)
		if err != nil {
			t.Fatal(err)
		}
		d, err := selectManifest(idx, p)
		if err != nil || string(d.Digest) != want {
			t.Errorf("%s: got %s %v, want %s", in, d.Digest, err, want)
		}
	}
	p, _ := ParsePlatform("linux/s390x")
	if _, err := selectManifest(idx, p); err == nil || err.Error() != "no matching manifest for linux/s390x in the manifest list entries" {
		t.Errorf("s390x: %v", err)
	}
	if _, err := ParsePlatform("windows/amd64"); err == nil {
		t.Error("windows accepted")
	}
}

func TestParseManifestKinds(t *testing.T) {
	for body, want := range map[string]string{
		`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`:                       "index",
		`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{},"layers":[]}`: "manifest",
		`{"schemaVersion":2,"config":{"digest":"sha256:00"},"layers":[]}`:                                                "manifest",
	} {
		_, kind, err := parseManifest([]byte(body), "")
		if err != nil || kind != want {
			t.Errorf("%s: %s %v", body, kind, err)
		}
	}
	if _, _, err := parseManifest([]byte(`{"schemaVersion":1}`), mediaTypeSchema1Signed); err == nil {
		t.Error("schema 1 accepted")
	}
}
