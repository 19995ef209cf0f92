package image

import (
	"encoding/json"
	"net/url"
	"runtime"
	"strings"
	"testing"
)

// Inspect with a platform (API 1.49) answers the image only if it is that
// platform: a store of one platform per image says not-found otherwise,
// with dockerd's text; the platform is OCI JSON, checked as dockerd does.
func TestMiscInspectPlatform(t *testing.T) {
	ref := "misc-inspect-platform:1"
	load(t, ref, false)
	defer d.Docker("rmi", ref)
	inspect := func(version, platform string) (int, string) {
		resp, body := d.Do(t, "GET", "/"+version+"/images/"+ref+"/json?platform="+url.QueryEscape(platform), "")
		return resp.StatusCode, body
	}
	native := `{"os":"linux","architecture":"` + runtime.GOARCH + `"}`
	if code, body := inspect("v1.49", native); code != 200 || !strings.Contains(body, `"Architecture":"`+runtime.GOARCH+`"`) {
		t.Errorf("native platform: %d %s", code, body)
	}
	code, body := inspect("v1.49", `{"os":"windows","architecture":"amd64"}`)
	var e struct{ Message string }
	json.Unmarshal([]byte(body), &e)
	want := "image with reference " + ref + " was found but its platform (linux/" + runtime.GOARCH + ") does not match the specified platform (windows/amd64)"
	if code != 404 || e.Message != want {
		t.Errorf("other platform: %d %q, want 404 %q", code, e.Message, want)
	}
	// Before 1.49 the parameter is not read.
	if code, _ := inspect("v1.48", `{"os":"windows","architecture":"amd64"}`); code != 200 {
		t.Errorf("v1.48 read the platform: %d", code)
	}
	for platform, msg := range map[string]string{
		`{"os":"linux"}`:   "both OS and Architecture must be provided",
		`{"variant":"v8"}`: "optional platform fields provided, but OS and Architecture are missing",
		`linux/amd64`:      "failed to parse platform",
	} {
		code, body := inspect("v1.49", platform)
		if code != 400 || !strings.Contains(body, msg) {
			t.Errorf("platform %s: %d %s, want 400 %q", platform, code, body, msg)
		}
	}
	resp, body := d.Do(t, "GET", "/v1.49/images/"+ref+"/json?manifests=1&platform="+url.QueryEscape(native), "")
	if resp.StatusCode != 400 || !strings.Contains(body, "conflicting options: manifests and platform options cannot both be set") {
		t.Errorf("manifests and platform: %d %s", resp.StatusCode, body)
	}
}

// Import refuses a platform as dockerd does: containerd's parse errors,
// then any operating system but its own.
func TestMiscImportPlatform(t *testing.T) {
	for platform, msg := range map[string]string{
		"       ":     "is an invalid OS component",
		"macos/arm64": "operating system is not supported",
		"nintendo64":  "unknown operating system or architecture",
	} {
		resp, body := d.Do(t, "POST", "/images/create?fromSrc=-&repo=misc-import-platform&tag=x&platform="+url.QueryEscape(platform), "")
		if resp.StatusCode != 400 || !strings.Contains(body, msg) {
			t.Errorf("platform %q: %d %s, want 400 %q", platform, resp.StatusCode, body, msg)
		}
	}
}
