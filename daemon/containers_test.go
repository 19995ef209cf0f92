package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	ctr "github.com/berthd/berth/container"
)

func TestSaveOrLogLogsAFailedSaveWithTheContainer(t *testing.T) {
	// A root below a regular file cannot be created: every save fails.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("f", 64)
	c := ctr.New(id, filepath.Join(file, id))
	hook := logtest.NewGlobal()
	defer logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})

	c.Lock()
	saveOrLog(c)
	c.Unlock()

	e := hook.LastEntry()
	if e == nil || e.Level != logrus.ErrorLevel {
		t.Fatalf("a failed save logged %v, want an error", e)
	}
	if got := e.Data["container"]; got != id[:12] {
		t.Fatalf("logged container=%v, want %s", got, id[:12])
	}
	if e.Data[logrus.ErrorKey] == nil {
		t.Fatal("the save's error is not in the log entry")
	}
}
