package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/berthd/berth/daemon/config"
)

// --cdi-spec-dir and --feature are read as dockerd reads them, and combine
// with a daemon.json's "features".
func TestCDIFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(file, []byte(`{"features":{"cdi":true}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--config-file", file}, config.DefaultCDISpecDirs},
		{[]string{"--config-file", file, "--cdi-spec-dir=/foo/bar", "--cdi-spec-dir=/baz/qux"}, []string{"/foo/bar", "/baz/qux"}},
		{[]string{"--config-file", file, "--cdi-spec-dir="}, []string{}},
		{[]string{"--config-file", "/dev/null", "--feature", "cdi=false", "--cdi-spec-dir=/foo"}, []string{}},
		{[]string{"--config-file", "/dev/null", "--feature", "cdi"}, config.DefaultCDISpecDirs},
	} {
		fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
		cfg, o := config.Default(), &options{}
		installFlags(fs, cfg, o)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		merged, err := loadConfig(fs, cfg, o)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := merged.CDISpecDirsInUse(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: got %#v, want %#v", tc.args, got, tc.want)
		}
	}
}
